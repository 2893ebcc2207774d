"""Flow `score`: publish the champion's scores at a date, shadow-score the challenger, judge it when due."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, unmapped

from serving.batch import account_chunks
from tasks.serving_tasks import (
    judge_challenger_task,
    prepare_scoring_task,
    publish_scored_task,
    realise_shadow_task,
    reconcile_aliases_task,
    score_chunk_task,
    shadow_scores_task,
)
from xsell.faults import fault_point
from xsell.settings import Settings


@dataclass(frozen=True)
class Scored:
    """What a scoring run published (files, counts, tiers, the model), then the shadow comparison, the realised
    metrics of matured shadow runs and the gates' verdict (None when not run)."""

    run_id: str
    as_of: str
    out: str
    crm: str
    alerts: str
    adoption_path: str
    rows: int
    accounts: int
    tiers: dict[str, int]
    alert_rows: int
    previous_as_of: str | None
    model_name: str
    model_version: int
    model_uri: str
    tier_policy: str
    seconds: dict[str, float]
    shadow: dict[str, Any] | None = None
    realised: list[dict[str, Any]] | None = None
    gates: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, in the CLI's key order."""
        return dict(vars(self))


@flow(name="score", log_prints=False, validate_parameters=False)
def score_flow(as_of: date, out: Path, settings: Settings, model_uri: str | None = None) -> Scored:
    """Score the snapshot at `as_of` with `model_uri` (default: the champion alias, resolved now) into `out` and its
    CRM and alert files (chunks of accounts scored on the task runner, published from this process); then the
    challenger in shadow, realised metrics of matured shadow runs, and the gates."""
    reconcile_aliases_task(settings)
    prepared = prepare_scoring_task(settings, as_of, out, model_uri)
    chunks = account_chunks(prepared.rows, settings.compute.scoring_chunk_rows)
    scored = score_chunk_task.map(chunks, model=unmapped(prepared.loaded)).result()
    fault_point("score.publishing")
    published = Scored(**publish_scored_task(settings, prepared, scored, out))
    fault_point("score.shadow")
    shadow = shadow_scores_task(settings, prepared, scored)
    realised = realise_shadow_task(settings)
    decision = judge_challenger_task(settings, f"shadow run {published.run_id}") if shadow else None
    return replace(published, shadow=shadow, realised=realised, gates=decision)
