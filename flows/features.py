"""Flow `build-features`: materialise every point-in-time snapshot of a month range, then the catalog."""

from __future__ import annotations

from typing import Any

from prefect import flow

from tasks.feature_tasks import materialise_snapshot_task, plan_snapshots_task, write_catalog_task
from xsell import progress
from xsell.settings import Settings


@flow(name="build-features", log_prints=False, validate_parameters=False)
def build_features_flow(from_month: str, to_month: str, settings: Settings) -> dict[str, Any]:
    """Plan the as-of dates of `from_month`..`to_month`, materialise each snapshot in turn, write the catalog."""
    dates = plan_snapshots_task(from_month, to_month, settings)
    progress.start("features", "building feature snapshots", total=len(dates))
    records = [materialise_snapshot_task(as_of, settings) for as_of in dates]
    progress.finish("features")
    catalog = write_catalog_task(settings)
    return {
        "warehouse": str(settings.warehouse_path),
        "catalog": str(catalog),
        "snapshots": records,
        "rows": sum(r["rows"] for r in records),
        "labelled_rows": sum(r["labelled_rows"] for r in records),
        "positives": sum(r["positives"] for r in records),
    }
