"""Prefect tasks of the feature layer: plan the as-of dates, compute (any worker) and store (the flow's process) each
snapshot; write the catalog."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from features.build import ComputedSnapshot, compute_snapshot, plan_snapshots, store_snapshot
from features.catalog import write_catalog
from features.store import warehouse
from tasks.retry import retry_on_io
from xsell import progress
from xsell.settings import Settings


@task(name="plan-snapshots", cache_policy=NO_CACHE)
def plan_snapshots_task(from_month: str, to_month: str, settings: Settings) -> list[date]:
    """As-of dates of the month range at the configured cadence, clipped to the data."""
    with warehouse(settings, read_only=True) as con:
        return plan_snapshots(con, from_month, to_month, settings)


@task(
    name="compute-snapshot",
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=retry_on_io,
    cache_policy=NO_CACHE,
)
def compute_snapshot_task(as_of: date, settings: Settings) -> ComputedSnapshot:
    """Compute one snapshot's rows on a read-only warehouse connection (runs on a Dask worker in dask mode)."""
    return compute_snapshot(settings, as_of)


@task(
    name="store-snapshot",
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=retry_on_io,
    cache_policy=NO_CACHE,
)
def store_snapshot_task(computed: ComputedSnapshot, settings: Settings) -> dict[str, Any]:
    """Write a computed snapshot into the warehouse (the single writer: call it in the flow's process)."""
    with warehouse(settings) as con:
        record = store_snapshot(con, computed, settings)
    progress.advance("features", description=f"snapshot {computed.as_of}: {record.rows:,} rows")
    return record.to_dict()


@task(name="write-feature-catalog", cache_policy=NO_CACHE)
def write_catalog_task(settings: Settings) -> Path:
    """Write HOME/reports/feature_catalog.md from the code's registry."""
    return write_catalog(settings.reports_dir, settings.features.horizon_days)
