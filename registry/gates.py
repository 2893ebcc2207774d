"""Promotion gates: may the challenger replace the champion? Both are re-scored on the same recent labelled rows.

The checks themselves (`pr_auc_gain`, `calibration`, `per_product`, `segment_parity`, `shadow_runs`; thresholds
in `registry.gates`) are pure functions of scored rows, in `registry.gate_checks`. Here: choosing the labelled
rows, re-scoring both registered models, the report, and what a verdict does. The mode decides: `disabled` (nothing is evaluated), `dry_run` (recorded,
never blocks), `enabled` (a failure refuses a promotion unless forced; a pass after shadow runs promotes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features.build import SnapshotReader
from features.store import warehouse
from registry.access import AccessDenied, require_champion_mover
from registry.aliases import current_aliases, promote, reconcile, require_version
from registry.audit import AuditEvent, record
from registry.errors import RegistryError
from registry.gate_checks import GateCheck, compare_scores, shadow_check
from registry.models import load_model, resolve_version
from training.dataset import labelled_snapshot_dates
from xsell.fileio import write_json_atomic
from xsell.settings import Settings

__all__ = [
    "GateDecision",
    "PromotionResult",
    "ShadowRunCount",
    "evaluate_gates",
    "maybe_promote",
    "promote_version",
    "recent_labelled_frame",
]

logger = logging.getLogger(__name__)

ShadowRunCount = Callable[[int], int]
"""How many as-of dates a model version was shadow-scored on (the serving layer counts; the gates only judge)."""


@dataclass(frozen=True)
class GateDecision:
    """The verdict on a challenger against the champion: every check, the metrics behind them, the report."""

    model_name: str
    champion_version: int
    challenger_version: int
    mode: str
    checks: tuple[GateCheck, ...]
    evidence: dict[str, Any] = field(default_factory=dict)
    report_path: str | None = None

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[str]:
        """Names of the checks that failed."""
        return [check.name for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the audit evidence and the report)."""
        return {
            "model_name": self.model_name,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "mode": self.mode,
            "passed": self.passed,
            "failed": self.failed,
            "checks": [asdict(check) for check in self.checks],
            "evidence": self.evidence,
            "report_path": self.report_path,
        }


@dataclass(frozen=True)
class PromotionResult:
    """What `promote_version` did: promoted or refused, the audit event, and the gate verdict when evaluated."""

    promoted: bool
    event: AuditEvent
    decision: GateDecision | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values for the CLI."""
        return {
            "promoted": self.promoted,
            "event": self.event.to_dict(),
            "gates": self.decision.to_dict() if self.decision is not None else None,
        }


def _trained_until(tags: dict[str, str]) -> date | None:
    """The last as-of date of a version's training data (tag `data_window`: `START..END`), when known."""
    end = tags.get("data_window", "").partition("..")[2]
    try:
        return date.fromisoformat(end)
    except ValueError:
        return None


def recent_labelled_frame(settings: Settings, after: date | None = None) -> tuple[pd.DataFrame, list[date], bool]:
    """Labelled rows of the `registry.gates.eval_snapshots` most recent fully labelled snapshots, preferring
    those after `after` (the models' training data); returns the rows, their dates, and whether they overlap
    the training data (no later labelled snapshot existed)."""
    with warehouse(settings, read_only=True) as con:
        dates = labelled_snapshot_dates(con, settings)
        if not dates:
            raise RegistryError("no snapshot has matured labels yet: the gates have nothing to evaluate on")
        fresh = [d for d in dates if after is None or d > after]
        chosen = (fresh or dates)[-settings.registry.gates.eval_snapshots :]
        reader = SnapshotReader(con, settings)
        frame = pd.concat([reader.read(d) for d in chosen], ignore_index=True)
    frame = frame[frame["label"].notna()].reset_index(drop=True)
    frame["label"] = frame["label"].astype("int64")
    return frame, chosen, not fresh


