"""The scoring API on a tiny real home: a four-account warehouse with one materialised snapshot and a small real
LightGBM model registered twice (v1 champion with a tier policy, v2 challenger without), served by FastAPI's
TestClient: health, model description, scores by account id and by feature rows, 422s naming the field, unknown
ids, the challenger logged off the request path, reloads after an alias move, a failed reload, the admin token."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from factories import ACCOUNT, write_raw
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from deploy.api.app import create_app
from deploy.api.service import ScoringService
from features.build import materialise_snapshot, read_snapshot
from features.store import connect_warehouse
from ingest.pipeline import consolidate_raw
from registry.log_training import log_training
from registry.run_content import ExtraLogs
from serving.model_artifacts import POLICY_ARTIFACT
from serving.tiers import quantile_policy
from tests.unit.registry.conftest import mlflow_env
from tests.unit.registry.factories import TinyPropensityModel, make_feature_rows, make_training_result
from xsell.settings import Settings, load_settings

AS_OF = date(2026, 3, 31)
FAST = {"api.reload_poll_seconds": 0, "api.shadow_flush_seconds": 0.0}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # given a consolidated four-account export with the snapshot of AS_OF materialised
    root = tmp_path_factory.mktemp("api")
    with mlflow_env():
        settings = load_settings(home=root / "home", **{"ingest.gate.enabled": False})
        consolidate_raw(write_raw(root / "raw"), settings)
        con = connect_warehouse(settings)
        try:
            materialise_snapshot(con, AS_OF, settings)
        finally:
            con.close()
        # and a small real model logged twice: v1 (champion) with a tier policy, v2 (challenger) without one
        rows = make_feature_rows(accounts=30)
        result = make_training_result(TinyPropensityModel(random_state=0).fit(rows), rows)
        scores = pd.DataFrame({"product": rows["product"], "propensity": result.model.predict_proba(rows)})
        policy = quantile_policy(scores, settings.serving.tiers)
        log_training(result, settings, trial_runs=False, extra=ExtraLogs(texts={POLICY_ARTIFACT: policy.to_json()}))
        other = make_training_result(TinyPropensityModel(random_state=1).fit(rows), rows)
        log_training(other, settings, trial_runs=False)
    yield settings.home


def _settings(home: Path, **overrides: Any) -> Settings:
    return load_settings(home=home, **{**FAST, **overrides})


@pytest.fixture
def settings(home: Path) -> Iterator[Settings]:
    with mlflow_env():
        yield _settings(home)


@pytest.fixture
def own_home(home: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the home's registry and warehouse (artifacts stay where the original logged them)."""
    with mlflow_env():
        copy = tmp_path / "home"
        copy.mkdir()
        for name in ("mlflow.db", "warehouse.duckdb"):
            shutil.copyfile(home / name, copy / name)
        yield copy


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(ScoringService.load(settings))) as test_client:
        yield test_client


def _snapshot(settings: Settings) -> pd.DataFrame:
    con = connect_warehouse(settings, read_only=True)
    try:
        return read_snapshot(con, AS_OF, settings)
    finally:
        con.close()


def _payload_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame.drop(columns=["label"]).astype(object)
    rows = rows.where(rows.notna(), None)
    rows["as_of"] = rows["as_of"].astype(str)
    return rows.to_dict("records")  # type: ignore[return-value]


