"""The decision policy of a monitoring check: `rollback`, `retrain` or `none`, as a pure function.

- `rollback`: the champion's realised PR-AUC is below the previous champion's (same rows) by more than
  `rollback_margin` (relative); only with a previous champion and enough positives.
- `retrain`: drift persisted in `persist_checks` of the last `window_checks` checks of the same champion, counted
  since its last retrain that was carried out (debounced; a deferred retrain does not restart the count), or the
  realised ROC-AUC fell below `min_roc_auc`, or the realised PR-AUC fell below the champion's holdout PR-AUC x
  (1 - `max_pr_auc_drop`), or one product's realised ROC-AUC fell below its holdout ROC-AUC less
  `max_product_roc_auc_drop` (off by default), or the realised ROC-AUC decayed more than `max_roc_auc_decay` below
  the champion's first realised ROC-AUC (its own baseline on live data: holdouts of older periods rank
  differently, and concept drift shows as decay before any floor).
- `none` otherwise. Rollback wins over retrain: it is the quicker remedy, and the reasons list both.

With bootstrap intervals (`bootstrap_resamples` > 0) the performance rules act only when the whole `confidence`
interval is past its bar: the upper end of the realised metric below the floor, the upper end of the paired
champion / previous champion PR-AUC ratio below 1 - `rollback_margin`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

from monitoring.drift import DriftResult
from monitoring.performance import ModelMetrics, RealisedPerformance
from xsell.settings import PolicySettings

__all__ = ["DECISIONS", "CheckRecord", "Decision", "decide", "is_drifted"]

DecisionKind = Literal["none", "retrain", "rollback"]
DECISIONS: tuple[str, ...] = ("none", "retrain", "rollback")


@dataclass(frozen=True)
class CheckRecord:
    """One past check as kept in the history: enough to debounce the next decisions."""

    as_of: str  # YYYY-MM-DD
    champion_version: int
    drifted: bool
    drift_share: float
    prediction_drift: float | None
    decision: str
    recorded_at: str = ""
    action: str = ""  # what was done about it: none | retrain | rollback | defer; pending until acted ("" legacy)
    realised_roc_auc: float | None = None  # the champion's realised ROC-AUC at this check (None: no labels yet)
    realised_positives: int = 0

    @property
    def retrained(self) -> bool:
        """A retrain was carried out after this check (legacy records: the decision was retrain)."""
        return self.action == "retrain" or (not self.action and self.decision == "retrain")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> CheckRecord:
        """Read one history line (unknown keys ignored)."""
        known = {k: payload[k] for k in cls.__dataclass_fields__ if k in payload}
        return cls(**known)


@dataclass(frozen=True)
class Decision:
    """What one check decided and why, with the evidence behind it (`decision.json`)."""

    as_of: str
    decision: DecisionKind
    reasons: tuple[str, ...]
    drift_share: float
    drifted_features: tuple[str, ...]
    metrics: dict[str, Any]
    report_html: str
    champion_version: int
    drifted: bool
    drifted_checks: int  # drifted checks in the debounce window, this one included
    window: int  # checks in the debounce window, this one included
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: `as_of, decision, reasons, drift_share, drifted_features, metrics, report_html` first."""
        return {
            "as_of": self.as_of,
            "decision": self.decision,
            "reasons": list(self.reasons),
            "drift_share": self.drift_share,
            "drifted_features": list(self.drifted_features),
            "metrics": self.metrics,
            "report_html": self.report_html,
            "champion_version": self.champion_version,
            "drifted": self.drifted,
            "drifted_checks": self.drifted_checks,
            "window": self.window,
            **self.extra,
        }

    def record(self, recorded_at: str = "", action: str = "pending") -> CheckRecord:
        """The history line of this check (`action` until the decision is acted on: pending)."""
        prediction = self.metrics.get("prediction_drift")
        realised = (self.metrics.get("realised") or {}).get("champion") or {}
        return CheckRecord(
            as_of=self.as_of,
            champion_version=self.champion_version,
            drifted=self.drifted,
            drift_share=self.drift_share,
            prediction_drift=prediction.get("score") if isinstance(prediction, dict) else None,
            decision=self.decision,
            recorded_at=recorded_at,
            action=action,
            realised_roc_auc=realised.get("roc_auc"),
            realised_positives=int(realised.get("positives") or 0),
        )


