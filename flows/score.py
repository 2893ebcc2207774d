"""Flow `score`: the model behind a registry URI scores every eligible account x product at a date."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow

from tasks.training_tasks import score_snapshot_task
from xsell.settings import Settings


@flow(name="score", log_prints=False, validate_parameters=False)
def score_flow(as_of: date, out: Path, settings: Settings, model_uri: str | None = None) -> dict[str, Any]:
    """Score the snapshot at `as_of` with `model_uri` (default: the champion alias) into `out`."""
    uri = model_uri or f"models:/{settings.registry.model_name}@{settings.registry.champion_alias}"
    return score_snapshot_task(as_of, uri, out, settings)