def evaluate_gates(
    settings: Settings,
    challenger_version: int | None = None,
    *,
    shadow_runs: ShadowRunCount,
    frame: pd.DataFrame | None = None,
) -> GateDecision:
    """Re-score the champion and `challenger_version` (default: the challenger alias) on the same recent labelled
    rows (`frame`, else `recent_labelled_frame`), run every gate, write the JSON report and return the verdict.
    `shadow_runs` counts a version's shadow runs (the serving layer owns them; passed in, never imported).

    RegistryError when there is no champion or challenger, or the version does not exist.
    """
    name = settings.registry.model_name
    aliases = current_aliases(settings)
    version = challenger_version if challenger_version is not None else aliases.challenger
    if version is None:
        raise RegistryError(f"model {name!r} has no challenger (alias {settings.registry.challenger_alias!r})")
    if aliases.champion is None:
        raise RegistryError(f"model {name!r} has no champion (alias {settings.registry.champion_alias!r})")
    require_version(settings, version)
    champion = load_model(f"models:/{name}/{aliases.champion}", settings)
    challenger = load_model(f"models:/{name}/{version}", settings)
    windows = {
        "champion": _trained_until(resolve_version(champion.uri, settings).tags),
        "challenger": _trained_until(resolve_version(challenger.uri, settings).tags),
    }
    evidence: dict[str, Any] = {"trained_until": {k: v.isoformat() if v else None for k, v in windows.items()}}
    if frame is None:
        known = [d for d in windows.values() if d is not None]
        frame, dates, in_sample = recent_labelled_frame(settings, max(known) if known else None)
        evidence |= {"eval_dates": [d.isoformat() for d in dates], "in_sample": in_sample}
    gates = settings.registry.gates
    checks, metrics = compare_scores(frame, champion.predict_proba(frame), challenger.predict_proba(frame), gates)
    checks.append(shadow_check(int(shadow_runs(version)), gates.min_shadow_runs))
    evidence |= {"rows": len(frame), "positives": int(frame["label"].sum()), "metrics": metrics}
    report = _report_path(settings, champion.version, version)
    decision = GateDecision(name, champion.version, version, gates.mode, tuple(checks), evidence, str(report))
    write_json_atomic(report, decision.to_dict())
    logger.info(
        "gates on v%d vs champion v%d: %s",
        version,
        champion.version,
        "passed" if decision.passed else "failed " + ", ".join(decision.failed),
    )
    return decision


