"""Realised performance: metrics per role on the same rows, paired bootstrap intervals, bad inputs named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.errors import MonitoringError
from monitoring.performance import realised_performance
from training.metrics import bootstrap_ranking


def _rows(n: int = 2000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(signal * 2 - 3)))).astype(int)
    good = 1 / (1 + np.exp(-(signal * 2 - 3)))
    noise = rng.random(n)
    return pd.DataFrame({"label": y}), good, noise


def test_intervals_hold_the_point_estimate_and_shrink_with_more_rows() -> None:
    frame, good, _ = _rows()
    perf = realised_performance(frame, {"champion": (1, good)}, ("2025-03-31",), resamples=200, confidence=0.9)
    lo, hi = perf.champion.pr_auc_ci
    assert lo < perf.champion.pr_auc < hi
    small = realised_performance(
        frame.iloc[:300], {"champion": (1, good[:300])}, ("2025-03-31",), resamples=200, confidence=0.9
    )
    assert small.champion.pr_auc_ci[1] - small.champion.pr_auc_ci[0] > hi - lo
    assert perf.to_dict()["champion"]["pr_auc_ci"] == [lo, hi] and perf.confidence == 0.9


def test_the_paired_ratio_separates_a_useless_champion_from_the_previous_one() -> None:
    frame, good, noise = _rows()
    scores = {"champion": (2, noise), "previous_champion": (1, good)}
    perf = realised_performance(frame, scores, ("2025-03-31",), resamples=200)
    assert perf.pr_auc_ratio_ci is not None and perf.pr_auc_ratio_ci[1] < 0.8
    same = realised_performance(frame, {"champion": (2, good), "previous_champion": (1, good)}, ("x",), resamples=50)
    assert same.pr_auc_ratio_ci == (1.0, 1.0)


def test_without_resamples_there_are_no_intervals() -> None:
    frame, good, _ = _rows(500)
    perf = realised_performance(frame, {"champion": (1, good)}, ("2025-03-31",))
    assert perf.champion.pr_auc_ci is None and perf.pr_auc_ratio_ci is None and perf.confidence is None


def test_scores_of_the_wrong_length_are_named() -> None:
    frame, good, _ = _rows(500)
    with pytest.raises(MonitoringError, match="499 previous_champion scores for 500"):
        realised_performance(frame, {"champion": (1, good), "previous_champion": (0, good[:-1])}, ("x",))


def test_bootstrap_is_seeded_and_one_class_gives_nothing() -> None:
    y = np.array([0, 1] * 50)
    p = np.linspace(0, 1, 100)
    first = bootstrap_ranking(y, {"m": p}, resamples=20, seed=7)
    assert np.array_equal(first["m"]["pr_auc"], bootstrap_ranking(y, {"m": p}, resamples=20, seed=7)["m"]["pr_auc"])
    assert len(bootstrap_ranking(np.zeros(10), {"m": np.ones(10)}, resamples=20)["m"]["roc_auc"]) == 0


def test_the_champion_is_measured_per_product_too() -> None:
    frame, good, noise = _rows()
    frame["product"] = np.where(np.arange(len(frame)) % 2 == 0, "analytics", "security")
    scores = {"champion": (1, np.where(frame["product"] == "analytics", good, noise))}
    holdout = {"analytics": {"roc_auc": 0.9}}
    perf = realised_performance(frame, scores, ("x",), resamples=50, champion_holdout_products=holdout)
    assert set(perf.champion_products) == {"analytics", "security"}
    assert perf.champion_products["analytics"].roc_auc > 0.8 > 0.6 > perf.champion_products["security"].roc_auc
    assert perf.champion_products["security"].roc_auc_ci is not None
    assert perf.to_dict()["champion_holdout_products"] == holdout
