"""Periods of a bring-your-own time column: the unit the time-based CV of `training.byo` splits on.

Each distinct value of the time column as a period works when the values are few (a month index, eight campaign
waves). A row-order column or a daily date does not: each period holds a handful of rows, and a CV validation
period or a holdout with one class only cannot be scored. Such a column is binned into periods:

- numbers and text (ordered as they sort): N equal-count periods; rows sharing a time value never straddle two;
- dates and timestamps (ISO 8601 text is parsed): calendar periods of a grain, day, week (Monday to Sunday),
  month or quarter.

Automatic choice (no grain given): a column of at most `MAX_VALUE_PERIODS` distinct values keeps one period per
value when that plan works; otherwise the coarsest grain that works, for dates quarter, then month, week, day, for
numbers and text the fewest equal-count periods the plan needs. A plan works when it has `cv_folds + 2 * gap + 2`
periods (one to train the first fold, `gap` purged, one validation period per fold, `gap` purged, one holdout) and
every CV validation window and the holdout hold both classes. With many periods each validation window and the
holdout span several: (periods - 2 * gap - 1) // (cv_folds + 2), so the first training window, the folds'
validation windows and the holdout get about equal shares while boundaries and the purge keep the grain's
resolution. Coarse first, because longer periods give steadier
validation metrics and lose fewer rows to the purge.

Purge: rows of period i may train a model validated (or evaluated) from period j only when j - i > gap and
last(i) + purge <= first(j), `purge` being `training.purge_days` (days for dates, the column's own units for
numbers): the snapshot rule D + purge <= V of `training.splits`, applied to whole periods. The default gap is one
period for a binned column (its label horizon is unknown: one period of embargo keeps the rows next to a
validation period out of its training) and none when each value is a period (as before binning existed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from training.errors import TrainingError
from training.result import Period, SplitPlan
from training.splits import FoldRows, assign_rows, plan_time_splits, purge_ok

log = logging.getLogger(__name__)

__all__ = [
    "GRAINS",
    "MAX_VALUE_PERIODS",
    "VALUE",
    "TimeBins",
    "bin_time",
    "parse_grain",
    "plan_periods",
    "time_values",
]

#: Calendar grains of a date column, coarsest first.
GRAINS: tuple[str, ...] = ("quarter", "month", "week", "day")
#: Each distinct value is its own period: the behaviour for coarse time columns.
VALUE = "value"
#: At most this many distinct values: one period per value is tried first.
MAX_VALUE_PERIODS = 24
_FREQ = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q"}
_CV_FOLDS = "training.cv_folds, env XSELL_TRAINING__CV_FOLDS"

Grain = str | int  # VALUE, a calendar grain, or a number of equal-count periods


@dataclass(frozen=True)
class TimeBins:
    """Rows in time order cut into periods: each row's period index (0 = earliest) and the periods."""

    grain: Grain
    period: np.ndarray
    periods: tuple[Period, ...]

    @property
    def label(self) -> str:
        """How the column was cut, as printed in the plan."""
        if self.grain == VALUE:
            return "one per distinct value"
        return "equal-count" if isinstance(self.grain, int) else f"by {self.grain}"

    def keys(self) -> pd.Series:
        """Each row's period key (the period's first time value): the plan's dates."""
        firsts = np.empty(len(self.periods), dtype=object)
        firsts[:] = [p.first for p in self.periods]
        return pd.Series(firsts[self.period])


@dataclass(frozen=True)
class _Attempt:
    """One grain tried: its periods, and the plan and rows when it works, else the problem."""

    bins: TimeBins
    plan: SplitPlan | None = None
    rows: FoldRows | None = None
    problem: str = ""
    purge_short: bool = False  # enough periods, but the purge in time units leaves too few


def parse_grain(text: str | None) -> Grain | None:
    """`--time-grain`: day, week, month, quarter, value, or a number of equal-count periods; None = automatic."""
    if text is None or text.strip().lower() in ("", "auto"):
        return None
    value = text.strip().lower()
    if value in GRAINS or value == VALUE:
        return value
    if value.isdigit() and int(value) >= 2:
        return int(value)
    raise TrainingError(
        f"--time-grain {text!r}: use day, week, month or quarter (dates), a number of equal-count periods (2 or"
        " more), value (each distinct value a period) or auto"
    )


def time_values(values: pd.Series, column: str) -> pd.Series:
    """The time column as values that order in time: numbers, timestamps (ISO text parsed; UTC, naive) or text."""
    missing = int(values.isna().sum())
    if missing:
        raise TrainingError(f"time column {column!r} has {missing:,} missing values")
    if pd.api.types.is_bool_dtype(values):
        raise TrainingError(f"time column {column!r} holds booleans, not times")
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64").reset_index(drop=True)
    text = values.astype(str).reset_index(drop=True)
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        return numbers.astype("float64")
    try:
        return pd.to_datetime(text, format="ISO8601", utc=True).dt.tz_localize(None)
    except (ValueError, TypeError, OverflowError):
        return text  # ordered as text sorts


