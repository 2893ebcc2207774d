"""Flows `train` and `train-table`: tune, fit, calibrate, evaluate, then log and register in MLflow."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow

from tasks.serving_tasks import serving_artifacts_task
from tasks.training_tasks import load_training_frame_task, log_and_register_task, train_table_task, train_task
from xsell.settings import Settings


@flow(name="train", log_prints=False, validate_parameters=False)
def train_flow(
    settings: Settings, as_of: date | None = None, trials: int | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Train on the snapshots whose labels had matured by `as_of` and register a challenger with its tier policy,
    tier table and adoption path."""
    frame = load_training_frame_task(settings, as_of)
    result = train_task(frame, settings, trials, timeout)
    extra = serving_artifacts_task(result, settings)
    registered = log_and_register_task(result, settings, reason=f"train as of {as_of or 'data end'}", extra=extra)
    return {**registered, "plan": result.plan.describe()}


@flow(name="train-table", log_prints=False, validate_parameters=False)
def train_table_flow(
    table: Path,
    label: str,
    settings: Settings,
    time_col: str | None = None,
    id_col: str | None = None,
    trials: int | None = None,
    time_grain: str | int | None = None,
    purge_periods: int | None = None,
) -> dict[str, Any]:
    """Train on a user's own feature table (its time column cut into periods of `time_grain`, default automatic)
    and register it."""
    result = train_table_task(table, label, time_col, id_col, settings, trials, time_grain, purge_periods)
    registered = log_and_register_task(result, settings, reason=f"trained on table {table.name}")
    return {**registered, "plan": result.plan.describe()}
