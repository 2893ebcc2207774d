"""Flow `report`: the static governance site under `HOME/reports/` (entry `index.html`), the live home's and, after
`xsell simulate`, the replay's (`site/replay/`)."""

from __future__ import annotations

from prefect import flow

from monitoring.governance_site import SiteSummary
from tasks.report_tasks import build_site_task
from xsell.settings import Settings


@flow(name="report", log_prints=False, validate_parameters=False)
def report_flow(settings: Settings) -> SiteSummary:
    """Link every data-quality report, monitoring check, model version and audit event, of the live home and of the
    replay, in one offline site whose every link is checked."""
    return build_site_task(settings)
