"""Bring your own table: the same engine on any feature table, with or without a time column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.training.conftest import fast_settings, marketing_table
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


def test_a_row_order_time_column_is_cut_into_purged_equal_count_periods(tmp_path: Path) -> None:
    # given 2,000 rows in time order whose time column is the row order (each value would be its own period)
    table = marketing_table(2000, seed=1)
    settings = fast_settings(tmp_path, **{"training.trials": 2})
    # when trained with that time column
    result = train_table(table, "y", time_col="t", settings=settings)
    # then 2 folds + 2 purged periods + 2 = 6 equal-count periods, the last one held out, one purged before it
    plan = result.plan
    assert len(plan.periods) == 6 and len(plan.folds) == 2 and plan.gap_periods == 1
    assert plan.holdout_rows == plan.periods[-1].rows == len(result.holdout)
    assert result.holdout["as_of"].min() == plan.periods[-1].first
    assert plan.final_train_dates[-1] == plan.periods[-3].first
    assert "t" not in result.model.feature_names_


def test_a_daily_date_column_takes_the_grain_asked_for(tmp_path: Path) -> None:
    # given a table with a daily date column, as text (as a CSV holds it), rows shuffled
    table = marketing_table(2000, seed=2, dated=True, days=200).sample(frac=1.0, random_state=0)
    settings = fast_settings(tmp_path, **{"training.trials": 2})
    # when trained by month without a purge gap
    result = train_table(table, "y", time_col="t", settings=settings, time_grain="month", purge_periods=0)
    # then the periods are the calendar months in time order, the last month held out
    plan = result.plan
    assert plan.grain == "by month" and plan.gap_periods == 0
    assert [p.first.strftime("%Y-%m") for p in plan.periods][:2] == ["2008-05", "2008-06"]
    assert set(result.holdout["as_of"].str[:7]) == {plan.periods[-1].first.strftime("%Y-%m")}


def test_a_grain_that_cannot_work_fails_before_tuning(tmp_path: Path) -> None:
    table = marketing_table(500, seed=3, dated=True, days=60)
    with pytest.raises(
        TrainingError, match="--time-grain month gives 3 periods; need at least 6: use --time-grain week"
    ):
        train_table(table, "y", time_col="t", settings=fast_settings(tmp_path), time_grain="month")
