"""Flows `act-on-decision` and `monthly-cycle`: monitoring decisions carried out, and one month of the live loop.

A `retrain` decision runs the `train` flow as of the decision's date (the new version becomes the challenger; the
next scoring shadow-scores it and the promotion gates judge it), a `rollback` decision runs the registry
rollback; both, and a deferred action, are recorded in the audit trail with the check's `decision.json` as
evidence. `monitoring.acting.plan_action` says what to do.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow

from flows.compute import on_compute
from flows.consolidate import consolidate_flow
from flows.monitor import monitor_flow
from flows.score import score_flow
from flows.train import train_flow
from monitoring.acting import plan_action
from monitoring.check import monitoring_dir
from monitoring.policy import Decision
from tasks.cycle_tasks import (
    force_degraded_champion_task,
    materialise_cycle_snapshots_task,
    note_check_action_task,
    record_action_task,
    registry_view_task,
    rollback_task,
)
from xsell.settings import Settings

logger = logging.getLogger(__name__)

#: Who the audit trail names for actions taken on a monitoring decision.
ACTOR = "xsell monitor"


def decision_evidence(settings: Settings, decision: Decision) -> dict[str, Any]:
    """The audit evidence of an action: the decision file and what it said."""
    return {
        "decision_json": str(monitoring_dir(settings) / decision.as_of / "decision.json"),
        "as_of": decision.as_of,
        "decision": decision.decision,
        "reasons": list(decision.reasons),
        "drift_share": decision.drift_share,
        "champion_version": decision.champion_version,
        "report_html": decision.report_html,
    }


@flow(name="act-on-decision", log_prints=False, validate_parameters=False)
def act_on_decision_flow(
    settings: Settings, decision: Decision, trials: int | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Carry out `decision`: retrain (the `train` flow as of its date), roll back, or defer; record it in the
    audit trail with the decision as evidence. Returns `{action, reason, event, trained}`."""
    view = registry_view_task(settings)
    action = plan_action(decision.decision, view)
    evidence = decision_evidence(settings, decision)
    why = f"monitoring decision {decision.decision} at {decision.as_of}: " + "; ".join(decision.reasons)
    out: dict[str, Any] = {**action.to_dict(), "event": None, "trained": None}
    if action.kind == "retrain":
        try:
            trained = train_flow(
                settings=settings, as_of=date.fromisoformat(decision.as_of), trials=trials, timeout=timeout
            )
        except Exception as exc:
            record_action_task(
                settings,
                "retrain_failed",
                from_version=view.champion,
                to_version=None,
                reason=why,
                evidence=evidence | {"error": f"{type(exc).__name__}: {exc}"},
                outcome="no challenger registered",
                actor=ACTOR,
            )
            note_check_action_task(settings, decision.as_of, "retrain_failed")
            raise
        out["trained"] = {k: v for k, v in trained.items() if k != "plan"}
        out["event"] = record_action_task(
            settings,
            "retrain",
            from_version=view.champion,
            to_version=int(trained["version"]),
            reason=why,
            evidence=evidence | {"run_id": trained.get("run_id"), "trained_as_of": decision.as_of},
            outcome=(
                f"registered v{trained['version']} as challenger; shadow-scored by the next scoring runs and judged "
                f"by the promotion gates after {settings.registry.gates.min_shadow_runs} of them"
            ),
            actor=ACTOR,
        )
    elif action.kind == "rollback":
        out["event"] = rollback_task(settings, why, evidence, ACTOR)
    elif action.kind == "defer":
        out["event"] = record_action_task(
            settings,
            f"{decision.decision}_deferred",
            from_version=view.champion,
            to_version=view.challenger if decision.decision == "retrain" else view.previous_champion,
            reason=why,
            evidence=evidence,
            outcome=f"deferred: {action.reason}",
            actor=ACTOR,
        )
    note_check_action_task(settings, decision.as_of, action.kind)
    logger.info("acted on %s at %s: %s (%s)", decision.decision, decision.as_of, action.kind, action.reason)
    return out


@flow(name="monthly-cycle", log_prints=False, validate_parameters=False)
def monthly_cycle_flow(
    settings: Settings,
    raw_dir: Path,
    as_of: date,
    trials: int | None = None,
    act: bool = True,
    bootstrap: bool = True,
    force_degraded: bool = False,
) -> dict[str, Any]:
    """One month of the loop at `as_of`: consolidate `raw_dir`, train a first champion when none exists
    (`bootstrap`), optionally force a degraded champion (replay's fault injection), materialise the month's
    snapshots, score (champion + challenger in shadow, gates), monitor, and act on the decision (`act`)."""
    from registry.aliases import current_aliases

    consolidate_flow(raw_dir=raw_dir, settings=settings)
    trained = None
    if bootstrap and current_aliases(settings).champion is None:
        trained = train_flow(settings=settings, as_of=as_of, trials=trials, timeout=None)
        trained = {k: v for k, v in trained.items() if k != "plan"}
    degraded = force_degraded_champion_task(settings, as_of, trials) if force_degraded else None
    materialise_cycle_snapshots_task(settings, as_of)
    before = current_aliases(settings)
    out = settings.home / "scores" / f"scores-{as_of.isoformat()}.csv"
    scored = on_compute(score_flow, settings)(as_of=as_of, out=out, settings=settings, model_uri=None)
    decision = monitor_flow(as_of=as_of, settings=settings)
    acted = act_on_decision_flow(settings, decision, trials=trials) if act else None
    after = current_aliases(settings)
    return {
        "as_of": as_of.isoformat(),
        "bootstrap": trained,
        "degraded": degraded,
        "aliases_before": before.to_dict(),
        "aliases_after": after.to_dict(),
        "scored": {k: scored.get(k) for k in ("rows", "model_version", "shadow", "gates")},
        "decision": decision,
        "decision_json": str(monitoring_dir(settings) / decision.as_of / "decision.json"),
        "acted": acted,
    }
