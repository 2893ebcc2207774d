"""Helpers of the promotion and audit tests: a registry holding three versions, copied per test, and shadow runs
written into the batch shadow's table `serving.shadow_runs`."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from ingest.pipeline import open_warehouse
from registry.audit import record_registration
from registry.log_training import log_training
from serving.store import SHADOW_RUNS, ensure_tables
from training.result import TrainingResult
from xsell.settings import Settings, load_settings


def client_of(settings: Settings) -> Any:
    """A plain MLflow client on the settings' store: what a person in the MLflow UI acts through."""
    return MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)


def register_three_versions(settings: Settings, result: TrainingResult) -> None:
    """v1 logged by `log_training` (champion and challenger) and recorded; v2 and v3 registered from the same logged
    model, the challenger alias moved to v3 (as `log_training` would) and v2, v3 recorded."""
    first = log_training(result, settings, reason="first training", trial_runs=False)
    record_registration(settings, first, "first training")
    client = client_of(settings)
    name = settings.registry.model_name
    source = client.get_model_version(name, "1")
    for number in (2, 3):
        version = client.create_model_version(name, source=source.source, run_id=source.run_id, tags={"n": str(number)})
        client.set_registered_model_alias(name, settings.registry.challenger_alias, version.version)
        registered = type(first)(
            name=name,
            version=int(version.version),
            run_id=first.run_id,
            model_uri=f"models:/{name}/{number}",
            aliases=(settings.registry.challenger_alias,),
        )
        record_registration(settings, registered, f"training {number}")


def copy_home(template: Path, home: Path, **overrides: Any) -> Settings:
    """Settings homed at `home` holding a copy of the template's MLflow store and warehouse."""
    home.mkdir(parents=True)
    for name in ("mlflow.db", "warehouse.duckdb"):
        if (template / name).is_file():
            shutil.copyfile(template / name, home / name)
    return load_settings(home=home, **overrides)


def insert_shadow_runs(settings: Settings, challenger: int, champion: int, days: Sequence[date]) -> None:
    """One shadow run per as-of date of `challenger` against `champion` in `serving.shadow_runs`."""
    con = open_warehouse(settings)
    try:
        ensure_tables(con)
        for day in days:
            con.execute(
                f"INSERT INTO {SHADOW_RUNS} (run_id, scored_at, as_of, model_name, champion_version,"
                " challenger_version, rows) VALUES (?, now(), ?, ?, ?, ?, 100)",
                [f"run-{day}", day, settings.registry.model_name, champion, challenger],
            )
    finally:
        con.close()
