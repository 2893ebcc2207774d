"""Flow `consolidate`: raw export -> Customer 360 warehouse and data-quality report."""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import flow

from ingest.contract import TABLES
from ingest.pipeline import LoadSummary, check_raw_export, new_run_id, staging_dir
from tasks.ingest_tasks import load_warehouse_task, stage_table_task
from xsell import progress
from xsell.faults import fault_point
from xsell.settings import Settings


@flow(name="consolidate", log_prints=False, validate_parameters=False)
def consolidate_flow(raw_dir: Path, settings: Settings) -> LoadSummary:
    """Stage every contract table (in parallel), then consolidate them in one warehouse transaction."""
    check_raw_export(raw_dir, settings)  # every table's header, before any staging
    run_id = new_run_id()
    root = staging_dir(settings, run_id)
    progress.start("stage", "staging raw tables", total=len(TABLES))
    stage = stage_table_task.with_options(retries=settings.ingest.io_retries)
    load = load_warehouse_task.with_options(retries=settings.ingest.io_retries)
    try:
        futures = {spec.name: stage.submit(raw_dir, spec.name, root, settings) for spec in TABLES}
        staged = {name: future.result() for name, future in futures.items()}
        progress.finish("stage")
        fault_point("consolidate.staged")
        progress.start("load", "consolidating warehouse", total=None)
        summary = load(raw_dir, staged, settings, run_id)
        progress.finish("load")
        return summary
    finally:
        shutil.rmtree(root, ignore_errors=True)
