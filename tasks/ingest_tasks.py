"""Prefect tasks of the consolidation: stage each raw table, then load the warehouse."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingest.pipeline import LoadSummary, load_warehouse, stage_raw_table
from ingest.stage import StagedTable
from tasks.retry import retry_on_io
from xsell import progress
from xsell.settings import Settings


@task(name="stage-table", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def stage_table_task(raw_dir: Path, table: str, out_root: Path, settings: Settings) -> StagedTable:
    """Read one raw table into typed staging parquet."""
    staged = stage_raw_table(raw_dir, table, out_root, settings)
    progress.advance("stage", description=f"staged {table}")
    return staged


@task(name="load-warehouse", retries=1, retry_delay_seconds=2, retry_condition_fn=retry_on_io, cache_policy=NO_CACHE)
def load_warehouse_task(raw_dir: Path, staged: dict[str, StagedTable], settings: Settings, run_id: str) -> LoadSummary:
    """Consolidate staged tables into the warehouse and write the data-quality report."""
    return load_warehouse(raw_dir, staged, settings, run_id)