def _report_path(settings: Settings, champion: int, challenger: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return settings.reports_dir / "promotion" / f"gates-{stamp}-v{champion}-v{challenger}.json"


def _verdict(decision: GateDecision) -> str:
    return "all gates passed" if decision.passed else "failed gates: " + ", ".join(decision.failed)


def promote_version(
    settings: Settings,
    version: int | None = None,
    reason: str | None = None,
    actor: str | None = None,
    *,
    shadow_runs: ShadowRunCount,
    force: bool = False,
) -> PromotionResult:
    """Promote `version` (default: the challenger) through the gates as `registry.gates.mode` says: `enabled`
    refuses (recorded as `refuse` with the failed checks) unless `force`; `dry_run` records the verdict and
    promotes; `disabled` promotes without evaluating. RegistryError names a missing challenger or version."""
    reconcile(settings)
    name = settings.registry.model_name
    aliases = current_aliases(settings)
    if version is None:
        if aliases.challenger is None:
            raise RegistryError(
                f"model {name!r} has no challenger (alias {settings.registry.challenger_alias!r}): give --version V"
            )
        version = aliases.challenger
    require_version(settings, version)
    if aliases.champion == version:
        raise RegistryError(f"model {name!r}: version {version} is already the champion")
    mode = settings.registry.gates.mode
    why = reason or "manual promotion"
    require_champion_mover(settings, "promote", aliases.champion, version, why, actor)  # before the costly gates
    if mode == "disabled" or aliases.champion is None:
        note = "gates disabled" if mode == "disabled" else "no champion to compare with"
        event = promote(settings, version, why, actor, evidence={"gates": note}, outcome=f"promoted ({note})")
        return PromotionResult(True, event)
    try:
        decision = evaluate_gates(settings, version, shadow_runs=shadow_runs)
    except (ValueError, RuntimeError) as exc:  # RegistryError, FeatureError, TrainingError, a locked warehouse
        return _promote_unevaluated(settings, version, aliases.champion, why, actor, mode, force, exc)
    evidence = {"gates": decision.to_dict()}
    if decision.passed or mode == "dry_run" or force:
        if decision.passed:
            outcome = "promoted: all gates passed"
        elif mode == "dry_run":
            outcome = f"promoted; dry run would have refused: {', '.join(decision.failed)}"
        else:
            outcome = f"promoted by force past failed gates: {', '.join(decision.failed)}"
        return PromotionResult(
            True, promote(settings, version, why, actor, evidence=evidence, outcome=outcome), decision
        )
    event = _refuse(settings, aliases.champion, version, why, evidence, "refused: " + _verdict(decision), actor)
    return PromotionResult(False, event, decision)


def _promote_unevaluated(
    settings: Settings,
    version: int,
    champion: int,
    reason: str,
    actor: str | None,
    mode: str,
    force: bool,
    exc: Exception,
) -> PromotionResult:
    """The gates could not be evaluated: refused in `enabled` mode unless forced, else promoted with the error."""
    evidence = {"gates_error": f"{type(exc).__name__}: {exc}"}
    if mode == "enabled" and not force:
        outcome = f"refused: the gates could not be evaluated ({exc})"
        return PromotionResult(False, _refuse(settings, champion, version, reason, evidence, outcome, actor))
    how = "by force" if force and mode == "enabled" else "in dry run"
    event = promote(settings, version, reason, actor, evidence=evidence, outcome=f"promoted {how}; gates not evaluated")
    return PromotionResult(True, event)


def maybe_promote(settings: Settings, trigger: str, shadow_runs: ShadowRunCount) -> GateDecision | None:
    """After a shadow run (`trigger` says which), judge the challenger once it has `min_shadow_runs`: `dry_run`
    records the verdict (`gate_dry_run`), `enabled` promotes on a pass and records a refusal otherwise.

    None when nothing was evaluated: gates disabled, no champion or challenger (or they are the same version),
    too few shadow runs, or the gates could not be evaluated (logged).
    """
    gates = settings.registry.gates
    if gates.mode == "disabled":
        return None
    reconcile(settings)
    aliases = current_aliases(settings)
    if aliases.champion is None or aliases.challenger is None or aliases.champion == aliases.challenger:
        return None
    runs = int(shadow_runs(aliases.challenger))
    if runs < gates.min_shadow_runs:
        logger.info(
            "challenger v%d has %d of %d shadow runs: not judged yet", aliases.challenger, runs, gates.min_shadow_runs
        )
        return None
    try:
        decision = evaluate_gates(settings, aliases.challenger, shadow_runs=shadow_runs)
    except (ValueError, RuntimeError):
        logger.warning("could not evaluate the promotion gates after %s", trigger, exc_info=True)
        return None
    evidence = {"gates": decision.to_dict(), "trigger": trigger}
    reason = f"automatic check after {trigger}"
    if gates.mode == "dry_run":
        outcome = (
            "dry run: would promote" if decision.passed else "dry run: would refuse: " + ", ".join(decision.failed)
        )
        record(
            settings,
            "gate_dry_run",
            from_version=aliases.champion,
            to_version=aliases.challenger,
            reason=reason,
            evidence=evidence,
            outcome=outcome,
        )
    elif decision.passed:
        try:
            promote(
                settings,
                aliases.challenger,
                reason,
                evidence=evidence,
                outcome="promoted automatically: all gates passed",
            )
        except AccessDenied as exc:  # recorded as access_denied; the champion keeps serving
            logger.warning("challenger v%d passed the gates but was not promoted: %s", aliases.challenger, exc)
    else:
        _refuse(settings, aliases.champion, aliases.challenger, reason, evidence, "refused: " + _verdict(decision))
    return decision


def _refuse(
    settings: Settings,
    champion: int,
    version: int,
    reason: str,
    evidence: dict[str, Any],
    outcome: str,
    actor: str | None = None,
) -> AuditEvent:
    """Record that `version` was refused in favour of the serving `champion`."""
    return record(
        settings,
        "refuse",
        from_version=champion,
        to_version=version,
        reason=reason,
        evidence=evidence,
        outcome=outcome,
        actor=actor,
    )
