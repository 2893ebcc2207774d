"""Split plans: purged expanding folds, a holdout tuning never sees, stratified folds without time."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from features.calendar import snapshot_dates
from training.errors import TrainingError
from training.splits import assign_rows, plan_time_splits, purge_ok, stratified_splits

MONTHS = snapshot_dates("2024-01", "2026-03")  # 27 month ends, the default export's labelled snapshots


def test_folds_are_expanding_and_purged_by_the_horizon() -> None:
    # given 27 month-end snapshots and a 90-day horizon, when planning 3 folds and a 3-snapshot holdout
    plan = plan_time_splits(MONTHS, horizon_days=90, cv_folds=3, holdout_snapshots=3)
    # then there are 3 folds whose training windows grow and always start at the first snapshot
    assert len(plan.folds) == 3
    sizes = [len(f.train_dates) for f in plan.folds]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    assert all(f.train_dates[0] == MONTHS[0] for f in plan.folds)
    # and no training label window (D, D + 90] reaches the validation period: D + 90 <= V for every pair
    for fold in plan.folds:
        assert all(d + timedelta(days=90) <= v for d in fold.train_dates for v in fold.valid_dates)
        assert max(fold.train_dates) < min(fold.valid_dates)
    # and the holdout is the last 3 snapshots, purged from everything the model or tuning trains on
    assert plan.holdout_dates == tuple(MONTHS[-3:])
    assert all(d + timedelta(days=90) <= plan.holdout_dates[0] for d in plan.final_train_dates)
    tuned = {d for f in plan.folds for d in (*f.train_dates, *f.valid_dates)}
    assert tuned.isdisjoint(plan.holdout_dates)
    assert tuned <= set(plan.final_train_dates)
    assert plan.purge_days == 90 and plan.horizon_days == 90


def test_purge_is_exact_whatever_the_month_lengths() -> None:
    # given month ends (28..31 days apart): the purge needs 2 or 3 skipped snapshots depending on the month
    plan = plan_time_splits(MONTHS, horizon_days=90, cv_folds=3, holdout_snapshots=3)
    for fold in plan.folds:
        valid = fold.valid_dates[0]
        # then the last training date is the latest one allowed, not a conservative earlier one
        later = [d for d in MONTHS if fold.train_dates[-1] < d < valid]
        assert all(not purge_ok(d, valid, 90) for d in later)


def test_purge_days_overrides_the_horizon_and_describe_names_it() -> None:
    plan = plan_time_splits(MONTHS, horizon_days=90, purge_days=120, cv_folds=2, holdout_snapshots=2)
    assert plan.purge_days == 120
    for fold in plan.folds:
        assert all(d + timedelta(days=120) <= fold.valid_dates[0] for d in fold.train_dates)
    text = plan.describe()
    assert "2 expanding folds, purge >= 120 days" in text and "never seen by tuning" in text
    assert text.count("fold ") == 2


def test_folds_shrink_when_the_history_is_short() -> None:
    # given only 8 snapshots, when 3 folds of 3 snapshots are asked for, then fewer/smaller folds are planned
    plan = plan_time_splits(MONTHS[:8], horizon_days=90, cv_folds=3, holdout_snapshots=2)
    assert 1 <= len(plan.folds) < 3
    assert all(len(f.valid_dates) >= 1 and f.train_dates for f in plan.folds)


@pytest.mark.parametrize(
    ("dates", "holdout"),
    [(MONTHS[:3], 3), (MONTHS[:4], 1), ([date(2024, 1, 31)], 1)],
)
def test_too_little_history_is_an_error(dates: list[date], holdout: int) -> None:
    with pytest.raises(TrainingError):
        plan_time_splits(dates, horizon_days=90, cv_folds=3, holdout_snapshots=holdout)


def test_numeric_periods_without_purge() -> None:
    # given integer periods (a bring-your-own table) and no purge
    plan = plan_time_splits(list(range(10)), horizon_days=0, purge_days=0, cv_folds=3, holdout_snapshots=1)
    assert plan.holdout_dates == (9,)
    assert [f.valid_dates for f in plan.folds] == [(6,), (7,), (8,)]
    assert [f.train_dates[-1] for f in plan.folds] == [5, 6, 7]


def test_assign_rows_counts_rows_and_positives() -> None:
    plan = plan_time_splits(MONTHS, horizon_days=90, cv_folds=3, holdout_snapshots=3)
    times = pd.Series([d for d in MONTHS for _ in range(4)])
    labels = np.tile([1, 0, 0, 0], len(MONTHS))
    counted, rows = assign_rows(plan, times, labels)
    assert counted.holdout_rows == 12 and counted.holdout_positives == 3
    assert counted.final_train_rows == 4 * len(plan.final_train_dates)
    for fold, (train, valid) in zip(counted.folds, rows.folds, strict=True):
        assert fold.train_rows == len(train) == 4 * len(fold.train_dates)
        assert fold.valid_positives == int(labels[valid].sum())
        assert set(times.iloc[valid]) == set(fold.valid_dates)
    assert set(times.iloc[rows.holdout]) == set(plan.holdout_dates)
    assert len(rows.refit) == len(times)
    assert "rows" in counted.describe()


def test_stratified_splits_hold_out_a_stratified_share() -> None:
    labels = np.array([1] * 50 + [0] * 450)
    plan, rows = stratified_splits(labels, cv_folds=3, holdout_share=0.2, seed=1)
    assert plan.kind == "stratified" and len(plan.folds) == 3
    assert len(rows.holdout) == 100 and labels[rows.holdout].sum() == 10
    assert set(rows.holdout).isdisjoint(rows.final_train)
    for train, valid in rows.folds:
        assert set(train).isdisjoint(valid) and set(valid) <= set(rows.final_train)
    assert "stratified CV: 3 folds" in plan.describe()


def test_stratified_splits_need_both_classes() -> None:
    with pytest.raises(TrainingError, match="two rows of each class"):
        stratified_splits(np.zeros(100, dtype=int), cv_folds=3, holdout_share=0.2, seed=1)
