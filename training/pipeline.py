"""`train_propensity`: the xsell training run on labelled snapshot rows, as one plain function.

Stages (each a module of this package, run by `engine` over one `problem`): split plan (`splits`) -> fold
datasets and Optuna tuning (`inputs`, `boosting`, `objective`, `study`, `tuning`) -> calibration on out-of-fold
scores (`calibration`) -> final LightGBM model (`model`) -> holdout evaluation against the scorecard and a logistic
regression (`evaluation`, `baselines`, `metrics`) -> reason codes (`reasons`) -> optional refit on every labelled
snapshot. No orchestrator and no MLflow here: the caller logs the result. `load_labelled_frame` is the one way the
training rows of a home are read (the train flow, the replay's degraded champion and `xsell tune-worker`).
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from features.store import warehouse
from training.dataset import load_training_frame
from training.engine import run_engine, run_engine_worker
from training.problem import snapshot_problem
from training.result import TrainingResult
from training.study import check_shared_storage
from training.worker import worker_launcher
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["load_labelled_frame", "train_propensity", "tune_propensity_worker"]


def load_labelled_frame(settings: Settings, as_of: date | None = None) -> pd.DataFrame:
    """The home's labelled snapshot rows as of `as_of` (`training.dataset.load_training_frame` on its warehouse,
    which is opened writable: snapshots not yet materialised are materialised first)."""
    with warehouse(settings) as con:
        return load_training_frame(con, settings, as_of)


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
    `load_labelled_frame`). The split plan is time-based (expanding folds purged by
    `training.purge_days`, default the label horizon; the last `training.holdout_snapshots` snapshots are the
    holdout). `trials` (default `training.trials`) is the number of finished trials the Optuna study should hold;
    `timeout` (default `training.timeout_seconds`) bounds this call's tuning; `model_name` (default
    `registry.model_name`) names the study together with the data hash. The layout is `training.model_layout`.
    `workers` (default `training.workers`) > 1 runs the trials in that many worker processes on the same study
    (`training.worker`; needs a database server as `training.optuna_storage`); this process then fits, evaluates
    and returns once.
    """
    problem = snapshot_problem(frame, settings, model_name)
    launch = None
    workers = workers if workers is not None else settings.training.workers
    if workers > 1:
        check_shared_storage(settings.optuna_uri)
        launch = worker_launcher(problem.frame, settings, workers, timeout=timeout, model_name=problem.model_name)
    return run_engine(problem, settings, trials=trials, timeout=timeout, launch_workers=launch)


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
    problem = snapshot_problem(frame, settings, model_name)
    return run_engine_worker(problem, settings, study_name=study_name, worker=worker, timeout=timeout)
