"""The scoring API on a really trained champion: a generated export trained on twice (tiny trials, tier policies
logged), `xsell serve` started as a process on loopback; account-id answers equal the batch scoring of the same
snapshot, feature rows score, bad input is a 422 naming the field, and the challenger is logged in shadow."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from api_server import served_api, trained_home

from features.store import connect_warehouse, list_snapshots
from serving.batch import publish_scores
from xsell.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    # given a small generated export trained on twice (v1 champion, v2 challenger), each with its tier policy
    with trained_home(tmp_path_factory.mktemp("scoring-api")) as settings:
        yield settings


@pytest.fixture(scope="module")
def server(trained: Settings) -> Iterator[str]:
    env = {"XSELL_API__RELOAD_POLL_SECONDS": "1", "XSELL_API__SHADOW_FLUSH_SECONDS": "0"}
    with served_api(trained, env) as base:
        yield base


def _latest(settings: Settings) -> Any:
    con = connect_warehouse(settings, read_only=True)
    try:
        return pd.Timestamp(list_snapshots(con)["as_of"].max()).date()
    finally:
        con.close()


def test_served_scores_equal_the_batch_scores_of_the_snapshot(trained: Settings, server: str, tmp_path: Path) -> None:
    described = httpx.get(f"{server}/v1/model").json()
    as_of = _latest(trained)
    assert described["snapshot"]["as_of"] == as_of.isoformat()
    assert (described["champion"]["version"], described["challenger"]["version"]) == (1, 2)
    # when a handful of accounts is asked, and the batch run scores the same snapshot
    batch = pd.read_csv(Path(publish_scores(trained, as_of, tmp_path / "scores.csv")["out"]))
    accounts = list(batch["account_id"].drop_duplicates().head(5))
    body = httpx.post(f"{server}/v1/score", json={"account_ids": accounts}).json()
    served = pd.DataFrame(body["scores"]).sort_values(["account_id", "product"]).reset_index(drop=True)
    expected = batch[batch["account_id"].isin(accounts)].sort_values(["account_id", "product"]).reset_index(drop=True)
    # then the API answers exactly what the batch published: propensity, tier, rank, expected value, next product
    assert list(served["product"]) == list(expected["product"])
    assert served["propensity"].round(10).tolist() == expected["propensity"].round(10).tolist()
    for column in ("tier", "rank", "expected_value", "next_product"):
        assert served[column].tolist() == expected[column].tolist(), column
    assert served["reasons"].map(len).gt(0).any()


def test_feature_rows_score_and_bad_rows_name_the_field(trained: Settings, server: str) -> None:
    row = {"account_id": "001NEW000000000001", "product": "analytics", "seats": 25, "feature_share_90d": 0.8}
    response = httpx.post(f"{server}/v1/score", json={"rows": [row]})
    assert response.status_code == 200, response.text
    assert 0 <= response.json()["scores"][0]["propensity"] <= 1
    bad = httpx.post(f"{server}/v1/score", json={"rows": [{**row, "seats": "lots"}]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "rows", 0, "seats"]


def test_challenger_is_logged_under_home_never_returned(trained: Settings, server: str) -> None:
    described = httpx.get(f"{server}/v1/model").json()
    assert described["shadow"]["running"] and described["shadow"]["enabled"]
    con = connect_warehouse(trained, read_only=True)
    try:
        account_id = con.execute(
            "SELECT min(account_id) FROM features.snapshot_rows"
            " WHERE as_of = (SELECT max(as_of) FROM features.snapshot_rows)"
        ).fetchall()[0][0]
    finally:
        con.close()
    body = httpx.post(f"{server}/v1/score", json={"account_ids": [account_id]}).json()
    assert "challenger" not in json.dumps(body)
    deadline, mine = time.monotonic() + 30, []
    while time.monotonic() < deadline and not mine:
        time.sleep(0.5)
        lines = [
            json.loads(x) for f in (trained.home / "serving").glob("shadow-*.jsonl") for x in f.read_text().splitlines()
        ]
        mine = [line for line in lines if line["request_id"] == body["request_id"]]
    assert mine and {line["challenger_version"] for line in mine} == {2}
