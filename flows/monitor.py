"""Flow `monitor`: drift and realised performance of the champion at a date, and the decision they lead to."""

from __future__ import annotations

from datetime import date
from typing import cast

from prefect import flow

from monitoring.policy import Decision
from tasks.monitoring_tasks import (
    attach_reports_task,
    decide_task,
    drift_report_task,
    link_reports_task,
    plan_check_task,
    realised_performance_task,
)
from xsell.settings import Settings


@flow(name="monitor", log_prints=False, validate_parameters=False)
def monitor_flow(as_of: date, settings: Settings) -> Decision:
    """Compare the snapshot at `as_of` with the champion's reference, measure realised performance where labels
    matured, decide `retrain`, `rollback` or `none`, record it and attach the reports; acting is left to callers."""
    plan = plan_check_task(settings, as_of)
    drift = drift_report_task(settings, plan)
    performance = realised_performance_task(settings, plan)
    decision = cast(Decision, decide_task(settings, plan, drift, performance))
    attach_reports_task(settings, plan, decision)
    link_reports_task(decision)
    return decision
