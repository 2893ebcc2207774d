"""Calibration of raw model scores: isotonic regression or Platt scaling, chosen by cross-fitted ECE.

Calibrators map a raw score (LightGBM's log-odds, or scorecard points) to a probability. The choice between the two
methods is made on out-of-time predictions (the CV out-of-fold scores): each method is fitted on all groups but one
and scored on the held-out group (cross-fitting), so isotonic regression's in-sample advantage does not decide.

Isotonic regression is a step function: every row in one of its blocks gets the same probability, so rows the model
ranks apart would tie (a few hundred distinct values for hundreds of thousands of rows), which blurs each product's
ranked list and costs ranking metrics at the top of it. The isotonic calibrator here interpolates between the centres
of its blocks in log-odds (linear between centres; beyond the end blocks, Platt's slope on the same rows): strictly
increasing, so it keeps the model's order exactly, with the blocks' calibrated levels.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from training.errors import TrainingError
from training.metrics import expected_calibration_error

__all__ = ["METHODS", "Calibrator", "choose_calibration", "fit_calibrator", "interpolate_knots", "isotonic_knots"]

METHODS: tuple[str, ...] = ("isotonic", "platt")


#: Block levels are clipped to [EPS, 1 - EPS] before log-odds (a block of only negatives has level 0).
EPS = 1e-4


def isotonic_knots(
    model: IsotonicRegression, scores: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """The knots of a fitted isotonic regression: (score, log-odds of its level) at the centre of each block, strictly
    increasing in both (levels clipped to [EPS, 1 - EPS]; a block the clip would tie with its neighbour is dropped),
    and the slope beyond the end blocks: Platt's on the same rows (log-odds per unit of score; a small positive one
    when that is not positive), so the tails neither tie nor jump to 0 or 1."""
    x = np.asarray(model.X_thresholds_, dtype="float64")
    levels, starts = np.unique(np.asarray(model.y_thresholds_, dtype="float64"), return_index=True)
    ends = np.r_[starts[1:], len(x)] - 1  # the levels are non-decreasing, so each block's points are contiguous
    centres, z = (x[starts] + x[ends]) / 2, logit(np.clip(levels, EPS, 1 - EPS))
    keep = np.r_[True, np.diff(z) > 0]
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(scores).reshape(-1, 1), y)
    slope = float(platt.coef_[0, 0])
    return centres[keep], z[keep], slope if slope > 0 else 1e-6


def interpolate_knots(scores: np.ndarray, x: np.ndarray, z: np.ndarray, slope: float) -> np.ndarray:
    """Probabilities of `scores` through the knots (`x` scores, `z` log-odds): linear in log-odds between them, with
    `slope` beyond them."""
    scores = np.asarray(scores, dtype="float64")
    if len(x) == 1:  # one block: its level, and the slope around it
        return np.asarray(expit(z[0] + slope * (scores - x[0])), dtype="float64")
    out = np.interp(scores, x, z)
    low, high = scores < x[0], scores > x[-1]
    out[low] = z[0] + slope * (scores[low] - x[0])
    out[high] = z[-1] + slope * (scores[high] - x[-1])
    return np.asarray(expit(out), dtype="float64")


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
            self.knots_ = isotonic_knots(self.model_, scores, y)
        elif self.method == "platt":
            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(scores.reshape(-1, 1), y)
        else:
            raise TrainingError(f"unknown calibration method {self.method!r}: expected one of {METHODS}")
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities of the raw scores."""
        scores = np.asarray(scores, dtype="float64")
        if self.method == "isotonic":
            knots = getattr(self, "knots_", None)
            if knots is None:  # pickled before interpolation: the step function it was evaluated with
                return np.asarray(self.model_.predict(scores), dtype="float64")
            return interpolate_knots(scores, *knots)
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
