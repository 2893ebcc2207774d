"""Prefect task of the governance report: a thin wrapper over `monitoring.governance_site`."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from monitoring.governance_site import SiteSummary, build_site
from tasks.retry import retry_on_io
from xsell.settings import Settings


@task(name="build-governance-site", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def build_site_task(settings: Settings) -> SiteSummary:
    """Write `HOME/reports/index.html` and `HOME/reports/site/` (the replay's pages under `site/replay/`); returns the
    summary, with the link check's figures."""
    return build_site(settings)
