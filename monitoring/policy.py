"""The decision policy of a monitoring check: `rollback`, `retrain` or `none`, as a pure function.

- `rollback`: the champion's realised PR-AUC is below the previous champion's (same rows) by more than
  `rollback_margin` (relative); only with a previous champion and enough positives.
- `retrain`: drift persisted in `persist_checks` of the last `window_checks` checks of the same champion, counted
  since its last retrain that was carried out (debounced; a deferred retrain does not restart the count), or the
  realised ROC-AUC fell below `min_roc_auc`, or the realised PR-AUC fell below the champion's holdout PR-AUC x
  (1 - `max_pr_auc_drop`), or one product's realised ROC-AUC fell below its holdout ROC-AUC less
  `max_product_roc_auc_drop` (off by default), or the realised ROC-AUC decayed from the champion's own baseline
  on live data, overall (`max_roc_auc_decay`) or for one product (`max_product_roc_auc_decay`): concept drift
  barely moves the inputs and shows first as one product's ranking decaying.
- `none` otherwise. Rollback wins over retrain: it is the quicker remedy, and the reasons list both.

The decay baseline is the champion's first check measured out of sample: on snapshots labelled after its training
labels ended (the monitor's plan says so). A check right after training labels the same conversions the last
training snapshots did, so it flatters the model and would make ordinary ageing look like decay. A decay counts
when the fall is at least the setting and past chance: the fall less the combined half-width of the baseline's and
the current interval is above zero.

With bootstrap intervals (`bootstrap_resamples` > 0) the floors and the rollback act only when the whole
`confidence` interval is past its bar: the upper end of the realised metric below the floor, the upper end of the
paired champion / previous champion PR-AUC ratio below 1 - `rollback_margin`.
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
    realised_roc_auc_ci: tuple[float, float] | None = None  # its bootstrap interval (None: not computed)
    realised_out_of_sample: bool | None = None  # its rows' labels start after the training labels (None: legacy)
    # product -> roc_auc, roc_auc_ci, positives
    realised_products: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.realised_roc_auc_ci is not None:  # a JSON list read back
            object.__setattr__(self, "realised_roc_auc_ci", tuple(self.realised_roc_auc_ci))

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

    as_of: date
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
            "as_of": self.as_of.isoformat(),
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
        performance = self.metrics.get("realised") or {}
        realised = performance.get("champion") or {}
        products = {
            str(product): {
                "roc_auc": m.get("roc_auc"),
                "roc_auc_ci": m.get("roc_auc_ci"),
                "positives": int(m.get("positives") or 0),
            }
            for product, m in (performance.get("champion_products") or {}).items()
        }
        interval = realised.get("roc_auc_ci")
        return CheckRecord(
            as_of=self.as_of.isoformat(),
            champion_version=self.champion_version,
            drifted=self.drifted,
            drift_share=self.drift_share,
            prediction_drift=prediction.get("score") if isinstance(prediction, dict) else None,
            decision=self.decision,
            recorded_at=recorded_at,
            action=action,
            realised_roc_auc=realised.get("roc_auc"),
            realised_positives=int(realised.get("positives") or 0),
            realised_roc_auc_ci=(float(interval[0]), float(interval[1])) if interval else None,
            realised_out_of_sample=bool(performance.get("out_of_sample", True)) if performance else None,
            realised_products=products,
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


@dataclass(frozen=True)
class _Baseline:
    """The champion's realised ROC-AUC at its first out-of-sample check (and its interval when known)."""

    as_of: str
    roc_auc: float
    interval: tuple[float, float] | None


def _baseline(
    as_of: str,
    champion_version: int,
    history: Sequence[CheckRecord],
    policy: PolicySettings,
    product: str | None = None,
) -> _Baseline | None:
    """The champion's baseline on live data, overall or for `product`: its first earlier check measured out of sample
    (labels after its training labels) on at least `min_positives` positives."""
    for record in history:  # oldest first
        if (
            record.as_of >= as_of
            or record.champion_version != champion_version
            or record.realised_out_of_sample is not True  # in sample, or recorded before the flag (unpurged)
        ):
            continue
        if product is None:
            roc, interval, positives = (
                _value(record.realised_roc_auc),
                record.realised_roc_auc_ci,
                record.realised_positives,
            )
        else:
            entry = record.realised_products.get(product) or {}
            roc, positives = _value(entry.get("roc_auc")), int(entry.get("positives") or 0)
            interval = tuple(entry["roc_auc_ci"]) if entry.get("roc_auc_ci") else None  # type: ignore[assignment]
        if roc is not None and positives >= policy.min_positives:
            return _Baseline(record.as_of, roc, interval)
    return None


def _half_width(interval: tuple[float, float] | None) -> float | None:
    """Half the width of a bootstrap interval (None when unknown or not finite)."""
    if interval is None or _value(interval[0]) is None or _value(interval[1]) is None:
        return None
    return (float(interval[1]) - float(interval[0])) / 2


def _decayed(
    metrics: ModelMetrics, baseline: _Baseline | None, decay: float | None, policy: PolicySettings
) -> str | None:
    """The reason when the realised ROC-AUC fell at least `decay` below the baseline and the fall is past chance: the
    fall less the combined half-width of the two intervals (square root of the sum of squares: two samples of
    different snapshots; an unknown interval counts as none) is still above zero. Else None."""
    roc = _value(metrics.roc_auc)
    if decay is None or baseline is None or roc is None or not _usable(metrics, policy):
        return None
    fall = baseline.roc_auc - roc
    margin = math.hypot(_half_width(metrics.roc_auc_ci) or 0.0, _half_width(baseline.interval) or 0.0)
    if fall < decay or fall - margin <= 0:
        return None
    past = f", {margin:.4f} past chance" if margin else ""
    return (
        f"realised ROC-AUC {_bounded(roc, metrics.roc_auc_ci)} fell {fall:.4f} (at least {decay:.2f}{past}) below "
        f"champion v{metrics.version}'s first out-of-sample realised ROC-AUC "
        f"{_bounded(baseline.roc_auc, baseline.interval)} ({baseline.as_of})"
    )


def _decay_reasons(
    as_of: str,
    perf: RealisedPerformance | None,
    history: Sequence[CheckRecord],
    policy: PolicySettings,
    champion_version: int,
) -> list[str]:
    """Retrain reasons when the realised ROC-AUC, overall (`max_roc_auc_decay`) or of one product
    (`max_product_roc_auc_decay`), fell past its bar below the champion's own baseline on live data."""
    if perf is None:
        return []
    version = champion_version
    reasons = []
    overall = _decayed(perf.champion, _baseline(as_of, version, history, policy), policy.max_roc_auc_decay, policy)
    if overall:
        reasons.append(overall)
    for product, metrics in sorted(perf.champion_products.items()):
        baseline = _baseline(as_of, version, history, policy, product)
        decayed = _decayed(metrics, baseline, policy.max_product_roc_auc_decay, policy)
        if decayed:
            reasons.append(f"{product}: {decayed} on {metrics.positives} positives")
    return reasons


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
    check_day = as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of))
    day = check_day.isoformat()
    drifted = is_drifted(drift, policy)
    flags = _window(day, champion_version, drifted, history, policy.window_checks)
    count = sum(flags)
    rollback, retrain = _performance_reasons(performance, policy)
    retrain += _decay_reasons(day, performance, history, policy, champion_version)
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
        as_of=check_day,
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
