"""Metrics (ECE, reliability, lift, deciles) and calibration (isotonic vs Platt, cross-fitted choice)."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibration import Calibrator, choose_calibration, fit_calibrator
from training.errors import TrainingError
from training.metrics import (
    binary_metrics,
    decile_table,
    expected_calibration_error,
    objective_score,
    reliability_table,
)


def test_ece_is_the_row_weighted_gap_per_equal_width_bin() -> None:
    # given two bins: 0.1 predicted for 10 rows with 1 positive (gap 0), 0.75 for 10 rows with 5 positives (gap .25)
    p = np.array([0.1] * 10 + [0.75] * 10)
    y = np.array([1] + [0] * 9 + [1] * 5 + [0] * 5)
    # then the ECE is (10 * 0 + 10 * 0.25) / 20
    assert expected_calibration_error(y, p) == pytest.approx(0.125)
    table = reliability_table(y, p)
    assert list(table["bin"]) == [2, 8]
    assert list(table["count"]) == [10, 10]
    assert table["observed_rate"].tolist() == pytest.approx([0.1, 0.5])


def test_ece_of_an_empty_set_is_nan() -> None:
    assert np.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_binary_metrics_lift_and_undefined_values() -> None:
    # given 100 rows whose 10 top-scored rows hold 5 of 10 positives
    p = np.linspace(1, 0, 100)
    y = np.zeros(100, dtype=int)
    y[[0, 2, 4, 6, 8, 50, 60, 70, 80, 90]] = 1
    m = binary_metrics(y, p)
    assert m["lift_top_decile"] == pytest.approx(0.5 / 0.1)
    assert m["rows"] == 100 and m["positives"] == 10 and m["base_rate"] == pytest.approx(0.1)
    assert 0.5 < m["roc_auc"] < 1 and 0 < m["pr_auc"] < 1
    # and with one class, ranking metrics are NaN rather than an error
    single = binary_metrics(np.zeros(10, dtype=int), np.linspace(0, 1, 10))
    assert np.isnan(single["roc_auc"]) and np.isnan(single["pr_auc"]) and np.isnan(single["lift_top_decile"])


def test_decile_table_ranks_highest_scores_first() -> None:
    p = np.arange(100) / 100
    y = (p >= 0.9).astype(int)
    table = decile_table(y, p)
    assert list(table["decile"]) == list(range(1, 11))
    assert table["rows"].sum() == 100
    assert table.loc[0, "conversion_rate"] == 1.0 and table.loc[1:, "positives"].sum() == 0


def test_objective_score_by_metric() -> None:
    y, p = np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8])
    assert objective_score("pr_auc", y, p) == pytest.approx(1.0)
    assert objective_score("log_loss", y, p) == pytest.approx(-np.mean(np.log([0.9, 0.9, 0.8, 0.8])))


def _scores(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = rng.normal(-2, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.6 * raw - 0.5)))).astype(int)  # miscalibrated log-odds
    return raw, y


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrators_map_raw_scores_to_calibrated_probabilities(method: str) -> None:
    raw, y = _scores()
    calibrator = fit_calibrator(method, raw, y)
    p = calibrator.predict(raw)
    assert ((p >= 0) & (p <= 1)).all()
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, 1 / (1 + np.exp(-raw))) > 0.03  # the raw sigmoid is off


def test_isotonic_calibration_keeps_the_models_order_and_ranking_metrics() -> None:
    # given raw scores with many distinct values and an isotonic calibrator fitted on them
    raw, y = _scores()
    calibrator = fit_calibrator("isotonic", raw, y)
    p = calibrator.predict(raw)
    # then no two rows the model ranks apart tie, so the ranking metrics are the raw scores' exactly
    order = np.argsort(raw)
    assert (np.diff(p[order]) > 0).all()
    assert binary_metrics(y, p)["roc_auc"] == binary_metrics(y, raw)["roc_auc"]
    assert binary_metrics(y, p)["pr_auc"] == pytest.approx(binary_metrics(y, raw)["pr_auc"])
    # and it stays monotone and inside (0, 1) past the scores it was fitted on
    wide = np.linspace(raw.min() - 5, raw.max() + 5, 500)
    q = calibrator.predict(wide)
    assert (np.diff(q) > 0).all() and ((q > 0) & (q < 1)).all()
    # while the step function it interpolates ties many rows (what a calibrator pickled before this still does)
    steps = calibrator.model_.predict(raw)
    assert len(np.unique(steps)) < len(raw) / 10
    legacy = fit_calibrator("isotonic", raw, y)
    del legacy.knots_
    assert np.array_equal(legacy.predict(raw), steps)


def test_choose_calibration_reports_both_and_auto_picks_the_lower_ece() -> None:
    raw, y = _scores()
    groups = np.arange(len(y)) % 3
    method, candidates = choose_calibration(raw, y, groups, "auto")
    assert set(candidates) == {"isotonic", "platt"}
    assert candidates[method] == min(candidates.values())
    forced, same = choose_calibration(raw, y, groups, "isotonic")
    assert forced == "isotonic" and same == candidates


def test_calibration_failures_name_the_problem() -> None:
    with pytest.raises(TrainingError, match="both classes"):
        Calibrator("platt").fit(np.array([0.1, 0.2]), np.array([0, 0]))
    with pytest.raises(TrainingError, match="unknown calibration method"):
        Calibrator("beta").fit(np.array([0.1, 0.2]), np.array([0, 1]))
    raw, y = _scores(200)
    with pytest.raises(TrainingError, match=r"unknown training\.calibration"):
        choose_calibration(raw, y, np.zeros(len(y)), "beta")


def test_the_per_product_objective_averages_each_products_pr_auc() -> None:
    from sklearn.metrics import average_precision_score

    from training.metrics import objective_score

    # given two products whose scores rank well within each product but not across them
    y = np.array([1, 0, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    # then the pooled PR-AUC pays for the cross-product order, the per-product mean does not
    assert objective_score("pr_auc", y, p, groups) == pytest.approx(1.0)
    assert (
        objective_score("pr_auc", y, p) == pytest.approx(average_precision_score(y, p))
        and objective_score("pr_auc", y, p) < 1.0
    )
    # and a product without positives is left out
    assert (
        objective_score("pr_auc", np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.5, 0.4]), np.array(list("aabb"))) == 1.0
    )
