"""Calibration of raw model scores: isotonic regression or Platt scaling, chosen by cross-fitted ECE.

Calibrators map a raw score (LightGBM's log-odds, or scorecard points) to a probability. The choice between the two
methods is made on out-of-time predictions (the CV out-of-fold scores): each method is fitted on all groups but one
and scored on the held-out group (cross-fitting), so isotonic regression's in-sample advantage does not decide.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from training.errors import TrainingError
from training.metrics import expected_calibration_error

__all__ = ["METHODS", "Calibrator", "choose_calibration", "fit_calibrator"]

METHODS: tuple[str, ...] = ("isotonic", "platt")


class Calibrator:
    """A fitted score -> probability map (picklable; scikit-learn estimators inside)."""

    def __init__(self, method: str) -> None:
        self.method = method

    def fit(self, scores: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on raw scores and 0/1 labels."""
        scores, y = np.asarray(scores, dtype="float64"), np.asarray(y, dtype="int64")
        if len(np.unique(y)) < 2:
            raise TrainingError("calibration needs both classes among its rows")
        if self.method == "isotonic":
            self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
        elif self.method == "platt":
            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(scores.reshape(-1, 1), y)
        else:
            raise TrainingError(f"unknown calibration method {self.method!r}: expected one of {METHODS}")
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities of the raw scores."""
        scores = np.asarray(scores, dtype="float64")
        if self.method == "isotonic":
            return np.asarray(self.model_.predict(scores), dtype="float64")
        return np.asarray(self.model_.predict_proba(scores.reshape(-1, 1))[:, 1], dtype="float64")


def fit_calibrator(method: str, scores: np.ndarray, y: np.ndarray) -> Calibrator:
    """A calibrator of `method` fitted on `scores` and `y`."""
    return Calibrator(method).fit(scores, y)


def _cross_fitted(method: str, scores: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    out = np.empty(len(y), dtype="float64")
    for g in np.unique(groups):
        test = groups == g
        train = ~test
        if len(np.unique(y[train])) < 2:  # a group cannot be predicted from the others: use all rows
            out[test] = fit_calibrator(method, scores, y).predict(scores[test])
        else:
            out[test] = fit_calibrator(method, scores[train], y[train]).predict(scores[test])
    return out


def choose_calibration(
    scores: np.ndarray, y: np.ndarray, groups: np.ndarray, setting: str = "auto"
) -> tuple[str, dict[str, float]]:
    """The method to use and the cross-fitted ECE of each candidate on these out-of-time scores.

    `setting` "auto" picks the lower ECE; "isotonic" or "platt" force a method (both are still reported).
    With a single group the candidates are scored in-sample (noted by the caller).
    """
    scores, y, groups = np.asarray(scores, dtype="float64"), np.asarray(y, dtype="int64"), np.asarray(groups)
    candidates = {}
    for method in METHODS:
        predicted = (
            _cross_fitted(method, scores, y, groups)
            if len(np.unique(groups)) > 1
            else fit_calibrator(method, scores, y).predict(scores)
        )
        candidates[method] = expected_calibration_error(y, predicted)
    if setting == "auto":
        return min(candidates, key=lambda m: (candidates[m], m)), candidates
    if setting not in METHODS:
        raise TrainingError(f"unknown training.calibration {setting!r}: expected auto, isotonic or platt")
    return setting, candidates
