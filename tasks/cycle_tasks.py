"""Prefect tasks of the monthly cycle and its replay: cut the export, materialise the month's snapshots, read the
registry, roll back or record an action, force a degraded champion (replay's fault injection)."""

from __future__ import annotations

import logging
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from features.build import SnapshotReader
from features.store import warehouse
from ingest.asof import truncate_export
from monitoring.acting import RegistryView
from monitoring.check import history_path
from monitoring.history import record_action
from monitoring.replay import cycle_snapshot_dates, shuffle_labels
from registry.aliases import current_aliases, reconcile, rollback
from registry.audit import record
from registry.gates import promote_version
from serving.shadow import shadow_run_count
from tasks.retry import retry_on_io
from tasks.serving_tasks import serving_artifacts_task
from tasks.training_tasks import load_training_frame_task, log_and_register_task, train_task
from xsell.settings import Settings

logger = logging.getLogger(__name__)


@task(name="truncate-export", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def truncate_export_task(raw_dir: Path, out_dir: Path, as_of: date) -> Path:
    """Write the export as it was known at the end of `as_of` (replaces `out_dir`)."""
    return truncate_export(raw_dir, out_dir, as_of)


@task(name="materialise-cycle-snapshots", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def materialise_cycle_snapshots_task(settings: Settings, as_of: date) -> list[str]:
    """Materialise (once, from the latest load) the snapshots the month reads: scoring, monitoring and gates."""
    dates = cycle_snapshot_dates(settings, as_of)
    with warehouse(settings) as con:
        reader = SnapshotReader(con, settings)
        return [day.isoformat() for day in dates if reader.ensure(day)]


@task(name="registry-view", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def registry_view_task(settings: Settings) -> Any:
    """The aliases, the challenger's shadow runs and the gates' mode (a `monitoring.acting.RegistryView`)."""
    reconcile(settings)
    aliases = current_aliases(settings)
    runs = shadow_run_count(settings, aliases.challenger) if aliases.challenger is not None else 0
    gates = settings.registry.gates
    return RegistryView(
        champion=aliases.champion,
        challenger=aliases.challenger,
        previous_champion=aliases.previous_champion,
        challenger_shadow_runs=runs,
        min_shadow_runs=gates.min_shadow_runs,
        gates_mode=gates.mode,
    )


@task(name="rollback", cache_policy=NO_CACHE)
def rollback_task(settings: Settings, reason: str, evidence: dict[str, Any], actor: str) -> dict[str, Any]:
    """Move the champion back to the previous champion; the audit event as plain values."""
    return rollback(settings, reason, actor, evidence=evidence).to_dict()


@task(name="record-action", cache_policy=NO_CACHE)
def record_action_task(
    settings: Settings,
    action: str,
    *,
    from_version: int | None,
    to_version: int | None,
    reason: str,
    evidence: dict[str, Any],
    outcome: str,
    actor: str,
) -> dict[str, Any]:
    """Append one event (`retrain`, `retrain_deferred`, ...) to the audit trail; the event as plain values."""
    event = record(
        settings,
        action,
        from_version=from_version,
        to_version=to_version,
        reason=reason,
        evidence=evidence,
        outcome=outcome,
        actor=actor,
    )
    return event.to_dict()


@task(name="note-check-action", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def note_check_action_task(settings: Settings, as_of: str, action: str) -> None:
    """Note in the checks history what was done about the check of `as_of` (only a carried-out retrain restarts
    the drift debounce)."""
    record_action(history_path(settings), as_of, action)


@task(name="force-degraded-champion", cache_policy=NO_CACHE)
def force_degraded_champion_task(settings: Settings, as_of: date, trials: int | None) -> dict[str, Any]:
    """Train a model on labels permuted within each snapshot (it learns nothing), register it and promote it to
    champion by force past the gates: replay's way to show that monitoring rolls a bad champion back.

    The train flow's own tasks (load, train, serving artifacts, log and register), with the labels permuted
    between load and train; then the forced promotion."""
    frame = load_training_frame_task(settings, as_of)
    result = train_task(shuffle_labels(frame, settings.seed), settings, trials, None)
    reason = f"replay fault injection at {as_of}: a model trained on permuted labels"
    extra = serving_artifacts_task(result, settings)
    registered = log_and_register_task(result, settings, reason=reason, extra=extra)
    version = int(registered["version"])
    promoted = promote_version(
        settings,
        version,
        reason,
        actor="xsell simulate",
        shadow_runs=partial(shadow_run_count, settings),
        force=True,
    )
    logger.warning("forced degraded v%d to champion at %s", version, as_of)
    return {"version": version, "promoted": promoted.promoted, "event": promoted.event.to_dict()}
