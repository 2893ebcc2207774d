"""Flows `act-on-decision` and `monthly-cycle`: monitoring decisions carried out, and one month of the live loop.

A `retrain` decision runs the `train` flow as of the decision's date (the new version becomes the challenger; the
next scoring shadow-scores it and the promotion gates judge it), a `rollback` decision runs the registry
rollback; both, and a deferred action, are recorded in the audit trail with the check's `decision.json` as
evidence. `monitoring.acting.plan_action` says what to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow

from flows.compute import on_compute
from flows.consolidate import consolidate_flow
from flows.monitor import monitor_flow
from flows.score import score_flow
from flows.train import train_flow
from monitoring.acting import Action, plan_action
from monitoring.check import monitoring_dir
from monitoring.policy import Decision
from registry.aliases import current_aliases
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


@dataclass(frozen=True)
class Acted:
    """What was done about a monitoring decision: the planned action, its audit event and the new registration
    (after a retrain)."""

    action: Action
    event: dict[str, Any] | None = None
    trained: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """`none`, `retrain`, `rollback` or `defer`."""
        return self.action.kind

    @property
    def reason(self) -> str:
        """Why this action."""
        return self.action.reason

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: the action's fields, then `event` and `trained`."""
        return {**self.action.to_dict(), "event": self.event, "trained": self.trained}


@dataclass(frozen=True)
class CycleResult:
    """One month of the loop: what was trained or forced, the aliases before and after, the scoring's headline, the
    monitoring decision and what was done about it."""

    as_of: date
    bootstrap: dict[str, Any] | None
    degraded: dict[str, Any] | None
    aliases_before: dict[str, Any]
    aliases_after: dict[str, Any]
    scored: dict[str, Any]
    decision: Decision
    decision_json: str
    acted: Acted | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "as_of": self.as_of.isoformat(),
            "bootstrap": self.bootstrap,
            "degraded": self.degraded,
            "aliases_before": self.aliases_before,
            "aliases_after": self.aliases_after,
            "scored": self.scored,
            "decision": self.decision.to_dict(),
            "decision_json": self.decision_json,
            "acted": self.acted.to_dict() if self.acted is not None else None,
        }


def decision_json(settings: Settings, decision: Decision) -> Path:
    """Where the check of `decision` wrote its `decision.json`."""
    return monitoring_dir(settings) / decision.as_of.isoformat() / "decision.json"


def decision_evidence(settings: Settings, decision: Decision) -> dict[str, Any]:
    """The audit evidence of an action: the decision file and what it said."""
    return {
        "decision_json": str(decision_json(settings, decision)),
        "as_of": decision.as_of.isoformat(),
        "decision": decision.decision,
        "reasons": list(decision.reasons),
        "drift_share": decision.drift_share,
        "champion_version": decision.champion_version,
        "report_html": decision.report_html,
    }


@flow(name="act-on-decision", log_prints=False, validate_parameters=False)
def act_on_decision_flow(
    settings: Settings, decision: Decision, trials: int | None = None, timeout: float | None = None
) -> Acted:
    """Carry out `decision`: retrain (the `train` flow as of its date), roll back, or defer; record it in the
    audit trail with the decision as evidence."""
    view = registry_view_task(settings)
    action = plan_action(decision.decision, view)
    evidence = decision_evidence(settings, decision)
    why = f"monitoring decision {decision.decision} at {decision.as_of}: " + "; ".join(decision.reasons)
    day = decision.as_of.isoformat()
    acted = Acted(action)
    if action.kind == "retrain":
        try:
            trained = train_flow(settings=settings, as_of=decision.as_of, trials=trials, timeout=timeout)
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
            note_check_action_task(settings, day, "retrain_failed")
            raise
        event = record_action_task(
            settings,
            "retrain",
            from_version=view.champion,
            to_version=trained.version,
            reason=why,
            evidence=evidence | {"run_id": trained.run_id, "trained_as_of": day},
            outcome=(
                f"registered v{trained.version} as challenger; shadow-scored by the next scoring runs and judged "
                f"by the promotion gates after {settings.registry.gates.min_shadow_runs} of them"
            ),
            actor=ACTOR,
        )
        acted = Acted(action, event=event, trained=trained.registration())
    elif action.kind == "rollback":
        acted = Acted(action, event=rollback_task(settings, why, evidence, ACTOR))
    elif action.kind == "defer":
        event = record_action_task(
            settings,
            f"{decision.decision}_deferred",
            from_version=view.champion,
            to_version=view.challenger if decision.decision == "retrain" else view.previous_champion,
            reason=why,
            evidence=evidence,
            outcome=f"deferred: {action.reason}",
            actor=ACTOR,
        )
        acted = Acted(action, event=event)
    note_check_action_task(settings, day, action.kind)
    logger.info("acted on %s at %s: %s (%s)", decision.decision, day, action.kind, action.reason)
    return acted


@flow(name="monthly-cycle", log_prints=False, validate_parameters=False)
def monthly_cycle_flow(
    settings: Settings,
    raw_dir: Path,
    as_of: date,
    trials: int | None = None,
    act: bool = True,
    bootstrap: bool = True,
    force_degraded: bool = False,
) -> CycleResult:
    """One month of the loop at `as_of`: consolidate `raw_dir`, train a first champion when none exists
    (`bootstrap`), optionally force a degraded champion (replay's fault injection), materialise the month's
    snapshots, score (champion + challenger in shadow, gates), monitor, and act on the decision (`act`)."""
    consolidate_flow(raw_dir=raw_dir, settings=settings)
    trained = None
    if bootstrap and current_aliases(settings).champion is None:
        trained = train_flow(settings=settings, as_of=as_of, trials=trials, timeout=None).registration()
    degraded = force_degraded_champion_task(settings, as_of, trials) if force_degraded else None
    materialise_cycle_snapshots_task(settings, as_of)
    before = current_aliases(settings)
    out = settings.home / "scores" / f"scores-{as_of.isoformat()}.csv"
    scored = on_compute(score_flow, settings)(as_of=as_of, out=out, settings=settings, model_uri=None)
    decision = monitor_flow(as_of=as_of, settings=settings)
    acted = act_on_decision_flow(settings, decision, trials=trials) if act else None
    after = current_aliases(settings)
    return CycleResult(
        as_of=as_of,
        bootstrap=trained,
        degraded=degraded,
        aliases_before=before.to_dict(),
        aliases_after=after.to_dict(),
        scored={
            "rows": scored.rows,
            "model_version": scored.model_version,
            "shadow": scored.shadow,
            "gates": scored.gates,
        },
        decision=decision,
        decision_json=str(decision_json(settings, decision)),
        acted=acted,
    )
