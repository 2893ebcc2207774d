"""The labelled training frame: every materialised snapshot whose labels had matured by an as-of date."""

from __future__ import annotations

import hashlib
import logging
from datetime import date

import duckdb
import pandas as pd

from features.build import SnapshotReader
from features.calendar import SnapshotCalendar
from features.grid import snapshot_calendar
from features.schema import ROW_ID_COLUMNS
from training.errors import TrainingError
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["data_hash", "labelled_snapshot_dates", "load_training_frame"]


def labelled_snapshot_dates(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date | None = None
) -> list[date]:
    """As-of dates D of the snapshot grid within the data whose label horizon had passed by `as_of`.

    D + horizon <= `as_of` (default: the data end), so every label is final at `as_of`.
    """
    return _labelled_dates(snapshot_calendar(con, settings), as_of)


def _labelled_dates(calendar: SnapshotCalendar, as_of: date | None) -> list[date]:
    """The calendar's dates labelled by `as_of` (default: the data end); TrainingError when it is after the data."""
    end = calendar.bounds.end
    if as_of is not None and as_of > end:
        raise TrainingError(f"as-of {as_of} is after the data end {end}: labels after it are not known")
    return calendar.labelled(by=as_of)


def load_training_frame(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date | None = None) -> pd.DataFrame:
    """Labelled rows of every snapshot whose labels had matured by `as_of` (default: the data end).

    Snapshots not yet materialised by the current code from the latest load are materialised first (idempotent;
    `con` must then be writable). Features are point in time; labels with D + horizon <= `as_of` are final.
    Columns: `account_id, product, as_of, label` (int) and every catalog feature, rows ordered by as-of date.
    """
    reader = SnapshotReader(con, settings)
    dates = _labelled_dates(reader.calendar, as_of)
    if not dates:
        raise TrainingError(
            f"no snapshot has a matured label horizon ({settings.features.horizon_days} days) by "
            f"{as_of or 'the data end'}: the data are too short"
        )
    frames = []
    built = 0
    for day in dates:
        built += reader.ensure(day)
        frames.append(reader.read(day))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[frame["label"].notna()].reset_index(drop=True)
    frame["label"] = frame["label"].astype("int64")
    log.info(
        "training frame loaded",
        extra={
            "snapshots": len(dates),
            "materialised_now": built,
            "rows": len(frame),
            "positives": int(frame["label"].sum()),
            "first": dates[0].isoformat(),
            "last": dates[-1].isoformat(),
        },
    )
    return frame


def data_hash(frame: pd.DataFrame, sort_by: list[str] | None = None) -> str:
    """sha256 of the rows (column names, then every value), in a stable row order (`sort_by`, default the keys)."""
    keys = sort_by if sort_by is not None else [c for c in ROW_ID_COLUMNS if c in frame.columns]
    ordered = frame.sort_values(keys, kind="stable").reset_index(drop=True) if keys else frame.reset_index(drop=True)
    digest = hashlib.sha256("\x1f".join(map(str, ordered.columns)).encode())
    digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()
