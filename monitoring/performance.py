"""Realised performance: champion, challenger and previous champion scored on the same labelled rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from monitoring.errors import MonitoringError
from training.metrics import binary_metrics, bootstrap_ranking

__all__ = ["ModelMetrics", "RealisedPerformance", "model_metrics", "realised_performance"]

ROLES: tuple[str, ...] = ("champion", "challenger", "previous_champion")


@dataclass(frozen=True)
class ModelMetrics:
    """One model's realised metrics on the labelled rows (NaN where undefined, e.g. one class only)."""

    version: int
    rows: int
    positives: int
    roc_auc: float
    pr_auc: float
    ece: float
    brier: float = float("nan")
    roc_auc_ci: tuple[float, float] | None = None  # bootstrap interval (None: not computed)
    pr_auc_ci: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (NaN as None)."""
        out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ModelMetrics:
        """Read back `to_dict` (None as NaN, lists as intervals)."""

        def number(key: str) -> float:
            value = payload.get(key)
            return float("nan") if value is None else float(value)

        def interval(key: str) -> tuple[float, float] | None:
            value = payload.get(key)
            return (float(value[0]), float(value[1])) if value else None

        return cls(
            version=int(payload["version"]),
            rows=int(payload["rows"]),
            positives=int(payload["positives"]),
            roc_auc=number("roc_auc"),
            pr_auc=number("pr_auc"),
            ece=number("ece"),
            brier=number("brier"),
            roc_auc_ci=interval("roc_auc_ci"),
            pr_auc_ci=interval("pr_auc_ci"),
        )


@dataclass(frozen=True)
class RealisedPerformance:
    """Realised metrics per role on the same rows of the snapshots whose labels matured, and the champion's holdout
    metrics from training (the floor's baseline)."""

    snapshots: tuple[str, ...]
    champion: ModelMetrics
    challenger: ModelMetrics | None = None
    previous_champion: ModelMetrics | None = None
    champion_holdout: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    pr_auc_ratio_ci: tuple[float, float] | None = None  # champion / previous champion PR-AUC, paired bootstrap
    confidence: float | None = None  # coverage of the bootstrap intervals
    champion_products: dict[str, ModelMetrics] = field(default_factory=dict)  # the champion per product
    champion_holdout_products: dict[str, dict[str, float]] = field(default_factory=dict)  # its holdout per product
    out_of_sample: bool = True  # the rows' labels start after the champion's training labels ended

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "snapshots": list(self.snapshots),
            "champion": self.champion.to_dict(),
            "challenger": self.challenger.to_dict() if self.challenger else None,
            "previous_champion": self.previous_champion.to_dict() if self.previous_champion else None,
            "champion_holdout": dict(self.champion_holdout),
            "notes": list(self.notes),
            "pr_auc_ratio_ci": list(self.pr_auc_ratio_ci) if self.pr_auc_ratio_ci else None,
            "confidence": self.confidence,
            "champion_products": {k: v.to_dict() for k, v in self.champion_products.items()},
            "champion_holdout_products": {k: dict(v) for k, v in self.champion_holdout_products.items()},
            "out_of_sample": self.out_of_sample,
        }


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """The central `confidence` interval of bootstrap `values` (None when there are none)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def model_metrics(
    version: int,
    labels: np.ndarray,
    scores: np.ndarray,
    boot: dict[str, np.ndarray] | None = None,
    confidence: float = 0.9,
) -> ModelMetrics:
    """ROC-AUC, PR-AUC, ECE and Brier of `scores` against 0/1 `labels`; intervals from the `boot` resamples."""
    labels = np.asarray(labels, dtype="int64")
    scores = np.asarray(scores, dtype="float64")
    if len(labels) != len(scores):
        raise MonitoringError(f"{len(scores)} scores for {len(labels)} labelled rows")
    values = binary_metrics(labels, scores)
    return ModelMetrics(
        version=int(version),
        rows=int(values["rows"]),
        positives=int(values["positives"]),
        roc_auc=float(values["roc_auc"]),
        pr_auc=float(values["pr_auc"]),
        ece=float(values["ece"]),
        brier=float(values["brier"]),
        roc_auc_ci=_interval(boot["roc_auc"], confidence) if boot else None,
        pr_auc_ci=_interval(boot["pr_auc"], confidence) if boot else None,
    )


def realised_performance(
    frame: pd.DataFrame,
    scores: Mapping[str, tuple[int, np.ndarray]],
    snapshots: tuple[str, ...],
    champion_holdout: Mapping[str, float] | None = None,
    notes: tuple[str, ...] = (),
    *,
    resamples: int = 0,
    confidence: float = 0.9,
    seed: int = 0,
    champion_holdout_products: Mapping[str, Mapping[str, float]] | None = None,
    out_of_sample: bool = True,
) -> RealisedPerformance:
    """Metrics per role (`champion` required; `challenger`, `previous_champion` optional) from (version, scores)
    on the labelled rows of `frame` (column `label`), with `confidence` bootstrap intervals over `resamples`
    row resamples shared by every role (paired), among them the champion / previous champion PR-AUC ratio; with a
    `product` column, the champion's metrics per product too (a drift of what drives one product shows there
    first); `out_of_sample` says whether the rows' labels start after the champion's training labels ended."""
    if frame.empty or "label" not in frame.columns:
        raise MonitoringError("realised performance needs labelled rows (column label); none were given")
    if frame["label"].isna().any():
        raise MonitoringError("realised performance needs matured labels; some rows are unlabelled")
    if "champion" not in scores:
        raise MonitoringError("realised performance needs the champion's scores")
    unknown = set(scores) - set(ROLES)
    if unknown:
        raise MonitoringError(f"unknown model roles {sorted(unknown)}: expected {ROLES}")
    labels = frame["label"].to_numpy(dtype="int64")
    for role, (_, s) in scores.items():
        if len(s) != len(labels):
            raise MonitoringError(f"{len(s)} {role} scores for {len(labels)} labelled rows")
    boot = bootstrap_ranking(labels, {r: s for r, (_, s) in scores.items()}, resamples=resamples, seed=seed)
    by_role = {
        role: model_metrics(version, labels, s, boot[role] if resamples > 0 else None, confidence)
        for role, (version, s) in scores.items()
    }
    ratio = None
    if resamples > 0 and "previous_champion" in scores:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = _interval(boot["champion"]["pr_auc"] / boot["previous_champion"]["pr_auc"], confidence)
    products: dict[str, ModelMetrics] = {}
    if "product" in frame.columns:
        version, champion = scores["champion"]
        for product, rows in frame.groupby("product", sort=True).indices.items():
            boot_p = bootstrap_ranking(labels[rows], {"m": champion[rows]}, resamples=resamples, seed=seed)["m"]
            products[str(product)] = model_metrics(
                version, labels[rows], champion[rows], boot_p if resamples > 0 else None, confidence
            )
    return RealisedPerformance(
        snapshots=tuple(snapshots),
        champion=by_role["champion"],
        challenger=by_role.get("challenger"),
        previous_champion=by_role.get("previous_champion"),
        champion_holdout={k: float(v) for k, v in (champion_holdout or {}).items()},
        notes=notes,
        pr_auc_ratio_ci=ratio,
        confidence=confidence if resamples > 0 else None,
        champion_products=products,
        champion_holdout_products={k: dict(v) for k, v in (champion_holdout_products or {}).items()},
        out_of_sample=out_of_sample,
    )
