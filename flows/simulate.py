"""Flow `simulate`: replay the monthly cycle over history, as if live, in a home of its own.

At each month end D of the range the raw export is cut to what was known at the end of D
(`ingest.asof.truncate_export`), consolidated into the simulation's warehouse (`HOME/simulation/`, never the
main one), and the `monthly-cycle` flow runs: a first champion is trained as of the first month, then scoring
(champion + challenger in shadow, promotion gates), monitoring and the action its decision asks for. Each month
adds a row to `HOME/reports/simulation/timeline.csv` (with `timeline.png` and `timeline.html`).

A rerun with the same export, first month and settings resumes after the last finished month (a month stopped
half-way is redone from its start); anything else, or `fresh`, starts clean (the simulation home is wiped).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow

from flows.cycle import CycleResult, monthly_cycle_flow
from monitoring.replay import (
    SimulationPaths,
    TimelineRow,
    month_ends,
    month_of,
    own_tracking_store,
    read_timeline,
    replay_fingerprint,
    simulation_paths,
    write_timeline,
    write_timeline_html,
    write_timeline_plot,
)
from tasks.cycle_tasks import truncate_export_task
from xsell import progress
from xsell.fileio import write_json_atomic
from xsell.settings import Settings

logger = logging.getLogger(__name__)

#: Progress key of the month bar (the CLI draws only this one).
PROGRESS_KEY = "simulate"


@dataclass(frozen=True)
class Simulation:
    """A replay's outputs: the timeline and its plot and page, the simulation home, the months run now, every row."""

    timeline: str
    plot: str
    html: str
    simulation_home: str
    months_run: tuple[str, ...]
    rows: tuple[TimelineRow, ...]

    def summary(self) -> dict[str, Any]:
        """Plain JSON values of everything but the rows."""
        return {
            "timeline": self.timeline,
            "plot": self.plot,
            "html": self.html,
            "simulation_home": self.simulation_home,
            "months_run": list(self.months_run),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, the rows included."""
        return {**self.summary(), "rows": [r.to_dict() for r in self.rows]}


def simulation_settings(settings: Settings, trials: int) -> Settings:
    """The settings of the replayed platform: homed in `HOME/simulation`, data end taken from each month's load,
    `trials` Optuna trials per training, Optuna storage under that home."""
    return settings.model_copy(
        update={
            "home": simulation_paths(settings).home,
            "features": settings.features.model_copy(update={"data_end": None}),
            "training": settings.training.model_copy(update={"trials": trials, "optuna_storage": None}),
        }
    )


def _fingerprint(raw_dir: Path, from_month: str, sim: Settings, degrade_at: str | None) -> str:
    payload = {
        "seed": sim.seed,
        "features": sim.features.model_dump(),
        "training": sim.training.model_dump(),
        "registry": sim.registry.model_dump(),
        "serving": sim.serving.model_dump(),
        "monitoring": sim.monitoring.model_dump(),
        "degrade_at": degrade_at,
    }
    return replay_fingerprint(raw_dir, from_month, payload)


def prepare_home(paths: SimulationPaths, fingerprint: str, fresh: bool) -> list[TimelineRow]:
    """Resume (same fingerprint, not `fresh`): the finished months' rows; else wipe the simulation home and
    timeline and return no rows."""
    rows = read_timeline(paths.timeline)
    known = json.loads(paths.manifest.read_text()) if paths.manifest.is_file() else {}
    if not fresh and known.get("fingerprint") == fingerprint and rows:
        logger.info("resuming the replay after %s (%d months done)", rows[-1].as_of, len(rows))
        return rows
    if paths.home.exists() or paths.timeline.exists():
        logger.info("starting the replay clean: %s", "asked" if fresh else "new export, range start or settings")
    shutil.rmtree(paths.home, ignore_errors=True)
    for path in (paths.timeline, paths.plot, paths.html):
        path.unlink(missing_ok=True)
    paths.home.mkdir(parents=True, exist_ok=True)
    write_json_atomic(paths.manifest, {"fingerprint": fingerprint})
    return []


def _metric(realised: dict[str, Any] | None, role: str, key: str) -> Any:
    model = (realised or {}).get(role) or {}
    return model.get(key)


def row_from_cycle(result: CycleResult, seconds: float) -> TimelineRow:
    """The timeline row of one month from the `monthly-cycle` result."""
    decision = result.decision
    acted = result.acted
    before, after = result.aliases_before, result.aliases_after
    realised = decision.metrics.get("realised")
    promoted = ""
    if before["champion"] is not None and before["champion"] != decision.champion_version:
        promoted = f"v{before['champion']} -> v{decision.champion_version}"
    detail = acted.reason if acted is not None else ""
    if result.degraded:
        detail = f"forced degraded v{result.degraded['version']} to champion; " + detail
    if acted is not None and acted.trained:
        detail = f"trained v{acted.trained['version']}"
    holdout = (realised or {}).get("champion_holdout") or {}
    return TimelineRow(
        as_of=decision.as_of.isoformat(),
        champion_version=decision.champion_version,
        challenger_version=after["challenger"] if after["challenger"] != after["champion"] else None,
        decision=decision.decision,
        drift_share=decision.drift_share,
        reasons="; ".join(decision.reasons),
        action=acted.kind if acted is not None else "",
        action_detail=detail,
        promoted=promoted,
        champion_after=after["champion"],
        drifted=decision.drifted,
        realised_roc_auc=_metric(realised, "champion", "roc_auc"),
        realised_pr_auc=_metric(realised, "champion", "pr_auc"),
        realised_positives=_metric(realised, "champion", "positives"),
        previous_pr_auc=_metric(realised, "previous_champion", "pr_auc"),
        challenger_pr_auc=_metric(realised, "challenger", "pr_auc"),
        holdout_pr_auc=holdout.get("pr_auc"),
        decision_json=result.decision_json,
        seconds=round(seconds, 1),
    )


def write_outputs(paths: SimulationPaths, rows: list[TimelineRow], settings: Settings) -> None:
    """The timeline CSV, its plot and its HTML page."""
    write_timeline(paths.timeline, rows)
    write_timeline_plot(paths.plot, rows, settings.monitoring.policy.drift_share)
    write_timeline_html(paths.html, rows, paths.plot)


@flow(name="simulate", log_prints=False, validate_parameters=False)
def simulate_flow(
    raw_dir: Path,
    from_month: str,
    to_month: str,
    settings: Settings,
    trials: int = 10,
    fresh: bool = False,
    degrade_at: str | None = None,
) -> Simulation:
    """Replay `from_month`..`to_month` of the export `raw_dir` month by month (see the module docstring); returns
    the timeline rows, the paths and the months run now."""
    months = month_ends(from_month, to_month)
    degrade_day = month_of(degrade_at) if degrade_at else None
    if degrade_day is not None and not months[0] < degrade_day <= months[-1]:
        raise ValueError(f"--degrade-at {degrade_at} must fall after {from_month} and no later than {to_month}")
    paths = simulation_paths(settings)
    sim = simulation_settings(settings, trials)
    with own_tracking_store():
        rows = prepare_home(paths, _fingerprint(raw_dir, from_month, sim, degrade_at), fresh)
        done = {r.as_of for r in rows}
        todo = [d for d in months if d.isoformat() not in done]
        progress.start(PROGRESS_KEY, f"replaying {from_month}..{to_month}", total=len(months))
        progress.advance(PROGRESS_KEY, len(months) - len(todo))
        for day in todo:
            rows.append(_replay_month(raw_dir, day, sim, paths, trials, force_degraded=day == degrade_day))
            write_outputs(paths, rows, settings)
            last = rows[-1]
            progress.advance(PROGRESS_KEY, description=f"{day:%Y-%m}: {last.decision} -> {last.action or 'none'}")
        progress.finish(PROGRESS_KEY)
        if not todo and rows:
            write_outputs(paths, rows, settings)
    return Simulation(
        timeline=str(paths.timeline),
        plot=str(paths.plot),
        html=str(paths.html),
        simulation_home=str(paths.home),
        months_run=tuple(d.isoformat() for d in todo),
        rows=tuple(rows),
    )


def _replay_month(
    raw_dir: Path, day: date, sim: Settings, paths: SimulationPaths, trials: int, *, force_degraded: bool
) -> TimelineRow:
    """Cut the export at `day`, run the monthly cycle on it, and return its timeline row."""
    started = time.perf_counter()
    truncate_export_task(raw_dir, paths.raw_cut, day)
    result = monthly_cycle_flow(
        settings=sim, raw_dir=paths.raw_cut, as_of=day, trials=trials, act=True, force_degraded=force_degraded
    )
    row = row_from_cycle(result, time.perf_counter() - started)
    logger.info("replayed %s: %s -> %s (%.0f s)", row.as_of, row.decision, row.action, row.seconds or 0)
    return row
