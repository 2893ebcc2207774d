"""Holdout metrics: ranking (ROC-AUC, PR-AUC, top-decile lift), probability quality (Brier, ECE), decile tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "ECE_BINS",
    "binary_metrics",
    "bootstrap_ranking",
    "decile_table",
    "expected_calibration_error",
    "objective_score",
    "reliability_table",
]

#: Equal-width probability bins of the expected calibration error and the reliability curve.
ECE_BINS = 10


def _bin_index(p: np.ndarray, bins: int) -> np.ndarray:
    return np.clip((np.asarray(p, dtype="float64") * bins).astype(int), 0, bins - 1)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE over `bins` equal-width bins of [0, 1], each bin's |observed rate - mean prediction| weighted by its rows."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    if len(y) == 0:
        return float("nan")
    idx = _bin_index(p, bins)
    counts = np.bincount(idx, minlength=bins)
    gap = np.abs(np.bincount(idx, weights=y, minlength=bins) - np.bincount(idx, weights=p, minlength=bins))
    return float(gap.sum() / counts.sum())


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> pd.DataFrame:
    """Reliability curve: per non-empty bin, `bin` (1..bins), `mean_predicted`, `observed_rate`, `count`."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    idx = _bin_index(p, bins)
    frame = pd.DataFrame({"bin": idx + 1, "p": p, "y": y})
    out = frame.groupby("bin").agg(mean_predicted=("p", "mean"), observed_rate=("y", "mean"), count=("y", "size"))
    return out.reset_index()


def _safe(fn, y: np.ndarray, p: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(fn(y, p))


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """rows, positives, base_rate, roc_auc, pr_auc, lift_top_decile, brier, ece (NaN where undefined)."""
    from sklearn.metrics import (  # heavy: imported on first use, not at start-up
        average_precision_score,
        brier_score_loss,
        roc_auc_score,
    )

    y, p = np.asarray(y, dtype="int64"), np.asarray(p, dtype="float64")
    n, pos = len(y), int(y.sum())
    base = pos / n if n else float("nan")
    out = {"rows": float(n), "positives": float(pos), "base_rate": base}
    out["roc_auc"] = _safe(roc_auc_score, y, p)
    out["pr_auc"] = _safe(average_precision_score, y, p)
    if n and pos:
        top = np.argsort(-p, kind="stable")[: max(1, math.ceil(n / 10))]
        out["lift_top_decile"] = float(y[top].mean() / base)
    else:
        out["lift_top_decile"] = float("nan")
    out["brier"] = float(brier_score_loss(y, np.clip(p, 0, 1))) if n else float("nan")
    out["ece"] = expected_calibration_error(y, p)
    return out


def bootstrap_ranking(
    y: np.ndarray, scores: dict[str, np.ndarray], *, resamples: int = 200, seed: int = 0
) -> dict[str, dict[str, np.ndarray]]:
    """ROC-AUC and PR-AUC of each named score vector on the same `resamples` row resamples (with replacement; a
    resample with one class only is drawn again): `{name: {"roc_auc": array, "pr_auc": array}}`, paired by index."""
    from sklearn.metrics import (  # heavy: imported on first use, not at start-up
        average_precision_score,
        roc_auc_score,
    )

    y = np.asarray(y, dtype="int64")
    out = {name: {"roc_auc": np.empty(resamples), "pr_auc": np.empty(resamples)} for name in scores}
    positives = int(y.sum())
    if resamples <= 0 or positives == 0 or positives == len(y):
        return {name: {k: v[:0] for k, v in metrics.items()} for name, metrics in out.items()}
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        i = rng.integers(0, len(y), len(y))
        yi = y[i]
        if not 0 < yi.sum() < len(yi):
            continue
        for name, p in scores.items():
            pi = np.asarray(p, dtype="float64")[i]
            out[name]["roc_auc"][done] = roc_auc_score(yi, pi)
            out[name]["pr_auc"][done] = average_precision_score(yi, pi)
        done += 1
    return out


def decile_table(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Rows ranked by score into 10 equal-size deciles (1 = highest; ties by row order): rows, positives, rate."""
    y, p = np.asarray(y, dtype="int64"), np.asarray(p, dtype="float64")
    n = len(y)
    if n == 0:
        return pd.DataFrame(columns=["decile", "rows", "positives", "conversion_rate"])
    order = np.argsort(-p, kind="stable")
    decile = np.empty(n, dtype="int64")
    decile[order] = np.arange(n) * 10 // n + 1
    frame = pd.DataFrame({"decile": decile, "y": y})
    out = frame.groupby("decile").agg(rows=("y", "size"), positives=("y", "sum")).reset_index()
    out["conversion_rate"] = out["positives"] / out["rows"]
    return out


def objective_score(metric: str, y: np.ndarray, p: np.ndarray, groups: np.ndarray | None = None) -> float:
    """The CV objective on one fold: PR-AUC (maximised) or log loss (minimised).

    With `groups` (the product of each row), PR-AUC is the mean over the groups holding a positive: each product
    has its own ranked list, so ranking one product's accounts above another's earns nothing.
    """
    from sklearn.metrics import (  # heavy: imported on first use, not at start-up
        average_precision_score,
        log_loss,
    )

    if metric == "pr_auc":
        if groups is None:
            return float(average_precision_score(y, p)) if y.sum() else 0.0
        per_group = [
            float(average_precision_score(y[rows], p[rows]))
            for rows in (groups == g for g in np.unique(groups))
            if y[rows].sum()
        ]
        return float(np.mean(per_group)) if per_group else 0.0
    return float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))
