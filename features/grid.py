"""The data bounds the snapshot calendar runs within, read from the warehouse's latest load."""

from __future__ import annotations

from datetime import date

import duckdb

from features.calendar import DataBounds, SnapshotCalendar
from features.errors import FeatureError
from xsell.settings import Settings


def data_bounds(con: duckdb.DuckDBPyConnection, settings: Settings) -> DataBounds:
    """Days the warehouse describes: first usage day (else first account version) .. the export day.

    The end is `features.data_end` when set, else the date of the latest load's export time.
    """
    try:
        run = con.execute(
            "SELECT run_id, data_end FROM meta.load_runs ORDER BY loaded_at DESC, run_id DESC LIMIT 1"
        ).fetchall()
        start = con.execute(
            "SELECT coalesce((SELECT min(date) FROM c360.usage_daily),"
            " (SELECT CAST(min(updated_at) AS DATE) FROM c360.account_versions))"
        ).fetchall()[0][0]
    except duckdb.CatalogException:
        raise FeatureError("the warehouse holds no Customer 360 yet: run `xsell consolidate --raw DIR` first") from None
    if not run or start is None:
        raise FeatureError("the warehouse holds no loaded data yet: run `xsell consolidate --raw DIR` first")
    run_id, load_end = run[0]
    end = date.fromisoformat(settings.features.data_end) if settings.features.data_end else load_end
    return DataBounds(start=start, end=end, load_run_id=str(run_id))


def snapshot_calendar(con: duckdb.DuckDBPyConnection, settings: Settings) -> SnapshotCalendar:
    """The configured snapshot calendar over the warehouse's data bounds."""
    return SnapshotCalendar.of(data_bounds(con, settings), settings)
