"""One realistic training run on a generated export: generate, consolidate, load the labelled snapshots, train.

Checks the plan (purged folds, a holdout tuning never sees), that the tuned model beats the RevOps scorecard and
the logistic regression on the holdout ROC-AUC (and the scorecard on PR-AUC, the logistic within noise), and that
its probabilities are calibrated.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from features.store import connect_warehouse
from ingest.pipeline import consolidate_raw
from synth import generate_raw
from training.dataset import load_training_frame
from training.pipeline import train_propensity
from training.result import TrainingResult
from xsell.settings import Settings, load_settings

ACCOUNTS, SEED, TRIALS = 600, 11, 10


def _settings(home: Path) -> Settings:
    return load_settings(
        home=home,
        **{  # type: ignore[arg-type]
            "ingest.duckdb_memory_limit": "1GB",
            "generator.accounts": ACCOUNTS,
            "training.n_jobs": 1,  # deterministic study (seeded TPE, one worker)
            "training.num_threads": 2,
        },
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, TrainingResult]:
    root = tmp_path_factory.mktemp("training")
    settings = _settings(root / "home")
    generate_raw(root / "raw", settings.generator, SEED)
    consolidate_raw(root / "raw", settings)
    con = connect_warehouse(settings)
    try:
        frame = load_training_frame(con, settings)
    finally:
        con.close()
    return frame, train_propensity(frame, settings, trials=TRIALS)


def test_plan_is_purged_and_the_holdout_is_never_tuned_on(run: tuple[pd.DataFrame, TrainingResult]) -> None:
    frame, result = run
    plan = result.plan
    horizon = timedelta(days=plan.horizon_days)
    assert plan.purge_days >= plan.horizon_days == 90
    for fold in plan.folds:
        assert all(d + horizon <= v for d in fold.train_dates for v in fold.valid_dates)
    assert plan.holdout_dates == tuple(sorted(set(frame["as_of"]))[-3:])
    assert all(d + horizon <= plan.holdout_dates[0] for d in plan.final_train_dates)
    tuned = {d for f in plan.folds for d in (*f.train_dates, *f.valid_dates)}
    assert tuned.isdisjoint(plan.holdout_dates)
    assert result.oof is not None and set(result.oof["as_of"]).isdisjoint(plan.holdout_dates)
    assert len(result.trials) == TRIALS


def test_model_beats_both_baselines_overall_and_is_calibrated(run: tuple[pd.DataFrame, TrainingResult]) -> None:
    _, result = run
    ours = result.metrics["xsell"]["overall"]
    for baseline in ("scorecard", "logistic"):
        assert ours["roc_auc"] > result.metrics[baseline]["overall"]["roc_auc"], baseline
    assert ours["pr_auc"] > result.metrics["scorecard"]["overall"]["pr_auc"]
    # PR-AUC per product's list (what the objective optimises): at this size (~40 holdout positives) a logistic
    # regression is within noise of the model (bench/model_quality.py measures it with bootstrap intervals), so
    # the model must not trail it by more than that noise
    products = [k for k in result.metrics["xsell"] if k != "overall"]
    mean_pr = {m: sum(result.metrics[m][p]["pr_auc"] for p in products) / len(products) for m in ("xsell", "logistic")}
    assert mean_pr["xsell"] > mean_pr["logistic"] - 0.03, mean_pr
    assert result.calibration.ece["overall"] <= 0.02


def test_reason_codes_speak_of_the_row(run: tuple[pd.DataFrame, TrainingResult]) -> None:
    frame, result = run
    rows = frame[frame["as_of"] == result.plan.holdout_dates[-1]].head(50)
    reasons = result.model.reason_codes(rows)
    assert reasons["reason_1"].notna().mean() > 0.9
    products = set(rows["product"])
    assert any(p in text for text in reasons.stack() for p in products)
