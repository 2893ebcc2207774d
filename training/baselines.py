"""Baselines evaluated on the same holdout: the RevOps points scorecard and a logistic regression.

The scorecard is the one RevOps uses today (points per rule, summed). Its points become probabilities through the
same calibration approach as the model (method chosen by cross-fitted ECE, fitted on the training rows), so its
Brier score and ECE are comparable. The logistic regression is fitted on the same training rows as the model:
numeric inputs median-imputed (with missing indicators) and standardised, categoricals one-hot encoded.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from training.encoding import to_float

__all__ = ["SCORECARD", "ScorecardRule", "fit_logistic", "scorecard_missing", "scorecard_points"]


@dataclass(frozen=True)
class ScorecardRule:
    """One scorecard line: `points` when `feature <op> threshold` holds (a missing value scores nothing)."""

    feature: str
    op: str
    threshold: float
    points: int
    rule: str


_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
}

#: The RevOps scorecard, line by line (features from `features/catalog.py`).
SCORECARD: tuple[ScorecardRule, ...] = (
    ScorecardRule("seat_activation_30d", ">", 0.5, 20, "active users > 50% of seats"),
    ScorecardRule("nps_mean_180d", ">=", 8, 15, "mean NPS of the last 180 days >= 8"),
    ScorecardRule("tenure_months", ">", 6, 10, "tenure > 6 months"),
    ScorecardRule("tickets_90d", "<", 3, 10, "fewer than 3 tickets in 90 days"),
    ScorecardRule("employee_growth_180d", ">", 0, 10, "employee count grew over 180 days"),
    ScorecardRule("signal_events_30d", ">", 0, 15, "use of features that signal the product in the last 30 days"),
    ScorecardRule("months_to_renewal", ">", 6, 10, "more than 6 months to the primary renewal"),
)


def scorecard_missing(columns: list[str] | pd.Index) -> list[str]:
    """Scorecard features absent from `columns` (empty: the scorecard applies)."""
    present = set(columns)
    return [r.feature for r in SCORECARD if r.feature not in present]


def scorecard_points(frame: pd.DataFrame) -> np.ndarray:
    """Points of each row (0..90); a rule whose feature is missing for the row scores 0."""
    total = np.zeros(len(frame), dtype="float64")
    for rule in SCORECARD:
        values = to_float(frame[rule.feature])
        with np.errstate(invalid="ignore"):
            hit = _OPS[rule.op](values, rule.threshold) & ~np.isnan(values)
        total += np.where(hit, rule.points, 0)
    return total


def fit_logistic(frame: pd.DataFrame, y: np.ndarray, numeric: list[str], categorical: list[str], seed: int) -> Pipeline:
    """Impute, scale and one-hot encode, then an L2 logistic regression; fitted on `frame`/`y`."""
    prepared = _as_plain(frame, numeric, categorical)
    transform = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=20),
                ),
                categorical,
            ),
        ],
        remainder="drop",
    )
    model = Pipeline([("prepare", transform), ("logistic", LogisticRegression(max_iter=2000, random_state=seed))])
    return model.fit(prepared, np.asarray(y, dtype="int64"))


def predict_logistic(model: Pipeline, frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> np.ndarray:
    """Probabilities of the fitted logistic regression."""
    return np.asarray(model.predict_proba(_as_plain(frame, numeric, categorical))[:, 1], dtype="float64")


def _as_plain(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Numeric columns as float64 (NA -> NaN; all-NaN columns kept: the imputer drops them), strings as object."""
    out: dict[str, Any] = {c: to_float(frame[c]) for c in numeric}
    out.update({c: frame[c].astype(object).where(frame[c].notna(), np.nan) for c in categorical})
    return pd.DataFrame(out, index=frame.index)
