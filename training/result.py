"""What a training run produces: the contract between training/ (which fills it) and registry/ (which logs it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import numpy as np
import pandas as pd


class FittedPropensityModel(Protocol):
    """A fitted, picklable scorer: preprocessing, LightGBM and calibration in one object.

    It maps feature rows (a DataFrame holding at least `feature_names_`; key columns ignored) to calibrated
    conversion probabilities; it is exactly what the MLflow pyfunc wraps and what scoring uses.
    """

    feature_names_: list[str]
    categorical_features_: list[str]
    products_: list[str]
    calibration_method_: str

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of conversion within the horizon, one per row."""
        ...

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-row SHAP contributions (log-odds) of each input feature, columns = `feature_names_`."""
        ...

    def reason_codes(self, frame: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """Columns `reason_1..reason_top`: plain-language sentences for the top positive contributions."""
        ...


@dataclass(frozen=True)
class Fold:
    """One time-based split: train on these as-of dates, validate on those."""

    train_dates: tuple[date, ...]
    valid_dates: tuple[date, ...]
    train_rows: int = 0  # filled once rows are assigned (0: not known)
    valid_rows: int = 0
    valid_positives: int = 0


@dataclass(frozen=True)
class Period:
    """One period of a binned time column (bring-your-own tables): its first and last time value, rows, positives."""

    first: Any  # the period's key in the plan's dates
    last: Any
    rows: int
    positives: int


@dataclass(frozen=True)
class SplitPlan:
    """Expanding-window CV folds with a purge gap, and the final holdout tuning never sees."""

    folds: tuple[Fold, ...]
    holdout_dates: tuple[date, ...]
    final_train_dates: tuple[date, ...]  # what the model evaluated on the holdout was trained on
    purge_days: int
    horizon_days: int
    kind: str = "time"  # "time": expanding windows over as-of dates; "stratified": K-fold over rows (no time column)
    final_train_rows: int = 0  # filled once rows are assigned (0: not known)
    holdout_rows: int = 0
    holdout_positives: int = 0
    # a binned time column (bring-your-own tables): the plan's dates are the periods' first values
    periods: tuple[Period, ...] = ()
    grain: str = ""  # how the time column was cut: "value", "day".."quarter", "N equal-count"
    gap_periods: int = 0  # whole periods left out between training and each validation period / the holdout

    def describe(self) -> str:
        """Human-readable plan, printed and logged."""
        if self.periods:
            return _describe_periods(self)
        if self.kind == "stratified":
            lines = [f"stratified CV: {len(self.folds)} folds over rows (no time column)"]
            for i, fold in enumerate(self.folds, start=1):
                lines.append(f"  fold {i}: train {fold.train_rows:,} rows -> validate {_rows(fold)}")
            lines.append(
                f"  holdout: train {self.final_train_rows:,} rows -> evaluate a stratified "
                f"{self.holdout_rows:,} rows, {self.holdout_positives:,} positives (never seen by tuning)"
            )
            return "\n".join(lines)
        lines = [f"time-based CV: {len(self.folds)} expanding folds, purge >= {self.purge_days} days"]
        for i, fold in enumerate(self.folds, start=1):
            lines.append(
                f"  fold {i}: train {fold.train_dates[0]}..{fold.train_dates[-1]} ({len(fold.train_dates)} snapshots)"
                f" -> validate {fold.valid_dates[0]}..{fold.valid_dates[-1]}"
                + (f" ({fold.train_rows:,} -> {_rows(fold)})" if fold.train_rows else "")
            )
        lines.append(
            f"  holdout: train {self.final_train_dates[0]}..{self.final_train_dates[-1]} -> "
            f"evaluate {self.holdout_dates[0]}..{self.holdout_dates[-1]} (never seen by tuning)"
            + (
                f" ({self.final_train_rows:,} -> {self.holdout_rows:,} rows, {self.holdout_positives:,} positives)"
                if self.holdout_rows
                else ""
            )
        )
        return "\n".join(lines)


def _rows(fold: Fold) -> str:
    return f"{fold.valid_rows:,} rows, {fold.valid_positives:,} positives"


#: More periods than this are printed as runs of consecutive periods with the same roles.
MAX_PERIOD_ROWS = 30


def _text(value: Any) -> str:
    """A time value as printed: midnight timestamps as their day."""
    if hasattr(value, "isoformat"):
        if getattr(value, "hour", 0) == getattr(value, "minute", 0) == getattr(value, "second", 0) == 0:
            return value.date().isoformat() if hasattr(value, "date") else value.isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.6g}"
    return str(value)


def _roles(plan: SplitPlan, first: Any) -> list[str]:
    """One cell per fold and the final model: T trains, V validates, H holdout, g purged (gap), . unused."""
    cells = []
    windows = [(f.train_dates, f.valid_dates) for f in plan.folds] + [(plan.final_train_dates, plan.holdout_dates)]
    for train, valid in windows:
        if first in train:
            cells.append("T")
        elif first in valid:
            cells.append("H" if valid is plan.holdout_dates else "V")
        elif train and max(train) < first < min(valid):
            cells.append("g")
        else:
            cells.append(".")
    return cells


def _describe_periods(plan: SplitPlan) -> str:
    """The periods table of a binned time column: bounds, rows, positives, and each one's role per fold."""
    label = {p.first: f"P{i}" for i, p in enumerate(plan.periods, start=1)}
    gap = f"{plan.gap_periods} period{'s' if plan.gap_periods != 1 else ''}"
    purge = f" and >= {plan.purge_days} time units" if plan.purge_days else ""
    firsts, lasts = [_text(p.first) for p in plan.periods], [_text(p.last) for p in plan.periods]
    width = max(5, *map(len, firsts), *map(len, lasts))
    folds = " ".join(f"f{i}" for i in range(1, len(plan.folds) + 1))
    lines = [
        f"time-based CV: {len(plan.folds)} expanding folds over {len(plan.periods)} periods ({plan.grain}),"
        f" purge gap {gap}{purge}",
        "  T train, V validate, g purged, H holdout (final: the model evaluated on the holdout)",
        f"  {'period':<6} {'first':>{width}} {'last':>{width}} {'rows':>8} {'positives':>9}  {folds} final",
    ]
    runs: list[tuple[list[int], list[str]]] = []  # consecutive periods with the same roles (one row each if few)
    for i, p in enumerate(plan.periods):
        cells = _roles(plan, p.first)
        if runs and len(plan.periods) > MAX_PERIOD_ROWS and runs[-1][1] == cells:
            runs[-1][0].append(i)
        else:
            runs.append(([i], cells))
    name_width = max(6, *(len(f"P{r[0] + 1}..P{r[-1] + 1}") for r, _ in runs))
    lines[-1] = lines[-1].replace(f"{'period':<6}", f"{'period':<{name_width}}")
    for members, cells in runs:
        a, b = plan.periods[members[0]], plan.periods[members[-1]]
        name = "..".join(dict.fromkeys((label[a.first], label[b.first])))
        rows = sum(plan.periods[i].rows for i in members)
        positives = sum(plan.periods[i].positives for i in members)
        lines.append(
            f"  {name:<{name_width}} {firsts[members[0]]:>{width}} {lasts[members[-1]]:>{width}} {rows:>8,}"
            f" {positives:>9,}  " + " ".join(f"{c:>2}" for c in cells[:-1]) + f" {cells[-1]:>5}"
        )

    def span(keys: tuple[Any, ...]) -> str:
        return "..".join(dict.fromkeys((label[keys[0]], label[keys[-1]])))

    for i, fold in enumerate(plan.folds, start=1):
        lines.append(
            f"  fold {i}: train {span(fold.train_dates)} ({fold.train_rows:,} rows) -> validate"
            f" {span(fold.valid_dates)} ({_rows(fold)})"
        )
    lines.append(
        f"  holdout: train {span(plan.final_train_dates)} ({plan.final_train_rows:,} rows) -> evaluate"
        f" {span(plan.holdout_dates)} ({plan.holdout_rows:,} rows, {plan.holdout_positives:,} positives)"
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class CalibrationReport:
    """Calibration chosen on out-of-time predictions, and its reliability on the holdout."""

    method: str  # "isotonic" or "platt"
    candidates: dict[str, float]  # method -> ECE on out-of-time (out-of-fold) predictions
    ece: dict[str, float]  # holdout ECE per product and "overall"
    reliability: pd.DataFrame  # columns: product, bin, mean_predicted, observed_rate, count


@dataclass(frozen=True)
class TrainingResult:
    """Everything registry/ needs to log, register and describe a model."""

    model: FittedPropensityModel
    plan: SplitPlan
    best_params: dict[str, Any]
    best_value: float  # mean CV objective of the best trial
    objective_metric: str
    trials: pd.DataFrame  # one row per trial: number, state, value, duration_s, params_*
    holdout: pd.DataFrame  # account_id, product, as_of, label, segment, propensity, scorecard, logistic
    metrics: dict[
        str, dict[str, dict[str, float]]
    ]  # model ("xsell", "scorecard", "logistic") -> product|"overall" -> metric
    deciles: pd.DataFrame  # model, product, decile (1 = highest scores), rows, positives, conversion_rate
    segment_metrics: pd.DataFrame  # model, segment, rows, positives, roc_auc, pr_auc
    calibration: CalibrationReport
    feature_importance: pd.DataFrame  # feature, gain, split
    shap_sample: pd.DataFrame  # contributions of a holdout sample (columns = features) for the SHAP summary
    shap_sample_values: pd.DataFrame  # the matching feature values
    data_window: tuple[date, date]  # first and last as-of date used for training
    data_hash: str  # sha256 of the training rows (keys, label and features)
    n_rows: int
    n_positives: int
    model_layout: str  # "pooled" or "per_product"
    input_example: pd.DataFrame  # a few feature rows, model inputs only
    extra: dict[str, Any] = field(default_factory=dict)  # plain JSON-able values (numbers, strings, lists, dicts)
    # CV out-of-fold predictions of the best parameters (the calibration rows): account_id, product, as_of, label,
    # fold, raw_score (log-odds), propensity (calibrated in-sample: for audit, not for evaluation)
    oof: pd.DataFrame | None = None
