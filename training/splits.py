"""Split plans: expanding-window time-based CV with a purge gap and a final holdout, or stratified K-fold.

A training snapshot D may be used to validate (or evaluate) at V only if D + purge <= V, with purge >= the label
horizon by default: no training label window (D, D + H] reaches into the validation period. Folds come from
scikit-learn's `TimeSeriesSplit` over the sorted unique as-of dates, with `gap` = the number of snapshots that fall
inside the purge window at the least; each fold then drops any training date still within the purge of its first
validation date (month lengths vary), so every fold satisfies D + purge <= V exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from training.errors import TrainingError
from training.result import Fold, SplitPlan

__all__ = ["FoldRows", "assign_rows", "plan_time_splits", "purge_ok", "stratified_splits"]


@dataclass(frozen=True)
class FoldRows:
    """Row positions (into the training frame) of one plan: CV folds, the final training set and the holdout."""

    folds: tuple[tuple[np.ndarray, np.ndarray], ...]  # (train, valid) per fold
    final_train: np.ndarray
    holdout: np.ndarray
    refit: np.ndarray  # every labelled row: what a refit after evaluation trains on


def _shift(value: Any, days: int) -> Any:
    """`value` + `days`: calendar days for dates and timestamps, plain units for numbers (any value + 0 is itself)."""
    if days == 0:
        return value
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value) + pd.Timedelta(days=days)
    if isinstance(value, (date, datetime)):
        return value + timedelta(days=days)
    return value + days


def purge_ok(train_date: Any, valid_date: Any, purge_days: int) -> bool:
    """True when a row of `train_date` may train a model validated at `valid_date` (D + purge <= V)."""
    return bool(_shift(train_date, purge_days) <= valid_date)


def _gap(dates: Sequence[Any], may_train: Callable[[Any, Any], bool]) -> int:
    """Fewest snapshots inside any date's purge window: the `gap` of `TimeSeriesSplit` (month lengths vary, so a
    fold may still have to drop its last training date; `plan_time_splits` does that exactly)."""
    counts = [
        sum(1 for v in dates[i + 1 :] if not may_train(d, v))
        for i, d in enumerate(dates)
        if any(may_train(d, v) for v in dates[i + 1 :])
    ]
    return min(counts, default=0)


def plan_time_splits(
    dates: Sequence[Any],
    *,
    horizon_days: int,
    purge_days: int | None = None,
    cv_folds: int = 3,
    holdout_snapshots: int = 3,
    valid_snapshots: int | None = None,
    may_train: Callable[[Any, Any], bool] | None = None,
) -> SplitPlan:
    """Expanding-window folds over the sorted unique `dates`, purged, and the final holdout (the latest snapshots).

    The holdout is the last `holdout_snapshots` dates; the final model (and every fold) trains only on dates D
    with D + purge <= the first holdout date. Each fold validates on `valid_snapshots` consecutive dates (default:
    as many as the holdout); `cv_folds` is reduced (with a warning in the plan's caller) when the dates do not allow
    it, and a plan without any fold is a `TrainingError`. `may_train(D, V)` (default `purge_ok` with the purge) says
    whether rows of date D may train a model validated (or evaluated) from date V: binned periods pass their own.
    """
    from sklearn.model_selection import (  # heavy: imported on first use, not at start-up
        TimeSeriesSplit,
    )

    purge = horizon_days if purge_days is None else purge_days
    allowed = may_train or (lambda d, v: purge_ok(d, v, purge))
    unique = sorted(set(dates))
    if holdout_snapshots < 1:
        raise TrainingError("training.holdout_snapshots must be at least 1")
    if len(unique) <= holdout_snapshots:
        raise TrainingError(
            f"{len(unique)} labelled snapshots cannot hold a holdout of {holdout_snapshots} and training data:"
            " build more snapshots or lower training.holdout_snapshots"
        )
    holdout = unique[-holdout_snapshots:]
    pool = [d for d in unique[:-holdout_snapshots] if allowed(d, holdout[0])]
    if not pool:
        raise TrainingError(
            f"no snapshot before the holdout ({holdout[0]}) is at least {purge} days earlier: build earlier snapshots"
        )
    gap = _gap(pool, allowed)
    size = valid_snapshots or holdout_snapshots
    folds = cv_folds
    while folds >= 1 and len(pool) < folds * size + gap + 1:
        if size > 1:
            size -= 1
        else:
            folds -= 1
    if folds < 1:
        raise TrainingError(
            f"{len(pool)} snapshots before the holdout (purge gap {gap} snapshots) leave no room for a CV fold:"
            " build more snapshots, or lower training.holdout_snapshots or training.purge_days"
        )
    positions = np.arange(len(pool))
    if folds == 1:  # TimeSeriesSplit needs two splits at least: the one fold is the last validation window
        splits = [(positions[: len(pool) - size - gap], positions[len(pool) - size :])]
    else:
        splits = list(TimeSeriesSplit(n_splits=folds, test_size=size, gap=gap).split(positions))
    out = []
    for train_pos, valid_pos in splits:
        valid = tuple(pool[i] for i in valid_pos)
        train = tuple(pool[i] for i in train_pos if allowed(pool[i], valid[0]))
        if not train:
            raise TrainingError(f"the fold validating at {valid[0]} has no training snapshot outside the purge")
        out.append(Fold(train_dates=train, valid_dates=valid))
    return SplitPlan(
        folds=tuple(out),
        holdout_dates=tuple(holdout),
        final_train_dates=tuple(pool),
        purge_days=purge,
        horizon_days=horizon_days,
    )


def assign_rows(plan: SplitPlan, times: pd.Series, labels: np.ndarray) -> tuple[SplitPlan, FoldRows]:
    """Row positions of each fold, the final training set and the holdout, by the rows' as-of date.

    Returns the plan with row and positive counts filled in, and the positions.
    """
    values = times.to_numpy()

    def rows_of(dates: tuple[Any, ...]) -> np.ndarray:
        return np.flatnonzero(pd.Series(values).isin(list(dates)).to_numpy())

    folds, rows = [], []
    for fold in plan.folds:
        train, valid = rows_of(fold.train_dates), rows_of(fold.valid_dates)
        rows.append((train, valid))
        folds.append(
            replace(fold, train_rows=len(train), valid_rows=len(valid), valid_positives=int(labels[valid].sum()))
        )
    final, holdout = rows_of(plan.final_train_dates), rows_of(plan.holdout_dates)
    counted = replace(
        plan,
        folds=tuple(folds),
        final_train_rows=len(final),
        holdout_rows=len(holdout),
        holdout_positives=int(labels[holdout].sum()),
    )
    return counted, FoldRows(tuple(rows), final, holdout, np.arange(len(values)))


def stratified_splits(
    labels: np.ndarray, *, cv_folds: int, holdout_share: float, seed: int
) -> tuple[SplitPlan, FoldRows]:
    """No time column: a stratified holdout (`holdout_share` of the rows), then stratified K-fold on the rest."""
    from sklearn.model_selection import (  # heavy: imported on first use, not at start-up
        StratifiedKFold,
        train_test_split,
    )

    n = len(labels)
    positions = np.arange(n)
    if labels.sum() < 2 or (n - labels.sum()) < 2:
        raise TrainingError("the label needs at least two rows of each class")
    rest, holdout = train_test_split(positions, test_size=holdout_share, stratify=labels, random_state=seed)
    rest, holdout = np.sort(rest), np.sort(holdout)
    k = max(2, cv_folds)
    minority = int(min(labels[rest].sum(), len(rest) - labels[rest].sum()))
    if minority < k:
        raise TrainingError(f"{minority} rows of the rarer class outside the holdout cannot fill {k} stratified folds")
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    rows, folds = [], []
    for train_pos, valid_pos in splitter.split(rest, labels[rest]):
        train, valid = rest[train_pos], rest[valid_pos]
        rows.append((train, valid))
        folds.append(
            Fold(
                train_dates=(),
                valid_dates=(),
                train_rows=len(train),
                valid_rows=len(valid),
                valid_positives=int(labels[valid].sum()),
            )
        )
    plan = SplitPlan(
        folds=tuple(folds),
        holdout_dates=(),
        final_train_dates=(),
        purge_days=0,
        horizon_days=0,
        kind="stratified",
        final_train_rows=len(rest),
        holdout_rows=len(holdout),
        holdout_positives=int(labels[holdout].sum()),
    )
    return plan, FoldRows(tuple(rows), rest, holdout, positions)