def is_drifted(drift: DriftResult, policy: PolicySettings) -> bool:
    """A check is drifted when the share of drifted features reaches `drift_share`, or (with `prediction_drift`)
    the champion's propensities drifted."""
    prediction = policy.prediction_drift and drift.prediction is not None and drift.prediction.drifted
    return drift.drift_share >= policy.drift_share or bool(prediction)


def _window(as_of: str, champion_version: int, drifted: bool, history: Sequence[CheckRecord], size: int) -> list[bool]:
    """Drift flags of the debounce window, oldest first: earlier checks of the same champion made after its last
    carried-out retrain (one per as-of date, the latest record wins), then this check; at most `size`."""
    earlier: dict[str, CheckRecord] = {}
    for record in history:
        if record.as_of < as_of and record.champion_version == champion_version:
            earlier[record.as_of] = record
    ordered = [earlier[d] for d in sorted(earlier)]
    retrains = [i for i, r in enumerate(ordered) if r.retrained]
    if retrains:
        ordered = ordered[retrains[-1] + 1 :]
    return ([r.drifted for r in ordered] + [drifted])[-size:]


def _baseline(
    as_of: str, champion_version: int, history: Sequence[CheckRecord], policy: PolicySettings
) -> CheckRecord | None:
    """The champion's first earlier check with a realised ROC-AUC on enough positives: its baseline on live data."""
    for record in history:  # oldest first
        if (
            record.as_of < as_of
            and record.champion_version == champion_version
            and _value(record.realised_roc_auc) is not None
            and record.realised_positives >= policy.min_positives
        ):
            return record
    return None


def _decay_reasons(perf: RealisedPerformance | None, baseline: CheckRecord | None, policy: PolicySettings) -> list[str]:
    """A retrain reason when the realised ROC-AUC (upper end of its interval) fell more than `max_roc_auc_decay`
    below the champion's baseline."""
    decay = policy.max_roc_auc_decay
    if decay is None or baseline is None or perf is None or not _usable(perf.champion, policy):
        return []
    roc, first = _value(perf.champion.roc_auc), _value(baseline.realised_roc_auc)
    upper = _upper(roc, perf.champion.roc_auc_ci)
    if roc is None or first is None or upper is None or upper >= first - decay:
        return []
    return [
        f"realised ROC-AUC {_bounded(roc, perf.champion.roc_auc_ci)} fell more than {decay:.2f} below champion "
        f"v{perf.champion.version}'s first realised ROC-AUC {first:.4f} ({baseline.as_of})"
    ]


def _usable(metrics: ModelMetrics | None, policy: PolicySettings) -> bool:
    return metrics is not None and metrics.positives >= policy.min_positives and metrics.rows > metrics.positives


def _value(value: float | None) -> float | None:
    """`value` when finite, else None."""
    return float(value) if value is not None and math.isfinite(value) else None


def _upper(point: float | None, interval: tuple[float, float] | None) -> float | None:
    """The upper end of `interval` when there is one, else the point estimate."""
    return _value(interval[1]) if interval is not None else point


def _bounded(point: float, interval: tuple[float, float] | None) -> str:
    """`0.1234`, or `0.1234 (interval 0.1000-0.1400)` when the bootstrap interval is known."""
    return f"{point:.4f}" if interval is None else f"{point:.4f} (interval {interval[0]:.4f}-{interval[1]:.4f})"


def _performance_reasons(perf: RealisedPerformance | None, policy: PolicySettings) -> tuple[list[str], list[str]]:
    """(rollback reasons, retrain reasons) from the realised metrics, acting only past the intervals when known."""
    if perf is None or not _usable(perf.champion, policy):
        return [], []
    champion, previous = perf.champion, perf.previous_champion
    pr_auc, roc_auc = _value(champion.pr_auc), _value(champion.roc_auc)
    rollback, retrain = [], []
    previous_pr = _value(previous.pr_auc) if previous is not None and _usable(previous, policy) else None
    if previous is not None and previous_pr is not None and pr_auc is not None:
        bar = 1 - policy.rollback_margin
        ratio = pr_auc / previous_pr if previous_pr > 0 else float("nan")
        upper = _upper(ratio, perf.pr_auc_ratio_ci)
        if upper is not None and upper < bar:
            rollback.append(
                f"champion v{champion.version} realised PR-AUC {pr_auc:.4f} is below previous champion "
                f"v{previous.version}'s {previous_pr:.4f} by more than {policy.rollback_margin:.0%}: ratio "
                f"{_bounded(ratio, perf.pr_auc_ratio_ci)} below {bar:.2f} on the same {champion.rows} rows"
            )
    roc_upper = _upper(roc_auc, champion.roc_auc_ci)
    floor_roc = policy.min_roc_auc
    if floor_roc is not None and roc_auc is not None and roc_upper is not None and roc_upper < floor_roc:
        retrain.append(f"realised ROC-AUC {_bounded(roc_auc, champion.roc_auc_ci)} is below the floor {floor_roc:.4f}")
    holdout = _value(perf.champion_holdout.get("pr_auc"))
    pr_upper = _upper(pr_auc, champion.pr_auc_ci)
    if policy.max_pr_auc_drop is not None and pr_auc is not None and holdout is not None and pr_upper is not None:
        floor = holdout * (1 - policy.max_pr_auc_drop)
        if pr_upper < floor:
            retrain.append(
                f"realised PR-AUC {_bounded(pr_auc, champion.pr_auc_ci)} is below the floor {floor:.4f} "
                f"(holdout PR-AUC {holdout:.4f} less {policy.max_pr_auc_drop:.0%})"
            )
    retrain += _product_reasons(perf, policy)
    return rollback, retrain


