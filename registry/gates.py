"""Promotion gates: may the challenger replace the champion? Both are re-scored on the same recent labelled rows.

Checks (thresholds in `registry.gates`): `pr_auc_gain` (the challenger's PR-AUC beats the champion's by a
relative margin), `calibration` (its ECE is no worse beyond a tolerance), `per_product` (no product's PR-AUC
drops by more than a share), `segment_parity` (the challenger's largest gap in ROC-AUC, or in top-decile
selection rate, between segments stays within a tolerance) and `shadow_runs` (it was shadow-scored on enough
as-of dates). The mode decides what a verdict does: `disabled` (nothing is evaluated), `dry_run` (recorded,
never blocks), `enabled` (a failure refuses a promotion unless forced; a pass after shadow runs promotes).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry.access import AccessDenied, require_champion_mover
from registry.aliases import current_aliases, promote, reconcile, require_version
from registry.audit import AuditEvent, record
from registry.errors import RegistryError
from training.metrics import binary_metrics
from xsell.fileio import write_json_atomic
from xsell.settings import GateSettings, Settings

__all__ = [
    "GateCheck",
    "GateDecision",
    "PromotionResult",
    "ShadowRunCount",
    "compare_scores",
    "evaluate_gates",
    "maybe_promote",
    "promote_version",
    "recent_labelled_frame",
    "shadow_check",
]

logger = logging.getLogger(__name__)

ShadowRunCount = Callable[[int], int]
"""How many as-of dates a model version was shadow-scored on (the serving layer counts; the gates only judge)."""


@dataclass(frozen=True)
class GateCheck:
    """One gate: passed or not, the measured value against its threshold, and a sentence saying why."""

    name: str
    passed: bool
    value: float | None
    threshold: float | None
    detail: str


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


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _round(value: float | None) -> float | None:
    return round(float(value), 6) if value is not None and math.isfinite(value) else None


def _group_metrics(frame: pd.DataFrame, scores: np.ndarray, column: str, min_rows: int) -> dict[str, dict[str, Any]]:
    """Per value of `column`: rows, positives, PR-AUC, ROC-AUC and the share of its rows in the overall top decile;
    `compared` is False for groups under `min_rows` rows or with one class only."""
    y = frame["label"].to_numpy(dtype="int64")
    top = np.zeros(len(y), dtype=bool)
    top[np.argsort(-scores, kind="stable")[: max(1, math.ceil(len(y) / 10))]] = True
    groups = frame[column].astype(object).where(frame[column].notna(), "unknown").astype(str).to_numpy()
    out = {}
    for group in sorted(set(groups)):
        rows = groups == group
        metrics = binary_metrics(y[rows], scores[rows])
        positives = int(metrics["positives"])
        out[group] = {
            "rows": int(rows.sum()),
            "positives": positives,
            "pr_auc": _round(metrics["pr_auc"]),
            "roc_auc": _round(metrics["roc_auc"]),
            "top_decile_rate": _round(float(top[rows].mean())),
            "compared": bool(rows.sum() >= min_rows and 0 < positives < rows.sum()),
        }
    return out


def _model_metrics(frame: pd.DataFrame, scores: np.ndarray, gates: GateSettings) -> dict[str, Any]:
    overall = binary_metrics(frame["label"].to_numpy(dtype="int64"), scores)
    metrics: dict[str, Any] = {
        "overall": {k: _round(overall[k]) for k in ("rows", "positives", "pr_auc", "roc_auc", "ece", "brier")},
        "products": _group_metrics(frame, scores, "product", gates.min_segment_rows),
    }
    if gates.segment_column in frame.columns:
        metrics["segments"] = _group_metrics(frame, scores, gates.segment_column, gates.min_segment_rows)
    return metrics


def _parity_gap(segments: dict[str, dict[str, Any]], metric: str) -> tuple[float | None, str]:
    """The largest gap of `metric` between compared segments, and which two; None with fewer than two."""
    values = {s: m[metric] for s, m in segments.items() if m["compared"] and _finite(m[metric])}
    if len(values) < 2:
        return None, ""
    low, high = min(values, key=values.__getitem__), max(values, key=values.__getitem__)
    return values[high] - values[low], f"{high} {values[high]:.3f} vs {low} {values[low]:.3f}"


def compare_scores(
    frame: pd.DataFrame, champion: np.ndarray, challenger: np.ndarray, gates: GateSettings
) -> tuple[list[GateCheck], dict[str, Any]]:
    """The metric gates on labelled rows (`label`, `product`, and the segment column when present) scored by both
    models: pr_auc_gain, calibration, per_product, segment_parity; plus the metrics of both models."""
    if frame.empty or "label" not in frame.columns or "product" not in frame.columns:
        raise RegistryError("the gates need labelled rows with columns label and product; none were given")
    champion, challenger = np.asarray(champion, dtype="float64"), np.asarray(challenger, dtype="float64")
    if not len(champion) == len(challenger) == len(frame):
        raise RegistryError(f"scores of {len(champion)} and {len(challenger)} rows for {len(frame)} labelled rows")
    old, new = _model_metrics(frame, champion, gates), _model_metrics(frame, challenger, gates)
    checks = [
        _gain_check(old["overall"]["pr_auc"], new["overall"]["pr_auc"], gates.min_relative_gain),
        _calibration_check(old["overall"]["ece"], new["overall"]["ece"], gates.ece_tolerance),
        _product_check(old["products"], new["products"], gates.product_tolerance),
        _parity_check(old.get("segments"), new.get("segments"), gates),
    ]
    return checks, {"champion": old, "challenger": new}


def _gain_check(old: float | None, new: float | None, margin: float) -> GateCheck:
    if not (_finite(old) and _finite(new)) or not old:
        return GateCheck("pr_auc_gain", False, None, margin, "PR-AUC undefined: the labelled rows hold no positive")
    gain = new / old - 1  # type: ignore[operator]
    verdict = "beats" if gain >= margin else "does not beat"
    detail = f"challenger PR-AUC {new:.4f} vs champion {old:.4f} ({gain:+.1%}): {verdict} the {margin:+.1%} margin"
    return GateCheck("pr_auc_gain", gain >= margin, round(gain, 6), margin, detail)


def _calibration_check(old: float | None, new: float | None, tolerance: float) -> GateCheck:
    if not (_finite(old) and _finite(new)):
        return GateCheck("calibration", False, None, tolerance, "ECE undefined: no labelled rows")
    worse = new - old  # type: ignore[operator]
    passed = worse <= tolerance + 1e-12
    detail = f"challenger ECE {new:.4f} vs champion {old:.4f} (change {worse:+.4f}, tolerance {tolerance:.4f})"
    return GateCheck("calibration", passed, round(worse, 6), tolerance, detail)


def _product_check(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> GateCheck:
    changes = {}
    for product, metrics in new.items():
        before = old.get(product, {}).get("pr_auc")
        if metrics["compared"] and _finite(metrics["pr_auc"]) and _finite(before) and before:
            changes[product] = metrics["pr_auc"] / before - 1
    if not changes:
        return GateCheck("per_product", True, None, -tolerance, "no product has enough labelled rows to compare")
    worst = min(changes, key=changes.__getitem__)
    passed = changes[worst] >= -tolerance - 1e-12
    listed = ", ".join(f"{p} {c:+.1%}" for p, c in sorted(changes.items()))
    detail = f"PR-AUC change per product: {listed}; worst {worst}, allowed down to {-tolerance:.1%}"
    return GateCheck("per_product", passed, round(changes[worst], 6), -tolerance, detail)


def _parity_check(old: dict[str, Any] | None, new: dict[str, Any] | None, gates: GateSettings) -> GateCheck:
    name, metric, tolerance = "segment_parity", gates.parity_metric, gates.parity_tolerance
    if new is None:
        return GateCheck(name, True, None, tolerance, f"no segment column {gates.segment_column!r} in the rows")
    gap, between = _parity_gap(new, metric)
    if gap is None:
        return GateCheck(name, True, None, tolerance, f"fewer than two segments with enough rows to compare {metric}")
    old_gap, _ = _parity_gap(old or {}, metric)
    before = f"; champion gap {old_gap:.3f}" if old_gap is not None else ""
    detail = f"challenger {metric} gap between segments {gap:.3f} ({between}), tolerance {tolerance:.3f}{before}"
    return GateCheck(name, gap <= tolerance + 1e-12, round(gap, 6), tolerance, detail)


def shadow_check(runs: int, minimum: int) -> GateCheck:
    """The challenger was shadow-scored on at least `minimum` as-of dates."""
    detail = f"{runs} shadow run(s) of the challenger, {minimum} required"
    return GateCheck("shadow_runs", runs >= minimum, float(runs), float(minimum), detail)


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
    from features.build import read_snapshot
    from features.store import connect_warehouse
    from training.dataset import labelled_snapshot_dates

    con = connect_warehouse(settings, read_only=True)
    try:
        dates = labelled_snapshot_dates(con, settings)
        if not dates:
            raise RegistryError("no snapshot has matured labels yet: the gates have nothing to evaluate on")
        fresh = [d for d in dates if after is None or d > after]
        chosen = (fresh or dates)[-settings.registry.gates.eval_snapshots :]
        frame = pd.concat([read_snapshot(con, d, settings) for d in chosen], ignore_index=True)
    finally:
        con.close()
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
    from registry.models import load_model, resolve_version

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
