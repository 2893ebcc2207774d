"""`train_propensity`: the xsell training run on labelled snapshot rows, as one plain function.

Stages (each a module of this package): split plan (`splits`) -> fold datasets and Optuna tuning (`boosting`,
`tuning`) -> calibration on out-of-fold scores (`calibration`) -> final LightGBM model (`model`) -> holdout
evaluation against the scorecard and a logistic regression (`baselines`, `metrics`) -> reason codes (`reasons`) ->
optional refit on every labelled snapshot. No orchestrator and no MLflow here: the caller logs the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from features.catalog import FEATURES_BY_NAME
from features.schema import KEY_COLUMNS
from training.baselines import scorecard_missing
from training.dataset import data_hash
from training.encoding import infer_categorical
from training.engine import TableSpec, run_engine
from training.errors import TrainingError
from training.reasons import catalog_info
from training.result import SplitPlan, TrainingResult
from training.splits import FoldRows, assign_rows, plan_time_splits
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["train_propensity", "tune_propensity_worker"]

_T = TypeVar("_T")


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


def train_propensity(
    frame: pd.DataFrame,
    settings: Settings,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    model_name: str | None = None,
    workers: int | None = None,
) -> TrainingResult:
    """Tune, fit, calibrate and evaluate the cross-sell propensity model on labelled snapshot rows.

    `frame` holds `account_id, product, as_of, label` and the catalog's features (e.g. from
    `training.dataset.load_training_frame`). The split plan is time-based (expanding folds purged by
    `training.purge_days`, default the label horizon; the last `training.holdout_snapshots` snapshots are the
    holdout). `trials` (default `training.trials`) is the number of finished trials the Optuna study should hold;
    `timeout` (default `training.timeout_seconds`) bounds this call's tuning; `model_name` (default
    `registry.model_name`) names the study together with the data hash. The layout is `training.model_layout`.
    `workers` (default `training.workers`) > 1 runs the trials in that many worker processes on the same study
    (`training.worker`; needs a database server as `training.optuna_storage`); this process then fits, evaluates
    and returns once.
    """
    prepared = _prepare(frame, settings, model_name)
    launch = None
    workers = workers if workers is not None else settings.training.workers
    if workers > 1:
        from training.tuning import check_shared_storage
        from training.worker import worker_launcher

        check_shared_storage(settings.optuna_uri)
        launch = worker_launcher(prepared.frame, settings, workers, timeout=timeout)
    return prepared.run(run_engine, settings, trials=trials, timeout=timeout, launch_workers=launch)


def tune_propensity_worker(
    frame: pd.DataFrame,
    settings: Settings,
    *,
    study_name: str | None = None,
    worker: int = 1,
    timeout: float | None = None,
    model_name: str | None = None,
) -> tuple[str, int]:
    """Run trials of the coordinator's study on the same labelled snapshot rows (never fits or registers).

    Returns the study name and how many trials ran here; TrainingError when the rows give another study.
    """
    from training.engine import run_engine_worker

    prepared = _prepare(frame, settings, model_name)
    return prepared.run(run_engine_worker, settings, study_name=study_name, worker=worker, timeout=timeout)


@dataclass(frozen=True)
class _Prepared:
    frame: pd.DataFrame
    labels: np.ndarray
    spec: TableSpec
    plan: SplitPlan
    rows: FoldRows
    data_hash: str
    model_name: str

    def run(self, engine: Callable[..., _T], settings: Settings, **kwargs: Any) -> _T:
        """Call an engine entry point (`run_engine`, `run_engine_worker`) on these rows."""
        return engine(
            self.frame, self.labels, self.spec, self.plan, self.rows, settings,
            layout=settings.training.model_layout, data_hash=self.data_hash, model_name=self.model_name, **kwargs,
        )  # fmt: skip


def _prepare(frame: pd.DataFrame, settings: Settings, model_name: str | None) -> _Prepared:
    """Checked, ordered rows, column roles and the purged time-based plan (the same in every worker)."""
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
    return _Prepared(ordered, labels, spec, plan, rows, data_hash(ordered), model_name or settings.registry.model_name)
