"""Real training, registry and batch scoring: a generated export is trained on twice (tiny trials, tier policy
logged with each model), then `xsell score` publishes the champion's scores with tiers, CRM file and alerts, and
shadow-scores the challenger; reruns are idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from factories import generated_home, run_xsell
from mlflow import MlflowClient

from features.build import read_snapshot
from features.store import connect_warehouse
from registry.log_training import log_training
from registry.models import RegisteredModel
from serving.batch import prepare_scoring, publish_scored, publish_scores, score_rows, shadow_scores
from serving.model_artifacts import POLICY_ARTIFACT, serving_artifacts
from serving.publish import PUBLIC_COLUMNS
from serving.shadow import shadow_experiment, shadow_run_count
from serving.store import SCORES, SHADOW_SCORES, shadow_runs
from serving.tiers import TierPolicy
from training.dataset import load_training_frame
from training.pipeline import train_propensity
from xsell.settings import Settings

pytestmark = pytest.mark.slow

AS_OF = date(2025, 9, 30)  # labels mature by the data end (2025-12-31): realised metrics right away
LATER = date(2025, 10, 31)

Trained = tuple[Settings, RegisteredModel, RegisteredModel]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    # given a small generated export, consolidated, trained on twice with different seeds (tier policy logged)
    overrides: dict[str, Any] = {
        "training.trials": 2,
        "training.n_jobs": 1,
        "training.num_threads": 2,
        "serving.tiers.min_tier_rows": 5,
        "serving.tiers.min_positives": 3,
    }
    with generated_home(tmp_path_factory.mktemp("scoring-publish"), **overrides) as settings:
        con = connect_warehouse(settings)
        try:
            frame = load_training_frame(con, settings)
        finally:
            con.close()
        registered = []
        for seed in (1, 2):
            seeded = settings.model_copy(update={"seed": seed})
            result = train_propensity(frame, seeded)
            extra = serving_artifacts(result, seeded)
            registered.append(log_training(result, seeded, reason=f"integration seed {seed}", extra=extra))
        yield settings, registered[0], registered[1]


def test_each_model_carries_a_tier_policy_and_adoption_path(trained: Trained) -> None:
    settings, first, second = trained
    client = MlflowClient(tracking_uri=settings.mlflow_uri)
    for model in (first, second):
        names = {a.path for folder in ("tiers", "adoption") for a in client.list_artifacts(model.run_id, folder)}
        assert {
            POLICY_ARTIFACT,
            "tiers/tier_table.csv",
            "adoption/adoption_path.csv",
            "adoption/adoption_path.md",
        } <= names
        mlflow.set_tracking_uri(settings.mlflow_uri)
        policy = TierPolicy.from_json(mlflow.artifacts.load_text(f"runs:/{model.run_id}/{POLICY_ARTIFACT}"))
        assert policy.chosen_on["rows"] > 0 and policy.cutoffs
        table = pd.read_csv(mlflow.artifacts.download_artifacts(f"runs:/{model.run_id}/tiers/tier_table.csv"))
        overall = table[(table["product"] == "overall") & (table["rows"] > 0)].set_index("tier")
        assert overall["rows"].sum() == policy.chosen_on["rows"]
        assert client.get_run(model.run_id).data.tags["tiers.falling_conversion"] in ("yes", "no")


def test_score_command_publishes_tiers_crm_alerts_and_a_shadow_run(trained: Trained, tmp_path: Path) -> None:
    settings, first, second = trained
    out = tmp_path / "scores.csv"
    # when the champion scores through the CLI
    done = run_xsell("score", "--as-of", AS_OF.isoformat(), "--out", str(out), home=settings.home, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    scores = pd.read_csv(out)
    # then the public columns, in order, for exactly the eligible pairs of the snapshot
    assert list(scores.columns) == list(PUBLIC_COLUMNS)
    con = connect_warehouse(settings, read_only=True)
    try:
        eligible = read_snapshot(con, AS_OF, settings)
        stored = con.execute(f"SELECT count(*) FROM {SCORES} WHERE as_of = ?", [AS_OF]).fetchall()[0][0]
        shadow_rows = con.execute(f"SELECT count(*) FROM {SHADOW_SCORES}").fetchall()[0][0]
    finally:
        con.close()
    pairs = set(zip(scores["account_id"], scores["product"], strict=True))
    assert pairs == set(zip(eligible["account_id"], eligible["product"], strict=True)) and len(scores) == len(pairs)
    assert set(scores["tier"]) <= {"ready_now", "building", "not_ready"}
    assert (scores["model_version"] == first.version).all()
    for _, part in scores.groupby("product"):
        assert sorted(part["rank"]) == list(range(1, len(part) + 1))
        top = part.sort_values("rank")["propensity"].to_numpy()
        assert (top[:-1] >= top[1:]).all()
    assert scores["next_product"].notna().all() and scores["reason_1"].notna().any()
    # the CRM file holds one object per account, the alerts every ready_now pair (first run)
    crm = [json.loads(line) for line in out.with_name("scores.crm.jsonl").read_text().splitlines()]
    assert sorted(r["account_id"] for r in crm) == sorted(scores["account_id"].unique())
    alerts = pd.read_csv(out.with_name("scores.alerts.csv"))
    assert len(alerts) == (scores["tier"] == "ready_now").sum()
    # the challenger was scored in shadow, stored (never published) and compared, realised metrics filled
    assert stored == len(scores) and shadow_rows == len(scores)
    runs = shadow_runs_frame(settings)
    assert runs[["champion_version", "challenger_version"]].values.tolist() == [[first.version, second.version]]
    run = runs.iloc[0]
    assert -1 <= run["spearman"] <= 1 and 0 <= run["top_decile_overlap"] <= 1 and run["psi"] >= 0
    assert run["labelled_rows"] == len(scores)
    assert shadow_run_count(settings, second.version) == 1
    client = MlflowClient(tracking_uri=settings.mlflow_uri)
    logged = client.get_run(run["mlflow_run_id"])
    assert client.get_experiment(logged.info.experiment_id).name == shadow_experiment(settings)
    assert logged.data.tags["challenger_version"] == str(second.version)
    assert {"psi", "ks", "spearman", "top_decile_overlap"} <= set(logged.data.metrics)
    assert any(k.startswith("realised/") for k in logged.data.metrics)


def shadow_runs_frame(settings: Settings) -> pd.DataFrame:
    con = connect_warehouse(settings, read_only=True)
    try:
        return shadow_runs(con)
    finally:
        con.close()


def test_reruns_are_idempotent_and_alerts_follow_the_previous_run(trained: Trained, tmp_path: Path) -> None:
    settings, _, second = trained
    # when the same date is scored twice and a later date once
    one = publish_scores(settings, AS_OF, tmp_path / "a.parquet")
    two = publish_scores(settings, AS_OF, tmp_path / "b.parquet")
    prepared = prepare_scoring(settings, LATER, tmp_path / "later.csv")
    scored = score_rows(prepared.loaded, prepared.rows)
    later = publish_scored(settings, prepared, scored, tmp_path / "later.csv")
    shadow_scores(settings, prepared, scored)
    # then the files and stored rows are the same, and the later alerts compare with the earlier date
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert one["rows"] == two["rows"]
    assert later["previous_as_of"] == AS_OF.isoformat()
    alerts = pd.read_csv(tmp_path / "later.alerts.csv")
    assert (alerts["previous_tier"].fillna("") != "ready_now").all()
    assert shadow_run_count(settings, second.version) == 2


def test_bad_output_format_is_refused(trained: Trained, tmp_path: Path) -> None:
    settings, *_ = trained
    from serving.scoring import ScoringError

    with pytest.raises(ScoringError, match=r"scores\.txt"):
        publish_scores(settings, AS_OF, tmp_path / "scores.txt")