def test_health_and_model_describe_what_is_served(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["champion_version"] == 1 and health["snapshot_as_of"] == "2026-03-31"
    described = client.get("/v1/model").json()
    assert described["champion"]["version"] == 1 and described["champion"]["tier_policy"] == "model"
    assert described["champion"]["run_id"] and described["challenger"]["version"] == 2
    assert described["snapshot"]["as_of"] == "2026-03-31" and described["snapshot"]["rows"] > 0
    assert described["loaded_at"] and described["shadow"]["enabled"] is True


def test_score_by_account_ids(client: TestClient, settings: Settings) -> None:
    snapshot = _snapshot(settings)
    account = snapshot["account_id"].iloc[0]
    # when an id is asked in another case, with an unknown one beside it
    response = client.post("/v1/score", json={"account_ids": [account.lower(), "001NOSUCH000000000"]})
    # then the account's every eligible product is scored by the champion, with tier, rank and reasons
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": settings.registry.model_name, "version": 1}
    assert body["unknown_account_ids"] == ["001NOSUCH000000000"]
    scores = body["scores"]
    expected = snapshot[snapshot["account_id"] == account]
    assert sorted(s["product"] for s in scores) == sorted(expected["product"])
    for s in scores:
        assert s["account_id"] == account and s["as_of"] == "2026-03-31"
        assert 0 <= s["propensity"] <= 1 and s["tier"] in ("ready_now", "building", "not_ready")
        assert s["rank"] >= 1 and isinstance(s["reasons"], list) and s["next_product"] in expected["product"].values
    assert "challenger" not in json.dumps(body)


def test_unknown_ids_only_is_404_with_the_ids(client: TestClient) -> None:
    response = client.post("/v1/score", json={"account_ids": ["001NOSUCH000000000"]})
    assert response.status_code == 404
    assert response.json()["detail"]["unknown_account_ids"] == ["001NOSUCH000000000"]


def test_score_by_feature_rows_matches_the_snapshot_scores(client: TestClient, settings: Settings) -> None:
    snapshot = _snapshot(settings)
    by_id = client.post("/v1/score", json={"account_ids": list(snapshot["account_id"].unique())}).json()["scores"]
    # when the same rows are sent as a feature payload
    response = client.post("/v1/score", json={"rows": _payload_rows(snapshot)})
    assert response.status_code == 200, response.text
    by_rows = response.json()["scores"]
    # then the champion gives the same propensities and tiers (no rank outside the snapshot)
    key = lambda s: (s["account_id"], s["product"])  # noqa: E731
    assert [key(s) for s in sorted(by_rows, key=key)] == [key(s) for s in sorted(by_id, key=key)]
    for a, b in zip(sorted(by_rows, key=key), sorted(by_id, key=key), strict=True):
        assert a["propensity"] == pytest.approx(b["propensity"]) and a["tier"] == b["tier"] and a["rank"] is None


def test_partial_feature_rows_score_with_missing_values(client: TestClient) -> None:
    response = client.post(
        "/v1/score", json={"rows": [{"account_id": ACCOUNT["alpha"], "product": "security", "seats": 12}]}
    )
    assert response.status_code == 200, response.text
    [row] = response.json()["scores"]
    assert row["product"] == "security" and row["as_of"] and 0 <= row["propensity"] <= 1


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({}, ["body"]),
        ({"account_ids": ["a"], "rows": [{}]}, ["body"]),
        ({"account_ids": []}, ["body", "account_ids"]),
        ({"account_ids": "001ALPHA0000000001"}, ["body", "account_ids"]),
        ({"account_ids": [str(i) for i in range(101)]}, ["body", "account_ids"]),
        ({"rows": [{"account_id": "a", "product": "security", "seats": "many"}]}, ["body", "rows", 0, "seats"]),
        ({"rows": [{"account_id": "a", "product": "crm"}]}, ["body", "rows", 0, "product"]),
        ({"rows": [{"account_id": "a", "product": "security", "seatz": 3}]}, ["body", "rows", 0, "seatz"]),
        ({"rows": [{"product": "security"}]}, ["body", "rows", 0, "account_id"]),
        ({"rows": [{"account_id": "a", "product": "security", "as_of": "31/03/2026"}]}, ["body", "rows", 0, "as_of"]),
        ({"rows": [{"account_id": "a", "product": "security"}] * 2}, ["body", "rows", 1]),
        ({"unexpected": 1}, ["body", "unexpected"]),
    ],
)
def test_invalid_input_is_422_naming_the_field(client: TestClient, body: dict[str, Any], location: list[Any]) -> None:
    response = client.post("/v1/score", json=body)
    assert response.status_code == 422, response.text
    assert location in [error["loc"] for error in response.json()["detail"]]


