"""The training problem: rows, labels, column roles, split plan and study identity, built once per run.

One `TrainingProblem` is what the engine (`training.engine`) works on, whichever path built it: xsell's labelled
snapshot rows (`snapshot_problem`, pooled or per-product layout), a bring-your-own table (`training.byo`) or a
tuning worker rebuilding the coordinator's problem from its rows (`training.worker`). The study name derives from
it, so a worker on other rows or settings is refused rather than tuning a different problem.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.catalog import FEATURES_BY_NAME
from features.schema import KEY_COLUMNS
from training.baselines import scorecard_missing
from training.dataset import data_hash
from training.encoding import infer_categorical
from training.errors import TrainingError
from training.objective import SEARCH_SPACE_VERSION
from training.reasons import FeatureInfo, catalog_info
from training.result import SplitPlan
from training.splits import FoldRows, assign_rows, plan_time_splits
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["LAYOUTS", "TableSpec", "TrainingProblem", "snapshot_problem", "study_name_for"]

LAYOUTS = ("pooled", "per_product")


@dataclass(frozen=True)
class TableSpec:
    """Roles of the columns of a training table."""

    features: list[str]
    categorical: list[str]
    product_column: str | None = None
    segment_column: str | None = None
    id_column: str | None = None
    time_column: str | None = None
    catalog: dict[str, FeatureInfo] = field(default_factory=dict)
    scorecard: bool = False
    scorecard_note: str = ""


@dataclass(frozen=True)
class TrainingProblem:
    """Rows in plan order (index 0..n-1), their 0/1 labels, column roles, the split plan with its row positions,
    the model layout, the data hash and the model name."""

    frame: pd.DataFrame
    labels: np.ndarray
    spec: TableSpec
    plan: SplitPlan
    rows: FoldRows
    layout: str
    data_hash: str
    model_name: str

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise TrainingError(f"unknown model layout {self.layout!r}: use one of {', '.join(LAYOUTS)}")
        if self.layout == "per_product" and not self.spec.product_column:
            raise TrainingError("the per_product layout needs a product column")
        if len(self.labels) != len(self.frame):
            raise TrainingError(f"{len(self.frame)} rows but {len(self.labels)} labels")
        object.__setattr__(self, "frame", self.frame.reset_index(drop=True))
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype="int64"))

    def study_name(self, settings: Settings) -> str:
        """The Optuna study of this problem under `settings` (see `study_name_for`)."""
        return study_name_for(self.model_name, self.layout, self.data_hash, self.plan, settings)


def study_name_for(model_name: str, layout: str, data_hash: str, plan: SplitPlan, settings: Settings) -> str:
    """Study name: the model name plus a hash of the data, the plan and everything that changes the objective."""
    t = settings.training
    key = "|".join(
        [
            data_hash,
            plan.describe(),
            layout,
            t.objective_metric,
            SEARCH_SPACE_VERSION,
            str(t.max_rounds),
            str(t.early_stopping_rounds),
            str(settings.seed),
        ]
    )
    return f"{model_name}-{layout}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _check_frame(frame: pd.DataFrame) -> None:
    missing = [c for c in KEY_COLUMNS if c not in frame.columns]
    if missing:
        raise TrainingError(f"the training frame lacks the key columns {missing}")
    if frame.empty:
        raise TrainingError("the training frame is empty")
    if frame["label"].isna().any():
        raise TrainingError(
            f"{int(frame['label'].isna().sum())} rows have no label: train only on labelled snapshots"
            " (training.dataset.load_training_frame)"
        )
    values = set(pd.unique(frame["label"].astype("int64")))
    if not values <= {0, 1} or len(values) < 2:
        raise TrainingError(f"labels must be 0/1 with both classes present, got {sorted(values)}")


def snapshot_problem(frame: pd.DataFrame, settings: Settings, model_name: str | None = None) -> TrainingProblem:
    """The problem of labelled snapshot rows: checked, ordered rows, column roles and the purged time-based plan.

    The same rows and settings give the same problem in every process (the coordinator and its tuning workers).
    The layout is `training.model_layout`; `model_name` defaults to `registry.model_name`.
    """
    _check_frame(frame)
    cfg = settings.training
    features = [c for c in frame.columns if c not in KEY_COLUMNS]
    unknown = [c for c in features if c not in FEATURES_BY_NAME]
    if unknown:
        log.warning("columns not in the feature catalog are used as features", extra={"columns": unknown})
    categorical = [c for c in features if (c in FEATURES_BY_NAME and FEATURES_BY_NAME[c].categorical)]
    categorical += [c for c in infer_categorical(frame, features) if c not in categorical]
    missing = scorecard_missing(features)
    spec = TableSpec(
        features=features,
        categorical=categorical,
        product_column="product",
        segment_column="segment" if "segment" in frame.columns else None,
        id_column="account_id",
        time_column="as_of",
        catalog=catalog_info(),
        scorecard=not missing,
        scorecard_note=f"the frame lacks the scorecard features {missing}" if missing else "",
    )
    ordered = frame.sort_values(["as_of", "account_id", "product"], kind="stable").reset_index(drop=True)
    labels = ordered["label"].astype("int64").to_numpy()
    plan = plan_time_splits(
        sorted(set(ordered["as_of"])),
        horizon_days=settings.features.horizon_days,
        purge_days=cfg.purge_days,
        cv_folds=cfg.cv_folds,
        holdout_snapshots=cfg.holdout_snapshots,
    )
    if len(plan.folds) < cfg.cv_folds:
        log.warning("fewer CV folds than configured", extra={"configured": cfg.cv_folds, "planned": len(plan.folds)})
    plan, rows = assign_rows(plan, ordered["as_of"], labels)
    if any(np.unique(labels[va]).size < 2 for _, va in rows.folds) or np.unique(labels[rows.holdout]).size < 2:
        raise TrainingError("every CV validation window and the holdout need both classes: too few positives")
    return TrainingProblem(
        frame=ordered,
        labels=labels,
        spec=spec,
        plan=plan,
        rows=rows,
        layout=cfg.model_layout,
        data_hash=data_hash(ordered),
        model_name=model_name or settings.registry.model_name,
    )
