"""Prefect tasks of training, registration and scoring: thin wrappers over plain functions."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from registry.audit import record_registration
from registry.log_training import log_training
from serving.scoring import read_table
from tasks.retry import retry_on_io
from training.byo import train_table
from training.pipeline import load_labelled_frame, train_propensity
from xsell.settings import Settings

logger = logging.getLogger(__name__)


@task(name="load-training-frame", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def load_training_frame_task(settings: Settings, as_of: date | None) -> pd.DataFrame:
    """Materialise (if needed) and read every snapshot whose labels had matured by `as_of`."""
    return load_labelled_frame(settings, as_of)


@task(name="train-model", cache_policy=NO_CACHE)
def train_task(frame: pd.DataFrame, settings: Settings, trials: int | None, timeout: float | None) -> Any:
    """Tune, fit, calibrate and evaluate the propensity model."""
    return train_propensity(frame, settings, trials=trials, timeout=timeout)


@task(name="train-table-model", cache_policy=NO_CACHE)
def train_table_task(
    table: Path,
    label: str,
    time_col: str | None,
    id_col: str | None,
    settings: Settings,
    trials: int | None,
    time_grain: str | int | None = None,
    purge_periods: int | None = None,
) -> Any:
    """Run the same engine on a user's own feature table."""
    return train_table(
        read_table(table),
        label,
        time_col=time_col,
        id_col=id_col,
        settings=settings,
        trials=trials,
        time_grain=time_grain,
        purge_periods=purge_periods,
    )


@task(name="log-and-register", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def log_and_register_task(result: Any, settings: Settings, reason: str, extra: Any = None) -> dict[str, Any]:
    """Log the run to MLflow, register a new model version (alias challenger; champion if first) and record the
    registration in the audit trail (a failure there is logged, never retried into a second version: the next
    `registry.aliases.reconcile` records the alias move instead)."""
    registered = log_training(result, settings, reason=reason, extra=extra)
    try:
        record_registration(settings, registered, reason)
    except Exception:
        logger.error("could not record the registration of v%d", registered.version, exc_info=True)
    return registered.to_dict()
