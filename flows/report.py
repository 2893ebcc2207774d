"""Flow `report`: the static governance site under `HOME/reports/` (entry `index.html`)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.report_tasks import build_site_task
from xsell.settings import Settings


@flow(name="report", log_prints=False, validate_parameters=False)
def report_flow(settings: Settings) -> dict[str, Any]:
    """Link every data-quality report, monitoring check, model version and audit event in one offline site."""
    return build_site_task(settings)