def test_challenger_is_scored_off_the_request_path_and_logged(settings: Settings) -> None:
    service = ScoringService.load(settings)
    account = _snapshot(settings)["account_id"].iloc[0]
    payload = [{"account_id": "001NEW000000000001", "product": "analytics", "seats": 40}]
    with TestClient(create_app(service)) as client:
        body = client.post("/v1/score", json={"account_ids": [account]}).json()
        by_rows = client.post("/v1/score", json={"rows": payload}).json()
        assert service.shadow.drain(timeout=30)
        log_file = service.shadow.log_path()
        lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    # then each answered row has a line (ids: challenger scores from load; rows: scored by the worker)
    [live] = [line for line in lines if line["request_id"] == by_rows["request_id"]]
    assert live["challenger_version"] == 2 and 0 <= live["challenger_propensity"] <= 1
    assert live["champion_propensity"] == pytest.approx(by_rows["scores"][0]["propensity"])
    mine = [line for line in lines if line["request_id"] == body["request_id"]]
    assert sorted(line["product"] for line in mine) == sorted(s["product"] for s in body["scores"])
    champion = {s["product"]: s["propensity"] for s in body["scores"]}
    for line in mine:
        assert line["champion_version"] == 1 and line["challenger_version"] == 2 and line["account_id"] == account
        assert line["champion_propensity"] == pytest.approx(champion[line["product"]])
        assert 0 <= line["challenger_propensity"] <= 1


def test_reload_when_the_champion_alias_moves(own_home: Path) -> None:
    settings = _settings(own_home, **{"api.reload_poll_seconds": 0.2})
    with TestClient(create_app(ScoringService.load(settings))) as client:
        assert client.get("/v1/model").json()["champion"]["version"] == 1
        # when the champion alias is moved in MLflow
        MlflowClient(tracking_uri=settings.mlflow_uri).set_registered_model_alias(
            settings.registry.model_name, settings.registry.champion_alias, "2"
        )
        deadline = time.monotonic() + 60
        while client.get("/v1/model").json()["champion"]["version"] != 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        described = client.get("/v1/model").json()
        # then the watcher swapped in v2 (no tier policy logged: top shares), and no challenger differs any more
        assert described["champion"]["version"] == 2 and described["champion"]["tier_policy"] == "top_share"
        assert described["challenger"] is None and described["reloads"] == 1
        assert described["last_reload"]["trigger"] == "alias_moved"
        account = ACCOUNT["alpha"].lower()
        assert client.post("/v1/score", json={"account_ids": [account]}).json()["model"]["version"] == 2


def test_failed_reload_keeps_the_old_state_serving(own_home: Path) -> None:
    settings = _settings(own_home, **{"api.admin_token": "s3cret"})
    with TestClient(create_app(ScoringService.load(settings))) as client:
        (own_home / "warehouse.duckdb").unlink()
        response = client.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"})
        assert response.status_code == 500
        assert "no warehouse" in response.json()["error"]
        described = client.get("/v1/model").json()
        assert described["champion"]["version"] == 1 and described["last_reload_error"]["trigger"] == "admin"
        ok = client.post("/v1/score", json={"account_ids": [ACCOUNT["alpha"]]})
        assert ok.status_code == 200 and ok.json()["model"]["version"] == 1


def test_admin_reload_needs_the_token(own_home: Path) -> None:
    settings = _settings(own_home, **{"api.admin_token": "s3cret"})
    with TestClient(create_app(ScoringService.load(settings))) as client:
        missing = client.post("/v1/admin/reload")
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
        for header in ("Bearer wrong", "s3cret", "Basic s3cret", "Bearer s3cret-and-more", "Bearer "):
            assert client.post("/v1/admin/reload", headers={"Authorization": header}).status_code == 401, header
        assert client.get("/v1/model").json()["reloads"] == 0  # nothing was reloaded by a refused call
        response = client.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"})
        assert response.status_code == 200 and response.json()["reloaded"] is True
        assert response.json()["model"]["reloads"] == 1


def test_admin_endpoints_are_off_without_a_configured_token(own_home: Path) -> None:
    with TestClient(create_app(ScoringService.load(_settings(own_home)))) as client:
        response = client.post("/v1/admin/reload", headers={"Authorization": "Bearer anything"})
        assert response.status_code == 403 and "XSELL_API__ADMIN_TOKEN" in response.json()["detail"]
        assert client.get("/v1/model").json()["reloads"] == 0


