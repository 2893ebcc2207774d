"""Prefect deployments of the platform on cron schedules (`xsell deploy`): daily consolidate + score, weekly monitor
(acting on its decision when `monitoring.act`), monthly retrain; each run ends by refreshing the governance site.

The scheduled flows take plain parameters (the home and config file, the raw folder, an optional as-of date) and
build their settings at run time, so a served run in another process sees the same configuration; the as-of date
defaults to the data end of the warehouse when the run starts. Cron strings come from `schedules.*`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow

from features.calendar import parse_day
from flows.compute import on_compute
from flows.consolidate import consolidate_flow
from flows.cycle import Acted, act_on_decision_flow
from flows.monitor import monitor_flow
from flows.report import report_flow
from flows.score import Scored, score_flow
from flows.train import Trained, train_flow
from monitoring.governance_site import SiteSummary
from tasks.schedule_tasks import data_end_task
from xsell.runtime import prepare_environment
from xsell.settings import Settings, SettingsError, load_settings

__all__ = [
    "ScheduledDeployment",
    "build_deployments",
    "plan_deployments",
    "scheduled_daily_flow",
    "scheduled_monthly_flow",
    "scheduled_weekly_flow",
    "serve_deployments",
]

logger = logging.getLogger(__name__)

DAILY = "daily-consolidate-score"
WEEKLY = "weekly-monitor"
MONTHLY = "monthly-retrain"


@dataclass(frozen=True)
class ScheduledDeployment:
    """One deployment to create: its name, the flow it runs, the cron schedule and the setting it came from."""

    name: str
    flow_name: str
    setting: str
    cron: str
    timezone: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return asdict(self)


@dataclass(frozen=True)
class DailyRun:
    """A daily run: the load it consolidated, the date it scored, the scoring and the governance site."""

    load_run_id: str
    as_of: date
    scores: Scored
    report: SiteSummary

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "load_run_id": self.load_run_id,
            "as_of": self.as_of.isoformat(),
            "scores": self.scores.to_dict(),
            "report": self.report.to_dict(),
        }


@dataclass(frozen=True)
class WeeklyRun:
    """A weekly run: the date it monitored, the decision, what was done about it (None: not acting)."""

    as_of: date
    decision: str
    action: Acted | None
    report: SiteSummary

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "as_of": self.as_of.isoformat(),
            "decision": self.decision,
            "action": self.action.to_dict() if self.action is not None else None,
            "report": self.report.to_dict(),
        }


@dataclass(frozen=True)
class MonthlyRun:
    """A monthly run: the training it registered and the governance site."""

    trained: Trained
    report: SiteSummary

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the training's plan left out)."""
        return {"trained": self.trained.registration(), "report": self.report.to_dict()}


def _settings(home: str, config: str | None) -> Settings:
    """The run's settings: the served process's environment, the config file and the home it was deployed with."""
    settings = load_settings(Path(config) if config else None, home=Path(home))
    prepare_environment(settings.home, settings.log_level)
    return settings


def _as_of(settings: Settings, as_of: str | None) -> date:
    """The run's as-of date: the one it was given, else the data end of the warehouse now."""
    return parse_day(as_of) if as_of else data_end_task(settings)


@flow(name="scheduled-consolidate-score", log_prints=False)
def scheduled_daily_flow(home: str, raw_dir: str, config: str | None = None, as_of: str | None = None) -> DailyRun:
    """Consolidate the raw export, score the data end (or `as_of`) with the champion and the challenger in shadow,
    refresh the governance site."""
    settings = _settings(home, config)
    consolidated = consolidate_flow(raw_dir=Path(raw_dir), settings=settings)
    day = _as_of(settings, as_of)
    out = (settings.schedules.scores_dir or settings.home / "scores") / f"scores-{day.isoformat()}.csv"
    scored = on_compute(score_flow, settings)(as_of=day, out=out.resolve(), settings=settings)
    return DailyRun(consolidated.run_id, day, scored, report_flow(settings=settings))


