"""Bring your own table: the same engine on any feature table, with or without a time column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.training.conftest import fast_settings
from training.byo import train_table
from training.errors import TrainingError


def _table(rows: int = 1500, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    usage = rng.gamma(2.0, 2.0, rows)
    plan = rng.choice(["basic", "plus", "max"], rows)
    logit = -2.5 + 0.5 * usage + (plan == "max") * 1.0
    return pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(rows)],
            "period": rng.integers(1, 9, rows),
            "usage": usage,
            "plan": plan,
            "seats": pd.array(rng.integers(1, 50, rows), dtype="Int64"),
            "bought": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )


def test_without_a_time_column_cv_is_stratified(tmp_path: Path) -> None:
    table = _table()
    result = train_table(table, "bought", id_col="customer", settings=fast_settings(tmp_path))
    assert result.plan.kind == "stratified" and result.plan.holdout_rows == 300
    assert set(result.metrics) == {"xsell", "logistic"}  # no scorecard: it needs xsell features
    assert set(result.metrics["xsell"]) == {"overall"}
    assert result.extra["baselines"]["scorecard"]["applicable"] is False
    assert result.model.categorical_features_ == ["plan"] and "customer" not in result.model.feature_names_
    assert result.metrics["xsell"]["overall"]["roc_auc"] > 0.7
    assert set(result.holdout["account_id"]) <= set(table["customer"])


def test_with_a_time_column_cv_is_time_based_and_the_last_period_is_held_out(tmp_path: Path) -> None:
    result = train_table(_table(), "bought", time_col="period", id_col="customer", settings=fast_settings(tmp_path))
    plan = result.plan
    assert plan.kind == "time" and plan.holdout_dates == (8,) and plan.purge_days == 0
    assert all(max(f.train_dates) < min(f.valid_dates) for f in plan.folds)
    assert "period" not in result.model.feature_names_
    assert set(result.holdout["as_of"]) == {8}


def test_labels_may_be_given_as_values(tmp_path: Path) -> None:
    table = _table(800)
    labels = table.pop("bought").to_numpy()
    result = train_table(table, labels, settings=fast_settings(tmp_path, **{"training.trials": 2}))
    assert result.n_rows == 800  # refit on every row


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "missing"}, "no label column"),
        ({"label": "bought", "time_col": "when"}, "no time column"),
        ({"label": "usage"}, "binary"),
    ],
)
def test_bad_tables_are_refused(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        train_table(_table(200), settings=fast_settings(tmp_path), **kwargs)  # type: ignore[arg-type]
