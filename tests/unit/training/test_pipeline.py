"""train_propensity on a small synthetic frame: the TrainingResult contract registry/ relies on."""

from __future__ import annotations

import json
import pickle
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.api import types as ptypes

from features.store import connect_warehouse
from tests.unit.features.conftest import build_warehouse
from tests.unit.training.conftest import fast_settings
from training.dataset import load_training_frame
from training.errors import TrainingError
from training.pipeline import load_labelled_frame, train_propensity
from training.result import TrainingResult

MODELS = {"xsell", "scorecard", "logistic"}


def test_plan_is_purged_and_the_holdout_never_reaches_tuning(trained: TrainingResult, frame: pd.DataFrame) -> None:
    plan = trained.plan
    horizon = timedelta(days=plan.horizon_days)
    for fold in plan.folds:
        assert all(d + horizon <= fold.valid_dates[0] for d in fold.train_dates)
    tuned = {d for f in plan.folds for d in (*f.train_dates, *f.valid_dates)}
    assert tuned.isdisjoint(plan.holdout_dates)
    assert all(d + horizon <= plan.holdout_dates[0] for d in plan.final_train_dates)
    # the holdout rows are exactly the holdout snapshots' rows, and no out-of-fold row comes from them
    assert set(trained.holdout["as_of"]) == set(plan.holdout_dates)
    assert len(trained.holdout) == int(frame["as_of"].isin(plan.holdout_dates).sum())
    assert set(trained.oof["as_of"]).isdisjoint(plan.holdout_dates)


def test_result_holds_metrics_for_every_model_and_product(trained: TrainingResult) -> None:
    assert set(trained.metrics) == MODELS
    for model in MODELS:
        assert set(trained.metrics[model]) == {"overall", "prod_a", "prod_b"}
        m = trained.metrics[model]["overall"]
        assert {"roc_auc", "pr_auc", "lift_top_decile", "brier", "ece"} <= set(m)
    assert set(trained.deciles["model"]) == MODELS
    assert trained.deciles.groupby(["model", "product"])["decile"].nunique().eq(10).all()
    assert set(trained.segment_metrics["segment"]) == {"smb", "mid_market", "enterprise"}
    assert trained.metrics["xsell"]["overall"]["roc_auc"] > 0.7


def test_calibration_report_and_holdout_frame(trained: TrainingResult) -> None:
    cal = trained.calibration
    assert cal.method in ("isotonic", "platt") and set(cal.candidates) == {"isotonic", "platt"}
    assert set(cal.ece) == {"overall", "prod_a", "prod_b"}
    assert list(cal.reliability.columns) == ["product", "bin", "mean_predicted", "observed_rate", "count"]
    assert trained.model.calibration_method_ == cal.method
    expected = ["account_id", "product", "as_of", "label", "segment", "propensity", "scorecard", "logistic"]
    assert list(trained.holdout.columns[: len(expected)]) == expected
    assert trained.holdout[["propensity", "scorecard", "logistic"]].notna().all().all()


def test_model_boundary_is_plain_and_picklable(trained: TrainingResult) -> None:
    example = trained.input_example
    assert not any(isinstance(t, pd.CategoricalDtype) for t in example.dtypes)
    assert all(ptypes.is_float_dtype(t) or ptypes.is_object_dtype(t) for t in example.dtypes)
    assert set(trained.model.feature_names_) <= set(example.columns) and "product" in example.columns
    model = pickle.loads(pickle.dumps(trained.model))
    assert np.allclose(model.predict_proba(example), trained.model.predict_proba(example))
    assert trained.model.reason_codes(example).shape == (5, 3)


def test_trials_importance_shap_and_extra(trained: TrainingResult) -> None:
    assert len(trained.trials) == 4 and trained.best_params and trained.objective_metric == "pr_auc"
    assert set(trained.feature_importance.columns) == {"feature", "gain", "split"}
    assert list(trained.shap_sample.columns) == trained.model.feature_names_
    assert trained.shap_sample.shape == trained.shap_sample_values.shape
    assert trained.model_layout == "pooled" and len(trained.data_hash) == 64
    extra = trained.extra
    assert extra["refit"]["refit_on_holdout"] is True
    assert extra["imbalance"]["tuned"]["cv_objective"] > 0
    assert extra["baselines"]["scorecard"]["calibration"] in ("isotonic", "platt")
    json.dumps(extra)  # plain values only: the registry logs it as is
    # refit on every labelled row: the returned model's window reaches the holdout
    assert trained.data_window[1] == max(trained.plan.holdout_dates)
    assert trained.n_rows == extra["refit"]["trained_rows"]


def test_per_product_layout_without_refit(frame: pd.DataFrame, tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path, **{"training.model_layout": "per_product", "training.refit_on_holdout": False, "training.trials": 3}
    )
    result = train_propensity(frame, settings)
    assert result.model_layout == "per_product" and set(result.model.boosters_) == {"prod_a", "prod_b"}
    assert result.data_window[1] == max(result.plan.final_train_dates)
    assert set(result.extra["rounds"]) == {"prod_a", "prod_b"}
    assert result.extra["refit"]["refit_on_holdout"] is False


def test_frames_without_keys_or_labels_are_refused(frame: pd.DataFrame, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path)
    with pytest.raises(TrainingError, match="key columns"):
        train_propensity(frame.drop(columns=["as_of"]), settings)
    unlabelled = frame.astype({"label": "Int64"})
    unlabelled.loc[0, "label"] = pd.NA
    with pytest.raises(TrainingError, match="no label"):
        train_propensity(unlabelled, settings)
    with pytest.raises(TrainingError, match="both classes"):
        train_propensity(frame.assign(label=0), settings)


def test_load_labelled_frame_reads_the_homes_training_rows_and_closes(tmp_path: Path) -> None:
    # given a home's warehouse (the hand-made scenario export)
    settings = build_warehouse(tmp_path / "home")
    # when its training rows are loaded as of a date, and after a refused as-of
    frame = load_labelled_frame(settings, date(2025, 9, 30))
    with pytest.raises(TrainingError, match="after the data end"):
        load_labelled_frame(settings, date(2026, 4, 30))
    # then they are `load_training_frame`'s rows, and no connection was left open (a read-only one opens)
    con = connect_warehouse(settings, read_only=True)
    try:
        pd.testing.assert_frame_equal(frame, load_training_frame(con, settings, date(2025, 9, 30)))
    finally:
        con.close()
