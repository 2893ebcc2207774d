"""Flow `build-features`: compute every point-in-time snapshot of a month range (in parallel on the flow's task
runner: one at a time locally, or on Dask workers), store them from this process, then write the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import flow, unmapped

from tasks.feature_tasks import compute_snapshot_task, plan_snapshots_task, store_snapshot_task, write_catalog_task
from xsell import progress
from xsell.faults import fault_point
from xsell.settings import Settings

#: Progress key of computing the snapshots (storing them reports under "features").
COMPUTE_KEY = "features.compute"


@dataclass(frozen=True)
class FeatureBuild:
    """What a feature build stored: the warehouse, the catalog, one record per snapshot and the row counts."""

    warehouse: str
    catalog: str
    snapshots: tuple[dict[str, Any], ...]
    rows: int
    labelled_rows: int
    positives: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, in the CLI's key order."""
        return {
            "warehouse": self.warehouse,
            "catalog": self.catalog,
            "snapshots": list(self.snapshots),
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
            "positives": self.positives,
        }


@flow(name="build-features", log_prints=False, validate_parameters=False)
def build_features_flow(from_month: str, to_month: str, settings: Settings) -> FeatureBuild:
    """Plan the as-of dates of `from_month`..`to_month`, compute their snapshots on the task runner, store each
    once all are computed (no reader holds the warehouse while it is written), write the catalog."""
    dates = plan_snapshots_task(from_month, to_month, settings)
    futures = compute_snapshot_task.map(dates, settings=unmapped(settings))
    computed = []
    with progress.step(COMPUTE_KEY, "computing feature snapshots", total=len(dates)):
        for future in futures:  # in date order; a later snapshot may finish first on Dask and waits its turn here
            computed.append(future.result())
            progress.advance(COMPUTE_KEY, description=f"computed snapshot {computed[-1].as_of}")
    records = []
    with progress.step("features", "storing feature snapshots", total=len(dates)):
        for snapshot in computed:
            records.append(store_snapshot_task(snapshot, settings))
            fault_point("features.storing")  # after the first snapshot is stored
    catalog = write_catalog_task(settings)
    return FeatureBuild(
        warehouse=str(settings.warehouse_path),
        catalog=str(catalog),
        snapshots=tuple(records),
        rows=sum(r["rows"] for r in records),
        labelled_rows=sum(r["labelled_rows"] for r in records),
        positives=sum(r["positives"] for r in records),
    )
