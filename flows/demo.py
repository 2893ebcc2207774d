"""Flow `demo`: the platform end to end on the embedded defaults, as a list of the other flows.

Generate an export, consolidate it, build every month's feature snapshots, train a champion as of three months
before the data end and a challenger at the end, score the latest snapshot with the champion (the challenger in
shadow), monitor it (the decision is recorded, not acted on) and write the governance site.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import ParamSpec, TypeVar

from prefect import flow

from features.calendar import parse_day
from flows.compute import on_compute
from flows.consolidate import consolidate_flow
from flows.features import FeatureBuild, build_features_flow
from flows.monitor import monitor_flow
from flows.report import report_flow
from flows.score import Scored, score_flow
from flows.train import Trained, train_flow
from ingest.pipeline import LoadSummary
from monitoring.governance_site import SiteSummary
from monitoring.policy import Decision
from synth import generate_raw
from xsell import progress
from xsell.settings import Settings

#: Progress key of the export generation.
GENERATE_KEY = "generate"
#: The demo's steps, in the order they run (the names of `DemoResult.timings`).
STEPS = (
    "generate",
    "consolidate",
    "features",
    "train champion",
    "train challenger",
    "score",
    "monitor",
    "report",
)

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class DemoTraining:
    """One of the demo's trainings: its as-of date (None: the data end) and what it registered."""

    as_of: date | None
    trained: Trained


@dataclass(frozen=True)
class DemoResult:
    """Every stage's result of a demo run, in the order they ran."""

    raw_dir: Path
    consolidated: LoadSummary
    built: FeatureBuild
    trainings: tuple[DemoTraining, ...]
    scored_as_of: date
    scored: Scored
    decision: Decision
    site: SiteSummary
    timings: tuple[tuple[str, float], ...] = ()  # (step, wall seconds) in `STEPS` order

    @property
    def total_seconds(self) -> float:
        """Wall seconds of all the steps."""
        return sum(seconds for _, seconds in self.timings)


class StepClock:
    """Wall time of each step of a run, in the order they ran."""

    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []

    def run(self, step: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)`, its wall time recorded under `step`."""
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.timings.append((step, time.perf_counter() - started))


def generate_export(raw_dir: Path, settings: Settings) -> None:
    """Write the demo's raw export into `raw_dir`, its stages reported as one progress step."""
    with progress.step(GENERATE_KEY, "generating export", total=1.0):
        report = progress.fractions(GENERATE_KEY, "generating export", started=True)
        generate_raw(raw_dir, settings.generator, settings.seed, progress=report)


def snapshot_days(built: FeatureBuild) -> list[date]:
    """The as-of dates of the snapshots a build stored, oldest first."""
    return sorted(parse_day(str(record["as_of"])[:10]) for record in built.snapshots)


@flow(name="demo", log_prints=False, validate_parameters=False)
def demo_flow(settings: Settings, raw_dir: Path, trials: int) -> DemoResult:
    """Generate, consolidate, build features, train a champion and a challenger, score, monitor, report."""
    clock = StepClock()
    clock.run("generate", generate_export, raw_dir, settings)
    consolidated = clock.run("consolidate", consolidate_flow, raw_dir=raw_dir.resolve(), settings=settings)
    built = clock.run(
        "features",
        on_compute(build_features_flow, settings),
        from_month=settings.generator.start,
        to_month=settings.generator.end,
        settings=settings,
    )
    days = snapshot_days(built)
    earlier = days[-4] if len(days) >= 4 else None
    trainings = tuple(
        DemoTraining(as_of, clock.run(step, train_flow, settings=settings, as_of=as_of, trials=trials, timeout=None))
        for step, as_of in (("train champion", earlier), ("train challenger", None))
    )
    out = settings.home / "scores" / f"scores-{days[-1].isoformat()}.csv"
    score = on_compute(score_flow, settings)
    scored = clock.run("score", score, as_of=days[-1], out=out, settings=settings, model_uri=None)
    decision = clock.run("monitor", monitor_flow, as_of=days[-1], settings=settings)
    site = clock.run("report", report_flow, settings=settings)
    return DemoResult(raw_dir, consolidated, built, trainings, days[-1], scored, decision, site, tuple(clock.timings))
