"""The promotion gates as pure functions of labelled rows scored by both models.

`compare_scores` measures both models on the same rows (overall, per product, per segment) and runs the metric
gates: `pr_auc_gain` (the challenger's PR-AUC beats the champion's by a relative margin), `calibration` (its ECE
is no worse beyond a tolerance), `per_product` (no product's PR-AUC drops by more than a share) and
`segment_parity` (the challenger's largest gap in ROC-AUC, or in top-decile selection rate, between segments stays
within a tolerance); `shadow_check` judges the number of shadow runs. `registry.gates` chooses the rows, re-scores
the registered models and acts on the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from registry.errors import RegistryError
from training.metrics import binary_metrics
from xsell.settings import GateSettings

__all__ = ["GateCheck", "compare_scores", "shadow_check"]


@dataclass(frozen=True)
class GateCheck:
    """One gate: passed or not, the measured value against its threshold, and a sentence saying why."""

    name: str
    passed: bool
    value: float | None
    threshold: float | None
    detail: str


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _round(value: float | None) -> float | None:
    return round(float(value), 6) if value is not None and math.isfinite(value) else None


def _group_metrics(frame: pd.DataFrame, scores: np.ndarray, column: str, min_rows: int) -> dict[str, dict[str, Any]]:
    """Per value of `column`: rows, positives, PR-AUC, ROC-AUC and the share of its rows in the overall top decile;
    `compared` is False for groups under `min_rows` rows or with one class only."""
    y = frame["label"].to_numpy(dtype="int64")
    top = np.zeros(len(y), dtype=bool)
    top[np.argsort(-scores, kind="stable")[: max(1, math.ceil(len(y) / 10))]] = True
    groups = frame[column].astype(object).where(frame[column].notna(), "unknown").astype(str).to_numpy()
    out = {}
    for group in sorted(set(groups)):
        rows = groups == group
        metrics = binary_metrics(y[rows], scores[rows])
        positives = int(metrics["positives"])
        out[group] = {
            "rows": int(rows.sum()),
            "positives": positives,
            "pr_auc": _round(metrics["pr_auc"]),
            "roc_auc": _round(metrics["roc_auc"]),
            "top_decile_rate": _round(float(top[rows].mean())),
            "compared": bool(rows.sum() >= min_rows and 0 < positives < rows.sum()),
        }
    return out


def _model_metrics(frame: pd.DataFrame, scores: np.ndarray, gates: GateSettings) -> dict[str, Any]:
    overall = binary_metrics(frame["label"].to_numpy(dtype="int64"), scores)
    metrics: dict[str, Any] = {
        "overall": {k: _round(overall[k]) for k in ("rows", "positives", "pr_auc", "roc_auc", "ece", "brier")},
        "products": _group_metrics(frame, scores, "product", gates.min_segment_rows),
    }
    if gates.segment_column in frame.columns:
        metrics["segments"] = _group_metrics(frame, scores, gates.segment_column, gates.min_segment_rows)
    return metrics


def _parity_gap(segments: dict[str, dict[str, Any]], metric: str) -> tuple[float | None, str]:
    """The largest gap of `metric` between compared segments, and which two; None with fewer than two."""
    values = {s: m[metric] for s, m in segments.items() if m["compared"] and _finite(m[metric])}
    if len(values) < 2:
        return None, ""
    low, high = min(values, key=values.__getitem__), max(values, key=values.__getitem__)
    return values[high] - values[low], f"{high} {values[high]:.3f} vs {low} {values[low]:.3f}"


def compare_scores(
    frame: pd.DataFrame, champion: np.ndarray, challenger: np.ndarray, gates: GateSettings
) -> tuple[list[GateCheck], dict[str, Any]]:
    """The metric gates on labelled rows (`label`, `product`, and the segment column when present) scored by both
    models: pr_auc_gain, calibration, per_product, segment_parity; plus the metrics of both models."""
    if frame.empty or "label" not in frame.columns or "product" not in frame.columns:
        raise RegistryError("the gates need labelled rows with columns label and product; none were given")
    champion, challenger = np.asarray(champion, dtype="float64"), np.asarray(challenger, dtype="float64")
    if not len(champion) == len(challenger) == len(frame):
        raise RegistryError(f"scores of {len(champion)} and {len(challenger)} rows for {len(frame)} labelled rows")
    old, new = _model_metrics(frame, champion, gates), _model_metrics(frame, challenger, gates)
    checks = [
        _gain_check(old["overall"]["pr_auc"], new["overall"]["pr_auc"], gates.min_relative_gain),
        _calibration_check(old["overall"]["ece"], new["overall"]["ece"], gates.ece_tolerance),
        _product_check(old["products"], new["products"], gates.product_tolerance),
        _parity_check(old.get("segments"), new.get("segments"), gates),
    ]
    return checks, {"champion": old, "challenger": new}


def _gain_check(old: float | None, new: float | None, margin: float) -> GateCheck:
    if not (_finite(old) and _finite(new)) or not old:
        return GateCheck("pr_auc_gain", False, None, margin, "PR-AUC undefined: the labelled rows hold no positive")
    gain = new / old - 1  # type: ignore[operator]
    verdict = "beats" if gain >= margin else "does not beat"
    detail = f"challenger PR-AUC {new:.4f} vs champion {old:.4f} ({gain:+.1%}): {verdict} the {margin:+.1%} margin"
    return GateCheck("pr_auc_gain", gain >= margin, round(gain, 6), margin, detail)


def _calibration_check(old: float | None, new: float | None, tolerance: float) -> GateCheck:
    if not (_finite(old) and _finite(new)):
        return GateCheck("calibration", False, None, tolerance, "ECE undefined: no labelled rows")
    worse = new - old  # type: ignore[operator]
    passed = worse <= tolerance + 1e-12
    detail = f"challenger ECE {new:.4f} vs champion {old:.4f} (change {worse:+.4f}, tolerance {tolerance:.4f})"
    return GateCheck("calibration", passed, round(worse, 6), tolerance, detail)


def _product_check(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> GateCheck:
    changes = {}
    for product, metrics in new.items():
        before = old.get(product, {}).get("pr_auc")
        if metrics["compared"] and _finite(metrics["pr_auc"]) and _finite(before) and before:
            changes[product] = metrics["pr_auc"] / before - 1
    if not changes:
        return GateCheck("per_product", True, None, -tolerance, "no product has enough labelled rows to compare")
    worst = min(changes, key=changes.__getitem__)
    passed = changes[worst] >= -tolerance - 1e-12
    listed = ", ".join(f"{p} {c:+.1%}" for p, c in sorted(changes.items()))
    detail = f"PR-AUC change per product: {listed}; worst {worst}, allowed down to {-tolerance:.1%}"
    return GateCheck("per_product", passed, round(changes[worst], 6), -tolerance, detail)


def _parity_check(old: dict[str, Any] | None, new: dict[str, Any] | None, gates: GateSettings) -> GateCheck:
    name, metric, tolerance = "segment_parity", gates.parity_metric, gates.parity_tolerance
    if new is None:
        return GateCheck(name, True, None, tolerance, f"no segment column {gates.segment_column!r} in the rows")
    gap, between = _parity_gap(new, metric)
    if gap is None:
        return GateCheck(name, True, None, tolerance, f"fewer than two segments with enough rows to compare {metric}")
    old_gap, _ = _parity_gap(old or {}, metric)
    before = f"; champion gap {old_gap:.3f}" if old_gap is not None else ""
    detail = f"challenger {metric} gap between segments {gap:.3f} ({between}), tolerance {tolerance:.3f}{before}"
    return GateCheck(name, gap <= tolerance + 1e-12, round(gap, 6), tolerance, detail)


def shadow_check(runs: int, minimum: int) -> GateCheck:
    """The challenger was shadow-scored on at least `minimum` as-of dates."""
    detail = f"{runs} shadow run(s) of the challenger, {minimum} required"
    return GateCheck("shadow_runs", runs >= minimum, float(runs), float(minimum), detail)
