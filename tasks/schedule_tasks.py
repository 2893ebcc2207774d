"""Prefect tasks of the scheduled runs: what a run needs to know at run time."""

from __future__ import annotations

from datetime import date

from prefect import task
from prefect.cache_policies import NO_CACHE

from features.grid import data_bounds
from features.store import warehouse
from tasks.retry import retry_on_io
from xsell.settings import Settings


@task(name="data-end", retries=1, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def data_end_task(settings: Settings) -> date:
    """The last day the warehouse describes now (`features.data_end`, else the latest load's export day)."""
    with warehouse(settings, read_only=True) as con:
        return data_bounds(con, settings).end