def test_admin_token_from_a_private_file_under_home(own_home: Path) -> None:
    from xsell.secret_files import SecretFileError, write_secret

    path = write_secret(own_home, "api_admin_token", "from-file")
    with TestClient(create_app(ScoringService.load(_settings(own_home)))) as client:
        assert client.post("/v1/admin/reload", headers={"Authorization": "Bearer from-file"}).status_code == 200
    # a token file others may read is refused at start, naming the file
    path.chmod(0o644)
    with pytest.raises(SecretFileError, match=r"api_admin_token has mode 0644"):
        create_app(ScoringService.load(_settings(own_home)))


def test_no_champion_fails_at_load_naming_the_alias(tmp_path: Path) -> None:
    from registry.errors import RegistryError

    with mlflow_env(), pytest.raises(RegistryError, match=r"champion|nothing has been registered"):
        ScoringService.load(load_settings(home=tmp_path / "empty"))


def test_precomputed_and_live_account_scores_agree(settings: Settings, home: Path) -> None:
    live = _settings(home, **{"api.precompute": False})
    ids = list(_snapshot(settings)["account_id"].unique())
    _, pre, _ = ScoringService.load(settings).score_accounts(ids)
    _, now, _ = ScoringService.load(live).score_accounts(ids)
    assert [(r["account_id"], r["product"], r["tier"]) for r in pre] == [
        (r["account_id"], r["product"], r["tier"]) for r in now
    ]
    assert np.allclose([r["propensity"] for r in pre], [r["propensity"] for r in now])


# ---- hostile input: every answer a short JSON error, the server never down ----------------------------------------


def _post_raw(client: TestClient, body: str | bytes, **kwargs: Any) -> Any:
    return client.post("/v1/score", content=body, headers={"content-type": "application/json"}, **kwargs)


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("seats", "Infinity", "inf"),
        ("seats", "-Infinity", "-inf"),
        ("seats", "NaN", "nan"),
        ("seats", "1e400", "inf"),
        ("seats", "1" + "0" * 400, "1" + "0" * 63 + "…"),
        ("label", "Infinity", "inf"),
        ("seats", "true", True),
        ("seats", '"12"', "12"),
    ],
)
def test_non_finite_or_non_numeric_feature_values_are_422_naming_the_field(
    client: TestClient, field: str, value: str, shown: Any
) -> None:
    # when a feature value is a number JSON has no word for (Python's parser reads them), too large, or not a number
    body = '{"rows": [{"account_id": "a", "product": "security", "%s": %s}]}' % (field, value)  # noqa: UP031
    response = _post_raw(client, body)
    # then the answer is a 422 naming the field, with the value as text (never a 500, never invalid JSON)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "rows", 0, field] and error["input"] == shown
    assert client.get("/health").status_code == 200


def test_huge_finite_values_score_with_a_reason_never_an_overflow(client: TestClient) -> None:
    row = {"account_id": "a", "product": "security", "seats": 1e308, "usage_velocity_30d": 1000.0}
    response = client.post("/v1/score", json={"rows": [row]})
    assert response.status_code == 200, response.text
    assert 0 <= response.json()["scores"][0]["propensity"] <= 1


@pytest.fixture
def small_body_client(settings: Settings) -> Iterator[TestClient]:
    limited = settings.model_copy(update={"api": settings.api.model_copy(update={"max_body_bytes": 2048})})
    with TestClient(create_app(ScoringService.load(limited))) as test_client:
        yield test_client


def test_bodies_over_the_limit_are_413_unread_with_or_without_a_length(small_body_client: TestClient) -> None:
    big = json.dumps({"account_ids": ["x" * 3000]})
    # a declared length over the limit: refused before any of the body is read
    declared = _post_raw(small_body_client, big)
    assert declared.status_code == 413 and "api.max_body_bytes" in declared.json()["detail"]
    assert "3,0" in declared.json()["detail"]  # the declared size is said

    # a chunked body (no Content-Length): read up to the limit, then refused
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 500):
            yield big[i : i + 500].encode()

    chunked = _post_raw(small_body_client, chunks())
    assert chunked.status_code == 413 and "api.max_body_bytes" in chunked.json()["detail"]
    # a body within the limit reaches the application
    within = small_body_client.post("/v1/score", json={"account_ids": ["001NOSUCH000000000"]})
    assert within.status_code == 404
    assert small_body_client.get("/health").status_code == 200