def _product_reasons(perf: RealisedPerformance, policy: PolicySettings) -> list[str]:
    """Retrain reasons from products whose realised ROC-AUC fell below their holdout ROC-AUC less
    `max_product_roc_auc_drop` (ROC-AUC does not move with a product's base rate; past the interval when known)."""
    drop = policy.max_product_roc_auc_drop
    reasons = []
    for product, realised in sorted(perf.champion_products.items()):
        holdout = _value(perf.champion_holdout_products.get(product, {}).get("roc_auc"))
        roc = _value(realised.roc_auc)
        if drop is None or holdout is None or roc is None or not _usable(realised, policy):
            continue
        upper = _upper(roc, realised.roc_auc_ci)
        if upper is not None and upper < holdout - drop:
            reasons.append(
                f"{product}: realised ROC-AUC {_bounded(roc, realised.roc_auc_ci)} is below its holdout ROC-AUC "
                f"{holdout:.4f} less {drop:.2f} on {realised.positives} positives"
            )
    return reasons


def decide(
    as_of: date | str,
    drift: DriftResult,
    history: Sequence[CheckRecord],
    performance: RealisedPerformance | None,
    policy: PolicySettings,
    *,
    champion_version: int,
) -> Decision:
    """Decide `rollback`, `retrain` or `none` for the check at `as_of` from its drift, the earlier checks and the
    realised performance (None when no labels have matured); pure: nothing is read or written."""
    day = as_of.isoformat() if isinstance(as_of, date) else str(as_of)
    drifted = is_drifted(drift, policy)
    flags = _window(day, champion_version, drifted, history, policy.window_checks)
    count = sum(flags)
    rollback, retrain = _performance_reasons(performance, policy)
    retrain += _decay_reasons(performance, _baseline(day, champion_version, history, policy), policy)
    notes = []
    if count >= policy.persist_checks:
        retrain.insert(
            0,
            f"drift persisted in {count} of the last {len(flags)} checks (needs {policy.persist_checks} of "
            f"{policy.window_checks}); drift share {drift.drift_share:.2f}",
        )
    elif drifted:
        notes.append(
            f"drifted now (share {drift.drift_share:.2f}) but in {count} of the last {len(flags)} checks only "
            f"(needs {policy.persist_checks} of {policy.window_checks})"
        )
    else:
        notes.append(f"no drift: share {drift.drift_share:.2f} below {policy.drift_share:.2f}")
    if performance is None:
        notes.append("no snapshot after the training data has matured labels yet")
    elif not _usable(performance.champion, policy):
        notes.append(
            f"realised metrics on {performance.champion.positives} positives only "
            f"(needs {policy.min_positives}): reported, not acted on"
        )
    kind: DecisionKind = "rollback" if rollback else "retrain" if retrain else "none"
    reasons = tuple(rollback + retrain) if kind != "none" else tuple(notes)
    metrics: dict[str, Any] = {
        "drift_share": drift.drift_share,
        "prediction_drift": asdict(drift.prediction) if drift.prediction is not None else None,
        "realised": performance.to_dict() if performance is not None else None,
    }
    return Decision(
        as_of=day,
        decision=kind,
        reasons=reasons,
        drift_share=drift.drift_share,
        drifted_features=drift.drifted_features,
        metrics=metrics,
        report_html=drift.html_path,
        champion_version=champion_version,
        drifted=drifted,
        drifted_checks=count,
        window=len(flags),
    )