@flow(name="scheduled-monitor", log_prints=False)
def scheduled_weekly_flow(home: str, config: str | None = None, as_of: str | None = None) -> WeeklyRun:
    """Monitor the champion at the data end (or `as_of`), act on the decision when `monitoring.act`, refresh the
    governance site."""
    settings = _settings(home, config)
    day = _as_of(settings, as_of)
    decision = monitor_flow(as_of=day, settings=settings)
    acted = None
    if settings.monitoring.act:
        acted = act_on_decision_flow(settings, decision, trials=settings.schedules.retrain_trials)
    return WeeklyRun(day, decision.decision, acted, report_flow(settings=settings))


@flow(name="scheduled-retrain", log_prints=False)
def scheduled_monthly_flow(home: str, config: str | None = None, as_of: str | None = None) -> MonthlyRun:
    """Train on the snapshots matured by the data end (or `as_of`) and register a challenger, refresh the
    governance site."""
    settings = _settings(home, config)
    day = parse_day(as_of) if as_of else None  # None: the train flow resolves the data end (and says so)
    trained = train_flow(settings=settings, as_of=day, trials=settings.schedules.retrain_trials)
    return MonthlyRun(trained, report_flow(settings=settings))


_FLOWS: dict[str, Any] = {DAILY: scheduled_daily_flow, WEEKLY: scheduled_weekly_flow, MONTHLY: scheduled_monthly_flow}


def _check_cron(setting: str, cron: str, timezone: str) -> None:
    """Prefect's own cron and timezone checks, as a SettingsError naming the setting."""
    from prefect.schedules import Cron

    try:
        Cron(cron, timezone=timezone)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        raise SettingsError(f"invalid settings: {setting}: {cron!r} in timezone {timezone!r}: {first}") from None


def plan_deployments(
    settings: Settings, raw_dir: Path | None = None, config: Path | None = None
) -> list[ScheduledDeployment]:
    """The three deployments with their cron strings (validated) and run parameters; `raw_dir` overrides
    `schedules.raw_dir`. SettingsError names the setting at fault."""
    schedules = settings.schedules
    raw = raw_dir or schedules.raw_dir
    if raw is None:
        raise SettingsError("the daily run needs a raw export folder: set schedules.raw_dir or pass --raw DIR")
    base: dict[str, Any] = {"home": str(settings.home.resolve())}
    if config is not None:
        base["config"] = str(config.resolve())
    plans = [
        ScheduledDeployment(
            DAILY,
            scheduled_daily_flow.name,
            "schedules.daily",
            schedules.daily,
            schedules.timezone,
            "consolidate the raw export, score the data end (champion + shadow), refresh the governance site",
            base | {"raw_dir": str(Path(raw).resolve())},
        ),
        ScheduledDeployment(
            WEEKLY,
            scheduled_weekly_flow.name,
            "schedules.weekly",
            schedules.weekly,
            schedules.timezone,
            "monitor the champion at the data end, act on the decision, refresh the governance site",
            dict(base),
        ),
        ScheduledDeployment(
            MONTHLY,
            scheduled_monthly_flow.name,
            "schedules.monthly",
            schedules.monthly,
            schedules.timezone,
            "retrain as of the data end (new challenger), refresh the governance site",
            dict(base),
        ),
    ]
    for plan in plans:
        _check_cron(plan.setting, plan.cron, plan.timezone)
    return plans


def build_deployments(plans: list[ScheduledDeployment]) -> list[Any]:
    """Prefect runner deployments of `plans` (module-path entry points, so a served run imports the installed
    package); nothing is sent to the API."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    return [
        _FLOWS[plan.name].to_deployment(
            plan.name,
            schedule=Cron(plan.cron, timezone=plan.timezone),
            parameters=plan.parameters,
            description=plan.description,
            tags=["xsell"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for plan in plans
    ]


def serve_deployments(deployments: list[Any], limit: int | None = 1) -> None:
    """Register the deployments with the Prefect server at PREFECT_API_URL and run their scheduled runs until
    interrupted (at most `limit` at a time). Without a server the schedules would never fire: SettingsError."""
    from prefect import serve

    if not os.environ.get("PREFECT_API_URL"):
        raise SettingsError(
            "schedules only fire under a Prefect server: start one (`prefect server start`) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    logger.info("serving %d deployments at %s", len(deployments), os.environ["PREFECT_API_URL"])
    serve(*deployments, limit=limit, print_starting_message=False)