def test_unknown_ids_are_echoed_cut_to_a_short_prefix(client: TestClient) -> None:
    long_id = "Z" * 100
    response = client.post("/v1/score", json={"account_ids": [long_id]})
    assert response.status_code == 404
    assert response.json()["detail"]["unknown_account_ids"] == ["Z" * 64 + "…"]
    # beside a known id: 200, the unknown one cut the same way
    both = client.post("/v1/score", json={"account_ids": [ACCOUNT["alpha"], long_id]}).json()
    assert both["unknown_account_ids"] == ["Z" * 64 + "…"] and both["scores"]
    # an id over 128 characters is invalid: 422 naming it, its value cut too
    huge = client.post("/v1/score", json={"account_ids": ["Y" * 10_000]})
    assert huge.status_code == 422 and len(huge.text) < 500
    [error] = huge.json()["detail"]
    assert error["loc"] == ["body", "account_ids", 0] and error["input"] == "Y" * 64 + "…"


@pytest.mark.parametrize("body", [{}, {"account_ids": ["a"], "rows": [{"account_id": "a", "product": "security"}]}])
def test_exactly_one_of_account_ids_or_rows(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/v1/score", json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"] and "exactly one of them" in error["msg"]


@pytest.mark.parametrize(
    "body",
    ["{", b'{"account_ids": ["\xff\xfe"]}', "[" * 100_000 + "]" * 100_000],
    ids=["syntax", "not-utf8", "nested-too-deep"],
)
def test_a_body_that_is_not_json_is_400_in_the_error_shape(client: TestClient, body: str | bytes) -> None:
    response = _post_raw(client, body)
    assert response.status_code == 400, response.text
    [error] = response.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body" and "not valid JSON" in error["msg"]


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ('{"account_ids": ["\\ud800"]}', ["body", "account_ids", 0]),
        ('{"rows": [{"account_id": "\\ud800", "product": "security"}]}', ["body", "rows", 0, "account_id"]),
    ],
)
def test_lone_surrogates_are_422_not_a_broken_answer(client: TestClient, body: str, location: list[Any]) -> None:
    response = _post_raw(client, body)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == location


def test_an_unexpected_error_is_a_json_500_and_the_next_request_is_served(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = ScoringService.load(settings)

    def broken(account_ids: Any) -> Any:
        raise RuntimeError("injected fault")

    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        monkeypatch.setattr(service, "score_accounts", broken)
        response = client.post("/v1/score", json={"account_ids": [ACCOUNT["alpha"]]})
        assert response.status_code == 500 and "RuntimeError" in response.json()["detail"]
        monkeypatch.undo()
        assert client.post("/v1/score", json={"account_ids": [ACCOUNT["alpha"]]}).status_code == 200


def test_the_openapi_document_says_exactly_one_shape_and_every_status(client: TestClient, settings: Settings) -> None:
    document = client.get("/openapi.json").json()
    score = document["paths"]["/v1/score"]["post"]
    assert set(score["responses"]) == {"200", "400", "404", "413", "422", "500", "503"}
    admin = document["paths"]["/v1/admin/reload"]["post"]
    assert set(admin["responses"]) >= {"200", "401", "403", "413", "500"} and admin["security"]
    schemas = document["components"]["schemas"]
    assert schemas["ScoreRequest"]["oneOf"] == [
        {"$ref": "#/components/schemas/AccountIdsRequest"},
        {"$ref": "#/components/schemas/FeatureRowsRequest"},
    ]
    ids = schemas["AccountIdsRequest"]
    assert ids["required"] == ["account_ids"] and ids["additionalProperties"] is False
    assert ids["properties"]["account_ids"]["maxItems"] == settings.api.max_accounts
    assert ids["properties"]["account_ids"]["items"]["maxLength"] == 128
    rows = schemas["FeatureRowsRequest"]
    assert rows["required"] == ["rows"] and rows["properties"]["rows"]["maxItems"] == settings.api.max_rows
    row = schemas["FeatureRow"]
    assert row["additionalProperties"] is False and set(row["required"]) == {"account_id", "product"}
    assert "security" in row["properties"]["product"]["enum"] and "seats" in row["properties"]


def test_admin_reload_without_credentials_is_401_even_when_admin_is_off(client: TestClient) -> None:
    response = client.post("/v1/admin/reload")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
