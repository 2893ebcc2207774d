"""Prefect tasks of the feature layer: plan the as-of dates, materialise each snapshot, write the catalog."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from features.build import materialise_snapshot, plan_snapshots
from features.catalog import write_catalog
from features.store import connect_warehouse
from tasks.retry import retry_on_io
from xsell import progress
from xsell.settings import Settings


@task(name="plan-snapshots", cache_policy=NO_CACHE)
def plan_snapshots_task(from_month: str, to_month: str, settings: Settings) -> list[date]:
    """As-of dates of the month range at the configured cadence, clipped to the data."""
    con = connect_warehouse(settings, read_only=True)
    try:
        return plan_snapshots(con, from_month, to_month, settings)
    finally:
        con.close()


@task(
    name="materialise-snapshot",
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=retry_on_io,
    cache_policy=NO_CACHE,
)
def materialise_snapshot_task(as_of: date, settings: Settings) -> dict[str, Any]:
    """Build one snapshot into the warehouse (idempotent) and return its record."""
    con = connect_warehouse(settings)
    try:
        record = materialise_snapshot(con, as_of, settings)
    finally:
        con.close()
    progress.advance("features", description=f"snapshot {as_of}: {record.rows:,} rows")
    return record.to_dict()


@task(name="write-feature-catalog", cache_policy=NO_CACHE)
def write_catalog_task(settings: Settings) -> Path:
    """Write HOME/reports/feature_catalog.md from the code's registry."""
    return write_catalog(settings.reports_dir, settings.features.horizon_days)
