"""One monitoring check at an as-of date: plan it, measure drift and realised performance, decide, record, attach.

Plain functions (no orchestrator): `plan_check` resolves the champion (and challenger, previous champion), the
reference snapshots (the champion's training window) and the snapshots whose labels matured; `drift_check` runs
the Evidently report; `performance_check` scores the matured snapshots with every model; `record_decision`
applies the policy against the history and writes `decision.json`; `attach_to_champion` logs the folder to the
champion's MLflow run. `run_check` does all of it. Outputs go to `HOME/reports/monitoring/<as_of>/`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from features.build import SnapshotReader, feature_code_fingerprint
from features.calendar import SnapshotCalendar
from features.errors import FeatureError
from features.grid import snapshot_calendar
from features.store import warehouse
from monitoring.drift import DriftResult, compare_frames
from monitoring.errors import MonitoringError
from monitoring.history import read_history, record_check
from monitoring.model_refs import ModelRef, model_ref
from monitoring.performance import RealisedPerformance, realised_performance
from monitoring.policy import Decision, decide
from monitoring.reference import REFERENCE_STRATA, ReferenceKey, cached_reference, sampled
from monitoring.sampling import stratified_sample
from registry.client import registry_client
from registry.models import load_model
from xsell import progress
from xsell.fileio import write_json_atomic
from xsell.settings import Settings

__all__ = [
    "PREDICTION",
    "CheckPlan",
    "attach_to_champion",
    "drift_check",
    "history_path",
    "monitoring_dir",
    "performance_check",
    "performance_window",
    "plan_check",
    "purge_days",
    "record_decision",
    "reference_window",
    "run_check",
]

logger = logging.getLogger(__name__)

#: Column of the champion's propensities in the drift frames.
PREDICTION = "propensity"


@dataclass(frozen=True)
class CheckPlan:
    """What one check compares: models, the reference and performance snapshot dates, where outputs go."""

    as_of: date
    data_start: date
    data_end: date
    champion: ModelRef
    challenger: ModelRef | None
    previous_champion: ModelRef | None
    reference_dates: tuple[date, ...]
    performance_dates: tuple[date, ...]
    out_dir: Path
    # the performance snapshots' labels start after the champion's training labels ended (False: they overlap them,
    # because no later snapshot has matured yet: its realised metrics are then partly in sample)
    performance_out_of_sample: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""

        def ref(model: ModelRef | None) -> dict[str, Any] | None:
            if model is None:
                return None
            return {
                "version": model.version,
                "run_id": model.run_id,
                "trained_from": model.trained_from.isoformat() if model.trained_from else None,
                "trained_until": model.trained_until.isoformat() if model.trained_until else None,
            }

        return {
            "as_of": self.as_of.isoformat(),
            "data": [self.data_start.isoformat(), self.data_end.isoformat()],
            "champion": ref(self.champion),
            "challenger": ref(self.challenger),
            "previous_champion": ref(self.previous_champion),
            "reference_dates": [d.isoformat() for d in self.reference_dates],
            "performance_dates": [d.isoformat() for d in self.performance_dates],
            "performance_out_of_sample": self.performance_out_of_sample,
            "out_dir": str(self.out_dir),
        }


def monitoring_dir(settings: Settings) -> Path:
    """`HOME/reports/monitoring`."""
    return settings.reports_dir / "monitoring"


def history_path(settings: Settings) -> Path:
    """The checks history: `HOME/reports/monitoring/checks.jsonl`."""
    return monitoring_dir(settings) / "checks.jsonl"


def purge_days(settings: Settings) -> int:
    """Days between the end of the training data and the first snapshot whose labels it never saw:
    `training.purge_days`, default the label horizon (the time-based CV's purge)."""
    purge = settings.training.purge_days
    return purge if purge is not None else settings.features.horizon_days


def performance_window(
    matured: list[date], trained_until: date, purge_days: int, count: int
) -> tuple[tuple[date, ...], bool]:
    """The last `count` of the `matured` snapshot dates (after the training data, oldest first) to measure realised
    performance on, and whether they are out of sample: snapshots D >= `trained_until` + `purge_days` label
    conversions the training labels never saw (a snapshot right after the training data labels the same
    conversions as the last training snapshots, so its metrics flatter the model); until one of those has matured,
    the overlapping ones (flagged in sample)."""
    purged = [d for d in matured if d >= trained_until + timedelta(days=purge_days)]
    chosen = purged or matured
    return tuple(chosen[-count:]), bool(purged) or not matured


def reference_window(calendar: SnapshotCalendar, champion: ModelRef, count: int | None) -> tuple[date, ...]:
    """The last `count` (0 or None: all) snapshot dates within the data of the champion's training window;
    MonitoringError when it holds none."""
    start, end = champion.trained_from, champion.trained_until
    window = calendar.dates(start, end) if start is not None and end is not None else []
    if not window:
        bounds = calendar.bounds
        raise MonitoringError(
            f"champion v{champion.version}'s training window {start} .. {end} holds no snapshot date within the "
            f"data ({bounds.start} .. {bounds.end})"
        )
    return tuple(window[-count:] if count else window)


def plan_check(settings: Settings, as_of: date) -> CheckPlan:
    """Resolve the models and snapshot dates of the check at `as_of`.

    MonitoringError when no champion is registered, its training window is unknown, or `as_of` is outside the data.
    """
    registry = settings.registry
    champion = model_ref(settings, "champion", registry.champion_alias)
    if champion is None:
        raise MonitoringError(
            f"no champion registered for model {registry.model_name!r} (alias {registry.champion_alias!r}) "
            f"to monitor at {as_of}: run `xsell train` first"
        )
    if champion.trained_from is None or champion.trained_until is None:
        raise MonitoringError(
            f"champion v{champion.version} has no training window (run params data_window_start/data_window_end, "
            "tag data_window): its reference data are unknown"
        )
    challenger = model_ref(settings, "challenger", registry.challenger_alias)
    previous = model_ref(settings, "previous_champion", registry.previous_champion_alias)
    with warehouse(settings, read_only=True) as con:
        try:
            calendar = snapshot_calendar(con, settings)
        except FeatureError as exc:
            raise MonitoringError(str(exc)) from None
    bounds = calendar.bounds
    if not bounds.start <= as_of <= bounds.end:
        raise MonitoringError(f"as-of date {as_of} is outside the data ({bounds.start} .. {bounds.end})")
    reference = reference_window(calendar, champion, settings.monitoring.drift.reference_snapshots)
    performance, out_of_sample = performance_window(
        calendar.labelled(by=as_of, after=champion.trained_until),
        champion.trained_until,
        purge_days(settings),
        settings.monitoring.performance_snapshots,
    )
    return CheckPlan(
        as_of=as_of,
        data_start=bounds.start,
        data_end=bounds.end,
        champion=champion,
        challenger=challenger if challenger is not None and challenger.version != champion.version else None,
        previous_champion=previous if previous is not None and previous.version != champion.version else None,
        reference_dates=reference,
        performance_dates=performance,
        out_dir=monitoring_dir(settings) / as_of.isoformat(),
        performance_out_of_sample=out_of_sample,
    )


def _read_snapshots(settings: Settings, dates: tuple[date, ...], what: str) -> pd.DataFrame:
    """Rows of the snapshots at `dates` (read when materialised, else built), with a progress step."""
    key = f"monitor-{what}"
    progress.start(key, f"reading {what} snapshots", total=len(dates))
    try:
        with warehouse(settings, read_only=True) as con:
            reader = SnapshotReader(con, settings)
            frames = []
            for day in dates:
                frames.append(reader.read(day))
                progress.advance(key)
    finally:
        progress.finish(key)
    return pd.concat(frames, ignore_index=True)


@contextmanager
def _stage(plan: CheckPlan, name: str) -> Iterator[None]:
    """Log one line with the stage's duration when it ends (so a log shows where a check's time went)."""
    started = time.perf_counter()
    yield
    logger.info("monitoring %s: %s in %.1f s", plan.as_of, name, time.perf_counter() - started)


def _reference_key(settings: Settings, plan: CheckPlan, rows: int) -> ReferenceKey:
    """What the champion's drift reference depends on (the feature code read from the warehouse)."""
    with warehouse(settings, read_only=True) as con:
        reader = SnapshotReader(con, settings)
        code = feature_code_fingerprint(reader.primary, settings)
    champion = plan.champion
    return ReferenceKey(
        settings.registry.model_name,
        champion.version,
        champion.run_id,
        champion.data_hash,
        code,
        plan.reference_dates,
        rows,
        settings.seed,
    )


def drift_check(settings: Settings, plan: CheckPlan, *, html: bool = True) -> DriftResult:
    """Feature drift (the champion's inputs) and prediction drift (its propensities) of the snapshot at `as_of`
    against its reference snapshots, both sampled (`monitoring.drift.sample_rows`, stratified); the reference is
    built once per champion version and cached. The Evidently report goes to `<out_dir>/drift.json` and, when
    `html`, `drift.html`."""
    cfg = settings.monitoring.drift
    rows = cfg.sample_rows or cfg.max_rows
    with _stage(plan, "loading the champion"):
        champion = load_model(plan.champion.uri, settings)
    model_features = list(champion.model.feature_names_)
    features = [f for f in model_features if f not in set(cfg.exclude)]
    categorical = [f for f in features if f in set(champion.model.categorical_features_)]
    numeric = [f for f in features if f not in set(categorical)]

    def build_reference() -> tuple[pd.DataFrame, int]:
        frame = _read_snapshots(settings, plan.reference_dates, "reference")
        sample = sampled(frame, rows, settings.seed)
        with _stage(plan, f"scoring {len(sample):,} reference rows"):
            return sample.assign(**{PREDICTION: champion.predict_proba(sample)}), len(frame)

    kept = list(dict.fromkeys([*REFERENCE_STRATA, *model_features, PREDICTION]))
    with _stage(plan, "reading the drift reference"):
        reference, reference_total, cached = cached_reference(
            settings, _reference_key(settings, plan, rows), kept, build_reference
        )
    with _stage(plan, "reading the current snapshot"):
        full = _read_snapshots(settings, (plan.as_of,), "current")
    if full.empty:
        raise MonitoringError(f"the snapshot at {plan.as_of} has no eligible rows: nothing to monitor")
    current = stratified_sample(full, rows, ("product",), settings.seed)
    with _stage(plan, f"scoring {len(current):,} current rows"):
        current = current.assign(**{PREDICTION: champion.predict_proba(current)})
    with _stage(plan, "drift report"):
        result = compare_frames(
            reference,
            current,
            numeric=numeric,
            categorical=categorical,
            prediction=PREDICTION,
            settings=cfg,
            out_dir=plan.out_dir,
            drift_share=settings.monitoring.policy.drift_share,
            html=html,
            sample_rows=cfg.sample_rows,
            totals=(reference_total, len(full)),
        )
    return DriftResult(
        **{
            **result.__dict__,
            "extra": {
                **result.extra,
                "reference_dates": [d.isoformat() for d in plan.reference_dates],
                "reference_cached": cached,
                "champion_version": plan.champion.version,
            },
        }
    )


def performance_check(settings: Settings, plan: CheckPlan) -> RealisedPerformance | None:
    """Realised metrics of champion, challenger and previous champion on the same rows of the snapshots whose
    labels matured by `as_of` after the champion's training data (None when there are none); written to
    `<out_dir>/performance.json`."""
    out = plan.out_dir / "performance.json"
    if not plan.performance_dates:
        write_json_atomic(out, {"as_of": plan.as_of.isoformat(), "performance": None})
        return None
    with _stage(plan, f"reading {len(plan.performance_dates)} labelled snapshots"):
        frame = _read_snapshots(settings, plan.performance_dates, "labelled")
    frame = frame[frame["label"].notna()].reset_index(drop=True)
    if frame.empty:
        write_json_atomic(out, {"as_of": plan.as_of.isoformat(), "performance": None})
        return None
    scores = {}
    notes = []
    for model in (plan.champion, plan.challenger, plan.previous_champion):
        if model is None:
            continue
        with _stage(plan, f"scoring {len(frame):,} labelled rows with the {model.role} v{model.version}"):
            scores[model.role] = (model.version, load_model(model.uri, settings).predict_proba(frame))
        if model.trained_until is not None and model.trained_until >= plan.performance_dates[0]:
            notes.append(f"{model.role} v{model.version} was trained on data up to {model.trained_until}: in sample")
    if not plan.performance_out_of_sample:
        notes.append(
            f"champion v{plan.champion.version}: no snapshot labelled after its training labels has matured yet; "
            "these overlap them (in sample): not a baseline for its decay"
        )
    with _stage(plan, "realised performance"):
        perf = _realised(settings, plan, frame, scores, tuple(notes))
    write_json_atomic(out, {"as_of": plan.as_of.isoformat(), "performance": perf.to_dict()})
    return perf


def _realised(
    settings: Settings, plan: CheckPlan, frame: pd.DataFrame, scores: dict[str, Any], notes: tuple[str, ...]
) -> RealisedPerformance:
    """Realised metrics of the scored models with their bootstrap intervals."""
    return realised_performance(
        frame,
        scores,
        tuple(d.isoformat() for d in plan.performance_dates),
        champion_holdout=plan.champion.holdout,
        notes=notes,
        champion_holdout_products=plan.champion.holdout_products,
        resamples=settings.monitoring.policy.bootstrap_resamples,
        confidence=settings.monitoring.policy.confidence,
        seed=settings.seed,
        out_of_sample=plan.performance_out_of_sample,
    )


def record_decision(
    settings: Settings, plan: CheckPlan, drift: DriftResult, performance: RealisedPerformance | None
) -> Decision:
    """Decide against the history, write `<out_dir>/decision.json` and record the check (a rerun of the same
    as-of date replaces its record)."""
    path = history_path(settings)
    decision = decide(
        plan.as_of,
        drift,
        read_history(path),
        performance,
        settings.monitoring.policy,
        champion_version=plan.champion.version,
    )
    decision = Decision(
        **{
            **decision.__dict__,
            "extra": {
                "plan": plan.to_dict(),
                "drift": drift.to_dict(),
                "performance_json": str(plan.out_dir / "performance.json"),
                "policy": settings.monitoring.policy.model_dump(),
            },
        }
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with _stage(plan, "writing the decision"):
        write_json_atomic(plan.out_dir / "decision.json", {**decision.to_dict(), "decided_at": now})
        record_check(path, decision.record(now))
    logger.info("monitoring %s: %s (%s)", decision.as_of, decision.decision, "; ".join(decision.reasons))
    return decision


def attach_to_champion(settings: Settings, plan: CheckPlan, decision: Decision) -> str | None:
    """Log the check's folder to the champion's MLflow run under `monitoring/<as_of>/` and tag the run with the
    latest decision; returns the artifact path (None when the champion has no run)."""
    if plan.champion.run_id is None:
        logger.warning("champion v%d has no MLflow run: reports not attached", plan.champion.version)
        return None
    client = registry_client(settings)
    artifact_path = f"monitoring/{plan.as_of.isoformat()}"
    with _stage(plan, "attaching the reports to the champion's run"):
        client.log_artifacts(plan.champion.run_id, str(plan.out_dir), artifact_path=artifact_path)
    client.set_tag(plan.champion.run_id, "monitoring.last_as_of", decision.as_of.isoformat())
    client.set_tag(plan.champion.run_id, "monitoring.last_decision", decision.decision)
    return artifact_path


def run_check(settings: Settings, as_of: date) -> Decision:
    """The whole check at `as_of` without an orchestrator (notebooks, tests)."""
    plan = plan_check(settings, as_of)
    drift = drift_check(settings, plan)
    performance = performance_check(settings, plan)
    decision = record_decision(settings, plan, drift, performance)
    attach_to_champion(settings, plan, decision)
    return decision
