"""The labelled training frame: every materialised snapshot whose labels had matured by an as-of date."""

from __future__ import annotations

import hashlib
import logging
from datetime import date, timedelta

import duckdb
import pandas as pd

from features.build import is_materialised, materialise_snapshot, read_snapshot, snapshot_dates
from features.grid import data_bounds, dates_within
from training.errors import TrainingError
from training.result import KEY_COLUMNS
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["data_hash", "labelled_snapshot_dates", "load_training_frame"]


def labelled_snapshot_dates(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date | None = None
) -> list[date]:
    """As-of dates D of the snapshot grid within the data whose label horizon had passed by `as_of`.

    D + horizon <= `as_of` (default: the data end), so every label is final at `as_of`.
    """
    bounds = data_bounds(con, settings)
    cutoff = as_of or bounds.end
    if cutoff > bounds.end:
        raise TrainingError(f"as-of {cutoff} is after the data end {bounds.end}: labels after it are not known")
    grid = snapshot_dates(f"{bounds.start:%Y-%m}", f"{bounds.end:%Y-%m}", settings.features.cadence)
    horizon = timedelta(days=settings.features.horizon_days)
    return [d for d in dates_within(grid, bounds) if d + horizon <= cutoff]


def load_training_frame(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date | None = None) -> pd.DataFrame:
    """Labelled rows of every snapshot whose labels had matured by `as_of` (default: the data end).

    Snapshots not yet materialised by the current code from the latest load are materialised first (idempotent;
    `con` must then be writable). Features are point in time; labels with D + horizon <= `as_of` are final.
    Columns: `account_id, product, as_of, label` (int) and every catalog feature, rows ordered by as-of date.
    """
    dates = labelled_snapshot_dates(con, settings, as_of)
    if not dates:
        raise TrainingError(
            f"no snapshot has a matured label horizon ({settings.features.horizon_days} days) by "
            f"{as_of or 'the data end'}: the data are too short"
        )
    frames = []
    built = 0
    for day in dates:
        if not is_materialised(con, day, settings):
            materialise_snapshot(con, day, settings)
            built += 1
        frames.append(read_snapshot(con, day, settings))
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
    keys = sort_by if sort_by is not None else [c for c in KEY_COLUMNS if c in frame.columns and c != "label"]
    ordered = frame.sort_values(keys, kind="stable").reset_index(drop=True) if keys else frame.reset_index(drop=True)
    digest = hashlib.sha256("\x1f".join(map(str, ordered.columns)).encode())
    digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()
