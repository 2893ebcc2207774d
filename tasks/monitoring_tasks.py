"""Prefect tasks of a monitoring check: thin wrappers over `monitoring.check`."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from monitoring.check import attach_to_champion, drift_check, performance_check, plan_check, record_decision
from tasks.retry import retry_on_io
from xsell.settings import Settings


@task(name="plan-check", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def plan_check_task(settings: Settings, as_of: date) -> Any:
    """Champion, challenger, previous champion, reference and matured snapshot dates of the check."""
    return plan_check(settings, as_of)


@task(name="drift-report", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def drift_report_task(settings: Settings, plan: Any) -> Any:
    """Feature and prediction drift against the champion's reference, as an Evidently report."""
    return drift_check(settings, plan)


@task(name="realised-performance", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def realised_performance_task(settings: Settings, plan: Any) -> Any:
    """Realised metrics of every model on the snapshots whose labels matured (None when none did)."""
    return performance_check(settings, plan)


@task(name="decide", cache_policy=NO_CACHE)
def decide_task(settings: Settings, plan: Any, drift: Any, performance: Any) -> Any:
    """Apply the decision policy, write decision.json and record the check in the history."""
    return record_decision(settings, plan, drift, performance)


@task(name="attach-reports", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def attach_reports_task(settings: Settings, plan: Any, decision: Any) -> str | None:
    """Log the check's reports to the champion's MLflow run."""
    return attach_to_champion(settings, plan, decision)


@task(name="link-reports", cache_policy=NO_CACHE)
def link_reports_task(decision: Any) -> None:
    """A Prefect link artifact to the drift report and a markdown artifact of the decision."""
    from pathlib import Path

    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    key = f"monitoring-{decision.as_of}"
    create_link_artifact(
        link=Path(decision.report_html).resolve().as_uri(),
        link_text=f"drift report {decision.as_of}",
        key=key,
        description=f"Evidently drift report of the check at {decision.as_of}",
    )
    reasons = "\n".join(f"- {reason}" for reason in decision.reasons)
    features = ", ".join(decision.drifted_features[:20]) or "none"
    create_markdown_artifact(
        markdown=(
            f"# Monitoring {decision.as_of}: `{decision.decision}`\n\n{reasons}\n\n"
            f"- champion: v{decision.champion_version}\n- drift share: {decision.drift_share:.2f}\n"
            f"- drifted features: {features}\n- drifted checks: {decision.drifted_checks} of {decision.window}\n"
            f"- report: {decision.report_html}\n"
        ),
        key=f"{key}-decision",
        description=f"monitoring decision at {decision.as_of}",
    )
