"""Flows `train` and `train-table`: tune, fit, calibrate, evaluate, then log and register in MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow

from registry.models import RegisteredModel
from tasks.schedule_tasks import data_end_task
from tasks.serving_tasks import serving_artifacts_task
from tasks.training_tasks import load_training_frame_task, log_and_register_task, train_table_task, train_task
from xsell.settings import Settings


@dataclass(frozen=True)
class Trained(RegisteredModel):
    """A registered training: the model version, its run and aliases, headline metrics, and the plan it ran."""

    plan: str = ""

    def registration(self) -> dict[str, Any]:
        """Plain JSON values of the registration (the plan left out)."""
        return super().to_dict()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: the registration, then the plan."""
        return {**self.registration(), "plan": self.plan}


def _trained(registered: dict[str, Any], plan: str) -> Trained:
    return Trained(**{**registered, "aliases": tuple(registered["aliases"])}, plan=plan)


@flow(name="train", log_prints=False, validate_parameters=False)
def train_flow(
    settings: Settings, as_of: date | None = None, trials: int | None = None, timeout: float | None = None
) -> Trained:
    """Train on the snapshots whose labels had matured by `as_of` (default: the data end, read once here) and
    register a challenger with its tier policy, tier table and adoption path."""
    day = as_of if as_of is not None else data_end_task(settings)
    frame = load_training_frame_task(settings, day)
    result = train_task(frame, settings, trials, timeout)
    extra = serving_artifacts_task(result, settings)
    registered = log_and_register_task(result, settings, reason=f"train as of {as_of or 'data end'}", extra=extra)
    return _trained(registered, result.plan.describe())


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
) -> Trained:
    """Train on a user's own feature table (its time column cut into periods of `time_grain`, default automatic)
    and register it."""
    result = train_table_task(table, label, time_col, id_col, settings, trials, time_grain, purge_periods)
    registered = log_and_register_task(result, settings, reason=f"trained on table {table.name}")
    return _trained(registered, result.plan.describe())
