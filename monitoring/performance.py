"""Realised performance: champion, challenger and previous champion scored on the same labelled rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from monitoring.errors import MonitoringError
from training.metrics import binary_metrics

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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (NaN as None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "snapshots": list(self.snapshots),
            "champion": self.champion.to_dict(),
            "challenger": self.challenger.to_dict() if self.challenger else None,
            "previous_champion": self.previous_champion.to_dict() if self.previous_champion else None,
            "champion_holdout": dict(self.champion_holdout),
            "notes": list(self.notes),
        }


def model_metrics(version: int, labels: np.ndarray, scores: np.ndarray) -> ModelMetrics:
    """ROC-AUC, PR-AUC, ECE and Brier of `scores` against 0/1 `labels`."""
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
    )


def realised_performance(
    frame: pd.DataFrame,
    scores: Mapping[str, tuple[int, np.ndarray]],
    snapshots: tuple[str, ...],
    champion_holdout: Mapping[str, float] | None = None,
    notes: tuple[str, ...] = (),
) -> RealisedPerformance:
    """Metrics per role (`champion` required; `challenger`, `previous_champion` optional) from (version, scores)
    on the labelled rows of `frame` (column `label`)."""
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
    by_role = {role: model_metrics(version, labels, s) for role, (version, s) in scores.items()}
    return RealisedPerformance(
        snapshots=tuple(snapshots),
        champion=by_role["champion"],
        challenger=by_role.get("challenger"),
        previous_champion=by_role.get("previous_champion"),
        champion_holdout={k: float(v) for k, v in (champion_holdout or {}).items()},
        notes=notes,
    )