def _is_date(times: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(times)


def bin_time(times: pd.Series, labels: np.ndarray, grain: Grain) -> TimeBins:
    """Cut time-ordered rows into periods of `grain` (see the module doc) and count rows and positives of each."""
    if len(times) == 0:
        raise TrainingError("no rows to cut into periods")
    values = times.reset_index(drop=True)
    if isinstance(grain, int):
        distinct = pd.factorize(values)[0]
        starts = np.flatnonzero(np.r_[True, distinct[1:] != distinct[:-1]])
        codes = pd.factorize((starts * grain // len(values))[distinct])[0]
    elif grain == VALUE:
        codes = pd.factorize(values)[0]
    else:
        if not _is_date(values):
            raise TrainingError(f"--time-grain {grain} needs dates or timestamps")
        codes = pd.factorize(values.dt.to_period(_FREQ[grain]))[0]
    first_rows = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    last_rows = np.r_[first_rows[1:] - 1, len(codes) - 1]
    rows = np.bincount(codes)
    positives = np.bincount(codes, weights=np.asarray(labels, dtype="float64"))
    periods = tuple(
        Period(first=values.iloc[a], last=values.iloc[b], rows=int(n), positives=int(k))
        for a, b, n, k in zip(first_rows, last_rows, rows, positives, strict=True)
    )
    return TimeBins(grain, codes, periods)


def _may_train(periods: tuple[Period, ...], gap: int, purge: int) -> Callable[[Any, Any], bool]:
    """Rows of the period keyed D may train for the period keyed V: more than `gap` periods apart and purged."""
    index = {p.first: i for i, p in enumerate(periods)}

    def may_train(d: Any, v: Any) -> bool:
        i, j = index[d], index[v]
        return j - i > gap and purge_ok(periods[i].last, periods[j].first, purge)

    return may_train


def _needed(cv_folds: int, gap: int) -> int:
    return cv_folds + 2 * gap + 2


def _window(periods: int, cv_folds: int, gap: int) -> int:
    """Periods per validation window and in the holdout: one, or more when periods are many (the fold windows, the
    holdout and the first training window then get about equal shares)."""
    return max(1, (periods - 2 * gap - 1) // (cv_folds + 2))


def _one_class(plan: SplitPlan, bins: TimeBins) -> str:
    """The first CV validation window or holdout with one class only, named; '' when all have both."""
    name = {p.first: (f"P{i}", p) for i, p in enumerate(bins.periods, start=1)}
    checks = [(f"fold {i}'s validation window", f.valid_dates) for i, f in enumerate(plan.folds, start=1)]
    for role, keys in [*checks, ("the holdout", plan.holdout_dates)]:
        rows = sum(name[k][1].rows for k in keys)
        positives = sum(name[k][1].positives for k in keys)
        if positives == 0 or positives == rows:
            labels = "..".join(dict.fromkeys(name[k][0] for k in (keys[0], keys[-1])))
            kind = "no positive" if positives == 0 else "no negative"
            return f"{role} ({labels}, {rows:,} row{'s' if rows != 1 else ''}) has {kind}"
    return ""


def _attempt(times: pd.Series, labels: np.ndarray, grain: Grain, cv_folds: int, gap: int, purge: int) -> _Attempt:
    bins = bin_time(times, labels, grain)
    n, need = len(bins.periods), _needed(cv_folds, gap)
    try:
        plan = plan_time_splits(
            [p.first for p in bins.periods],
            horizon_days=purge,
            purge_days=purge,
            cv_folds=cv_folds,
            holdout_snapshots=_window(n, cv_folds, gap),
            valid_snapshots=_window(n, cv_folds, gap),
            may_train=_may_train(bins.periods, gap, purge),
        )
    except TrainingError:
        if n >= need:  # enough periods, but the purge in time units skips more of them
            problem = f"{_grain_text(grain)} gives {n} periods, too few for a purge of {purge}"
            return _Attempt(bins, problem=problem, purge_short=True)
        return _Attempt(bins, problem=f"{_grain_text(grain)} gives {n} periods; need at least {need}")
    plan = replace(plan, periods=bins.periods, grain=bins.label, gap_periods=gap)
    problem = _one_class(plan, bins)
    if problem:
        return _Attempt(bins, problem=f"{_grain_text(grain)} gives {n} periods, but {problem}")
    counted, rows = assign_rows(plan, bins.keys(), labels)
    return _Attempt(bins, counted, rows)


def _grain_text(grain: Grain) -> str:
    return f"--time-grain {grain}"


def _candidates(times: pd.Series, cv_folds: int, gap: int | None) -> list[tuple[Grain, int]]:
    """Grains the automatic rule tries, in order, each with its purge gap in periods."""
    binned_gap = 1 if gap is None else gap
    out: list[tuple[Grain, int]] = []
    if times.nunique() <= MAX_VALUE_PERIODS:
        out.append((VALUE, 0 if gap is None else gap))
    if _is_date(times):
        out += [(g, binned_gap) for g in GRAINS]
    else:
        out.append((_needed(cv_folds, binned_gap), binned_gap))
    return out


def _advice(times: pd.Series, labels: np.ndarray, attempt: _Attempt, cv_folds: int, gap: int) -> str:
    """What to change when an explicitly asked grain does not work."""
    need = _needed(cv_folds, gap)
    fewer = f"or fewer CV folds ({_CV_FOLDS}; now {cv_folds})" + (f" or --purge-periods {gap - 1}" if gap else "")
    grain = attempt.bins.grain
    if attempt.purge_short:
        return f"lower training.purge_days, {fewer}"
    if len(attempt.bins.periods) < need:  # too few periods: a finer grain
        if _is_date(times) and grain in GRAINS:
            for finer in GRAINS[GRAINS.index(str(grain)) + 1 :]:
                n = len(bin_time(times, labels, finer).periods)
                if n >= need:
                    return f"use --time-grain {finer} ({n} periods), {fewer}"
        if grain != VALUE and times.nunique() >= need:
            return f"use --time-grain {need} ({need} equal-count periods), {fewer}"
        return f"add rows with later times, {fewer}"
    if _is_date(times) and grain in GRAINS[1:]:  # one class in a period: a coarser grain
        coarser = GRAINS[GRAINS.index(str(grain)) - 1]
        return f"use a coarser --time-grain ({coarser}), {fewer}"
    return f"use fewer, larger periods (leave --time-grain out, or e.g. --time-grain {need}), {fewer}"


def _warn_short_holdout(plan: SplitPlan) -> None:
    """A last period cut short by the end of the data (a calendar grain) can make a small holdout: say so."""
    valid = [f.valid_rows for f in plan.folds]
    if valid and plan.holdout_rows < sum(valid) / len(valid) / 4:
        log.warning(
            "the holdout holds far fewer rows than a validation window (the data end early in its last period):"
            " equal-count periods (--time-grain N) give windows of equal rows",
            extra={"holdout_rows": plan.holdout_rows, "validation_rows": valid, "grain": plan.grain},
        )


def plan_periods(
    times: pd.Series,
    labels: np.ndarray,
    *,
    column: str,
    cv_folds: int,
    purge: int = 0,
    grain: Grain | None = None,
    gap: int | None = None,
) -> tuple[SplitPlan, FoldRows]:
    """Cut time-ordered rows into periods (`grain`, or the automatic rule of the module doc) and plan the purged
    time-based CV and holdout over them; the plan carries the periods, the rows their positions.

    `gap` is the number of whole periods purged before each validation period and the holdout (default: one for a
    binned column, none per distinct value). A TrainingError says what to change when no plan works.
    """
    if purge and not (_is_date(times) or pd.api.types.is_numeric_dtype(times)):
        raise TrainingError(f"time column {column!r} holds text: training.purge_days needs numbers or dates")
    if grain is not None:
        if grain in GRAINS and not _is_date(times):
            raise TrainingError(
                f"time column {column!r} holds {'numbers' if pd.api.types.is_numeric_dtype(times) else 'text'},"
                f" not dates: --time-grain {grain} needs dates (YYYY-MM-DD[ HH:MM:SS]); give a number of"
                " equal-count periods (e.g. --time-grain 8) or leave --time-grain out"
            )
        used_gap = gap if gap is not None else (0 if grain == VALUE else 1)
        attempt = _attempt(times, labels, grain, cv_folds, used_gap, purge)
        if attempt.plan is None or attempt.rows is None:
            advice = _advice(times, labels, attempt, cv_folds, used_gap)
            raise TrainingError(f"time column {column!r}: {attempt.problem}: {advice}")
        _warn_short_holdout(attempt.plan)
        if len(attempt.plan.folds) < cv_folds:
            log.warning(
                "fewer CV folds than configured",
                extra={
                    "configured": cv_folds,
                    "planned": len(attempt.plan.folds),
                    "periods": len(attempt.bins.periods),
                },
            )
        return attempt.plan, attempt.rows
    problems = []
    for candidate, candidate_gap in _candidates(times, cv_folds, gap):
        attempt = _attempt(times, labels, candidate, cv_folds, candidate_gap, purge)
        if attempt.plan is not None and attempt.rows is not None and len(attempt.plan.folds) == cv_folds:
            log.info(
                "time column binned",
                extra={"column": column, "grain": str(candidate), "periods": len(attempt.bins.periods)},
            )
            _warn_short_holdout(attempt.plan)
            return attempt.plan, attempt.rows
        problems.append(attempt.problem or f"{_grain_text(candidate)} gives fewer than {cv_folds} CV folds")
    positives = int(np.sum(labels))
    raise TrainingError(
        f"time column {column!r}: no period grain gives {cv_folds} CV folds and a holdout with both classes in"
        f" every validation period ({'; '.join(problems)}); the table has {len(labels):,} rows and {positives:,}"
        f" positives: add rows, or lower {_CV_FOLDS} (now {cv_folds})"
        + (", or --purge-periods 0" if gap is None or gap > 0 else "")
    )
