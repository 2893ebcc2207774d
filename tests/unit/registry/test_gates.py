"""Gate maths on small labelled frames: relative PR-AUC margin, ECE tolerance, per-product drop, segment parity
(ROC-AUC and top-decile selection rate), shadow-run count; then the verdict on registered models."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from registry.errors import RegistryError
from registry.gates import compare_scores, evaluate_gates, shadow_check
from serving.shadow import shadow_run_count
from tests.unit.registry.governance import insert_shadow_runs
from xsell.settings import GateSettings, Settings, load_settings


def labelled(n_per_group: int = 200, seed: int = 0) -> pd.DataFrame:
    """Rows of two products x two segments with a 20% base rate."""
    rng = np.random.default_rng(seed)
    groups = [(p, s) for p in ("analytics", "security") for s in ("smb", "enterprise")]
    frame = pd.DataFrame(
        [{"product": p, "segment": s} for p, s in groups for _ in range(n_per_group)],
    )
    frame["label"] = (rng.random(len(frame)) < 0.2).astype(int)
    return frame


def noisy(frame: pd.DataFrame, signal: float, seed: int) -> np.ndarray:
    """Scores in (0, 1) that separate the labels with strength `signal`."""
    rng = np.random.default_rng(seed)
    z = signal * frame["label"].to_numpy() + rng.normal(size=len(frame))
    return 1 / (1 + np.exp(-(z - 2)))


def by_name(checks: list) -> dict:  # type: ignore[type-arg]
    return {c.name: c for c in checks}


def test_a_better_challenger_passes_every_metric_gate() -> None:
    frame = labelled()
    champion, challenger = noisy(frame, 1.0, 1), noisy(frame, 2.5, 1)
    checks, metrics = compare_scores(frame, champion, challenger, GateSettings(parity_tolerance=1.0, ece_tolerance=1.0))
    found = by_name(checks)
    assert list(found) == ["pr_auc_gain", "calibration", "per_product", "segment_parity"]
    assert all(c.passed for c in checks), [c.detail for c in checks]
    gain = metrics["challenger"]["overall"]["pr_auc"] / metrics["champion"]["overall"]["pr_auc"] - 1
    assert found["pr_auc_gain"].value == pytest.approx(gain, abs=1e-6) and gain > 0.01
    assert set(metrics["challenger"]["products"]) == {"analytics", "security"}


def test_the_margin_is_relative_and_equal_models_do_not_beat_it() -> None:
    frame = labelled()
    scores = noisy(frame, 1.5, 2)
    gain = by_name(compare_scores(frame, scores, scores, GateSettings(min_relative_gain=0.01))[0])["pr_auc_gain"]
    assert not gain.passed and gain.value == 0.0 and gain.threshold == 0.01
    lenient = by_name(compare_scores(frame, scores, scores, GateSettings(min_relative_gain=0.0))[0])["pr_auc_gain"]
    assert lenient.passed


def test_worse_calibration_beyond_tolerance_fails() -> None:
    frame = labelled()
    champion = noisy(frame, 2.0, 3)
    shifted = 0.3 + 0.7 * champion  # same ranking, probabilities far too high
    checks = by_name(compare_scores(frame, champion, shifted, GateSettings(min_relative_gain=0.0))[0])
    assert checks["pr_auc_gain"].passed  # a monotone shift keeps PR-AUC
    assert not checks["calibration"].passed and checks["calibration"].value > 0.1


def test_one_product_worse_beyond_tolerance_fails() -> None:
    frame = labelled()
    champion = noisy(frame, 2.5, 4)
    challenger = champion.copy()
    security = (frame["product"] == "security").to_numpy()
    challenger[security] = np.random.default_rng(5).random(security.sum())  # no signal left for security
    check = by_name(compare_scores(frame, champion, challenger, GateSettings(product_tolerance=0.05))[0])["per_product"]
    assert not check.passed and "worst security" in check.detail and check.value < -0.05


def test_segment_parity_by_roc_auc_and_by_top_decile_rate() -> None:
    frame = labelled()
    enterprise = (frame["segment"] == "enterprise").to_numpy()
    scores = noisy(frame, 3.0, 6)
    scores[enterprise] = np.random.default_rng(7).random(enterprise.sum()) * 0.01  # useless and never top-ranked
    roc = by_name(compare_scores(frame, scores, scores, GateSettings(parity_tolerance=0.15))[0])["segment_parity"]
    assert not roc.passed and roc.value > 0.3 and "enterprise" in roc.detail
    top = GateSettings(parity_metric="top_decile_rate", parity_tolerance=0.1)
    selection = by_name(compare_scores(frame, scores, scores, top)[0])["segment_parity"]
    assert not selection.passed and selection.value == pytest.approx(0.2, abs=0.02)  # 40% of smb vs 0% of enterprise


def test_small_segments_are_not_compared() -> None:
    frame = labelled(n_per_group=30)  # 60 rows per segment
    scores = noisy(frame, 2.0, 8)
    check = by_name(compare_scores(frame, scores, scores, GateSettings(min_segment_rows=100))[0])["segment_parity"]
    assert check.passed and check.value is None and "fewer than two segments" in check.detail


def test_shadow_runs_gate_counts_against_the_minimum() -> None:
    assert shadow_check(3, 2).passed and not shadow_check(1, 2).passed
    assert shadow_check(1, 2).detail == "1 shadow run(s) of the challenger, 2 required"


def test_scores_must_match_the_rows() -> None:
    frame = labelled()
    with pytest.raises(RegistryError, match="scores of 3 and"):
        compare_scores(frame, np.zeros(3), np.zeros(len(frame)), GateSettings())
    with pytest.raises(RegistryError, match="labelled rows"):
        compare_scores(frame.drop(columns="label"), np.zeros(len(frame)), np.zeros(len(frame)), GateSettings())


def test_evaluate_gates_rescores_both_registered_models_and_writes_a_report(
    governed: Settings, feature_rows: pd.DataFrame
) -> None:
    # given v1 champion and v3 challenger (the same logged model) and two shadow runs of v3
    insert_shadow_runs(governed, challenger=3, champion=1, days=[pd.Timestamp("2025-07-31").date()] * 2)
    rows = feature_rows[feature_rows["as_of"] == feature_rows["as_of"].max()]
    # when the gates are evaluated on recent labelled rows
    decision = evaluate_gates(governed, frame=rows, shadow_runs=partial(shadow_run_count, governed))
    # then both were scored on the same rows: no gain, so the margin fails; one distinct as-of is one shadow run
    assert (decision.champion_version, decision.challenger_version) == (1, 3)
    assert set(decision.failed) >= {"pr_auc_gain", "shadow_runs"}
    metrics = decision.evidence["metrics"]
    assert metrics["champion"]["overall"] == metrics["challenger"]["overall"]
    assert metrics["champion"]["overall"]["rows"] == len(rows)
    report = json.loads(Path(decision.report_path or "").read_text())
    assert report["failed"] == decision.failed and report["challenger_version"] == 3


def test_evaluate_gates_passes_with_lenient_thresholds(governed: Settings, feature_rows: pd.DataFrame) -> None:
    lenient = load_settings(
        home=governed.home,
        **{
            "registry.gates.min_relative_gain": 0.0,
            "registry.gates.parity_tolerance": 1.0,
            "registry.gates.min_shadow_runs": 0,
        },
    )
    decision = evaluate_gates(lenient, 2, frame=feature_rows, shadow_runs=partial(shadow_run_count, lenient))
    assert decision.passed and decision.challenger_version == 2


def test_evaluate_gates_names_a_missing_version(governed: Settings, feature_rows: pd.DataFrame) -> None:
    with pytest.raises(RegistryError, match="has no version 9"):
        evaluate_gates(governed, 9, frame=feature_rows, shadow_runs=partial(shadow_run_count, governed))
