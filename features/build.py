"""Build point-in-time snapshots: one SQL statement per as-of date over the warehouse, returned or materialised.

`SnapshotReader` works over one open warehouse connection: the data bounds, the primary product and the SQL
fingerprint (`code_version`) are read once, at their first need, and shared by every as-of date it builds, reads,
materialises, exports or stores. The one-date functions (`build_snapshot`, `read_snapshot`, ...) open a reader for
one call; a loop over dates keeps one reader.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from features import families, store
from features.calendar import DataBounds, SnapshotCalendar, check_as_of, dates_within, snapshot_dates
from features.catalog import FEATURES
from features.errors import FeatureError
from features.grid import data_bounds
from features.labels import conversion_cte, label_expr
from features.schema import SNAPSHOT_COLUMNS, validate_snapshot
from xsell.duck import quote_ident
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "ComputedSnapshot",
    "SnapshotReader",
    "build_snapshot",
    "compute_snapshot",
    "export_snapshot",
    "feature_code_fingerprint",
    "is_materialised",
    "materialise_snapshot",
    "plan_snapshots",
    "primary_product",
    "read_snapshot",
    "snapshot_sql",
    "store_snapshot",
]

#: As-of date used to fingerprint the generated SQL (any fixed date works).
_FINGERPRINT_DAY = date(2000, 1, 31)


def primary_product(con: duckdb.DuckDBPyConnection) -> str:
    """The catalogue's one primary product."""
    try:
        rows = con.execute("SELECT product FROM c360.products WHERE kind = 'primary' ORDER BY product").fetchall()
    except duckdb.CatalogException:
        raise FeatureError("the warehouse holds no Customer 360 yet: run `xsell consolidate --raw DIR` first") from None
    if len(rows) != 1:
        raise FeatureError(f"the catalogue must name exactly one primary product, found {len(rows)}")
    return str(rows[0][0])


def snapshot_sql(primary: str, as_of: date, settings: Settings, data_end: date) -> str:
    """The SELECT producing every eligible row of one snapshot: keys, label, then the catalog's features."""
    cfg = settings.features
    at = families.AsOf(
        day=as_of,
        primary=primary,
        fiscal_year_start_month=cfg.fiscal_year_start_month,
        tenure_bands_months=cfg.tenure_bands_months,
    )
    ctes = [
        *families.catalog_ctes(),
        *families.account_state_ctes(at),
        *families.subscription_ctes(at),
        *families.usage_ctes(at),
        *families.health_ctes(at),
        *families.account_ctes(at),
        *families.pair_ctes(at, cfg.require_prerequisite),
        conversion_cte(),
    ]
    columns = [
        "p.account_id",
        "p.product",
        f"{at.d} AS as_of",
        f"{label_expr(as_of, cfg.horizon_days, data_end)} AS label",
        *(f"CAST({f.expr} AS {f.dtype}) AS {f.name}" for f in FEATURES),
    ]
    return (
        "WITH "
        + ",\n".join(ctes)
        + "\nSELECT "
        + ",\n       ".join(columns)
        + "\n"
        + families.pair_joins()
        + "\n        LEFT JOIN conversions conv ON conv.account_id = p.account_id AND conv.product = p.product"
        + "\nORDER BY p.account_id, p.product"
    )


def feature_code_fingerprint(primary: str, settings: Settings) -> str:
    """Fingerprint of the generated SQL (catalog, families, labels and feature settings)."""
    sql = snapshot_sql(primary, _FINGERPRINT_DAY, settings, data_end=date(9999, 12, 31))
    return hashlib.sha256(sql.encode()).hexdigest()[:16]


def _to_frame(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Stable pandas types (dates as `datetime.date`, nullable Int64 label and integer features, str categories),
    validated against the snapshot schema; converts `frame` (a fresh query result) in place."""
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    frame["label"] = frame["label"].astype("Int64")
    for f in FEATURES:
        if f.dtype in ("BIGINT", "INTEGER"):
            frame[f.name] = frame[f.name].astype("Int64")
        elif f.dtype == "DOUBLE":
            frame[f.name] = frame[f.name].astype("float64")
        else:
            frame[f.name] = pd.Series(
                [v if isinstance(v, str) else None for v in frame[f.name]], index=frame.index, dtype=object
            )
    return validate_snapshot(frame[list(SNAPSHOT_COLUMNS)], source)


@dataclass(frozen=True)
class ComputedSnapshot:
    """One snapshot's rows computed on a read-only warehouse connection (e.g. on a Dask worker), not yet stored."""

    as_of: date
    table: pa.Table
    data_end: date
    load_run_id: str
    code_version: str
    seconds: float


class SnapshotReader:
    """Snapshots over one open warehouse connection (writable to materialise or store, else read-only is enough).

    Data bounds, primary product and SQL fingerprint are read once per reader, at their first need.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
        self.con = con
        self.settings = settings

    @cached_property
    def bounds(self) -> DataBounds:
        """Days the warehouse describes and the load they come from."""
        return data_bounds(self.con, self.settings)

    @cached_property
    def calendar(self) -> SnapshotCalendar:
        """The configured snapshot calendar over the data."""
        return SnapshotCalendar.of(self.bounds, self.settings)

    @cached_property
    def primary(self) -> str:
        """The catalogue's one primary product."""
        return primary_product(self.con)

    @cached_property
    def code_version(self) -> str:
        """Fingerprint of the snapshot SQL this process generates for this warehouse."""
        return feature_code_fingerprint(self.primary, self.settings)

    def sql(self, as_of: date) -> str:
        """The SELECT of the snapshot at `as_of`; FeatureError when it lies outside the data."""
        check_as_of(as_of, self.bounds)
        return snapshot_sql(self.primary, as_of, self.settings, self.bounds.end)

    def is_current(self, as_of: date) -> bool:
        """True when `as_of` is materialised by this code, from the latest load, with the same data end."""
        record = store.snapshot_record(self.con, as_of)
        if record is None:
            return False
        return (
            record.code_version == self.code_version
            and record.load_run_id == self.bounds.load_run_id
            and record.data_end == self.bounds.end
        )

    def build(self, as_of: date) -> pd.DataFrame:
        """Rows of one snapshot as pandas: `account_id, product, as_of, label`, then every catalog feature."""
        sql = self.sql(as_of)
        started = time.perf_counter()
        frame = _to_frame(self.con.execute(sql).df(), f"snapshot {as_of}")
        log.info(
            "snapshot built",
            extra={"as_of": as_of.isoformat(), "rows": len(frame), "seconds": round(time.perf_counter() - started, 2)},
        )
        return frame

    def read(self, as_of: date) -> pd.DataFrame:
        """The snapshot's rows: read when materialised by this code from the latest load, else built."""
        if self.is_current(as_of):
            return _to_frame(self.con.execute(store.rows_sql(as_of)).df(), f"materialised snapshot {as_of}")
        return self.build(as_of)

    def materialise(self, as_of: date) -> store.SnapshotRecord:
        """Build one snapshot into `features.snapshot_rows` (its previous rows replaced in one transaction)."""
        started = time.perf_counter()
        record = store.write_snapshot(
            self.con,
            as_of,
            self.sql(as_of),
            data_end=self.bounds.end,
            horizon_days=self.settings.features.horizon_days,
            code_version=self.code_version,
            load_run_id=self.bounds.load_run_id,
            started=started,
        )
        log.info("snapshot materialised", extra=record.to_dict())
        return record

    def ensure(self, as_of: date) -> bool:
        """Materialise `as_of` unless it is current; True when it was materialised now."""
        if self.is_current(as_of):
            return False
        self.materialise(as_of)
        return True

    def export(self, as_of: date, out: Path) -> int:
        """Write one snapshot's rows to a Parquet file atomically (read if current, else built); returns rows."""
        if self.is_current(as_of):
            log.info("reading materialised snapshot", extra={"as_of": as_of.isoformat()})
            return store.copy_to_parquet(self.con, store.rows_sql(as_of), out)
        return store.copy_to_parquet(self.con, self.sql(as_of), out)

    def store_computed(self, computed: ComputedSnapshot) -> store.SnapshotRecord:
        """Write computed rows into `features.snapshot_rows` as `materialise` would (same column types, that date's
        previous rows replaced in one transaction); FeatureError when the warehouse changed in between."""
        started = time.perf_counter() - computed.seconds
        sql, bounds = self.sql(computed.as_of), self.bounds
        if (bounds.load_run_id, bounds.end) != (computed.load_run_id, computed.data_end):
            raise FeatureError(
                f"snapshot {computed.as_of} was computed on load {computed.load_run_id} (data end"
                f" {computed.data_end}) but the warehouse now holds load {bounds.load_run_id} (data end {bounds.end}):"
                " build the features again"
            )
        if computed.code_version != self.code_version:
            raise FeatureError(
                f"snapshot {computed.as_of} was computed by feature code {computed.code_version}, this process runs"
                f" {self.code_version}: install the same xsell version on the Dask workers"
            )
        view = f"computed_snapshot_{computed.as_of:%Y%m%d}"
        columns = store.columns_of(self.con, sql)
        select = "SELECT " + ", ".join(f"CAST({quote_ident(n)} AS {t}) AS {quote_ident(n)}" for n, t in columns)
        self.con.register(view, computed.table)
        try:
            record = store.write_snapshot(
                self.con,
                computed.as_of,
                f"{select} FROM {view}",
                data_end=bounds.end,
                horizon_days=self.settings.features.horizon_days,
                code_version=self.code_version,
                load_run_id=bounds.load_run_id,
                started=started,
            )
        finally:
            self.con.unregister(view)
        log.info("snapshot stored", extra=record.to_dict())
        return record

    def plan(self, from_month: str, to_month: str) -> list[date]:
        """As-of dates of the months `from_month`..`to_month` at the configured cadence, clipped to the data."""
        wanted = snapshot_dates(from_month, to_month, self.settings.features.cadence)
        dates = dates_within(wanted, self.bounds)
        if not dates:
            raise FeatureError(
                f"no as-of date of {from_month}..{to_month} falls within the data"
                f" ({self.bounds.start} .. {self.bounds.end})"
            )
        if len(dates) < len(wanted):
            log.info("as-of dates clipped to the data", extra={"wanted": len(wanted), "kept": len(dates)})
        return dates


def compute_snapshot(settings: Settings, as_of: date) -> ComputedSnapshot:
    """Run one snapshot's SQL on a read-only connection to the warehouse and keep its rows as Arrow."""
    started = time.perf_counter()
    with store.warehouse(settings, read_only=True) as con:
        reader = SnapshotReader(con, settings)
        table = con.sql(reader.sql(as_of)).to_arrow_table()
        computed = ComputedSnapshot(
            as_of=as_of,
            table=table,
            data_end=reader.bounds.end,
            load_run_id=reader.bounds.load_run_id,
            code_version=reader.code_version,
            seconds=time.perf_counter() - started,
        )
    log.info("snapshot computed", extra={"as_of": as_of.isoformat(), "rows": table.num_rows})
    return computed


def build_snapshot(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> pd.DataFrame:
    """Rows of one snapshot, built (see `SnapshotReader.build`)."""
    return SnapshotReader(con, settings).build(as_of)


def read_snapshot(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> pd.DataFrame:
    """Rows of one snapshot, read when current else built (see `SnapshotReader.read`)."""
    return SnapshotReader(con, settings).read(as_of)


def materialise_snapshot(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> store.SnapshotRecord:
    """Build one snapshot into `features.snapshot_rows` (see `SnapshotReader.materialise`)."""
    return SnapshotReader(con, settings).materialise(as_of)


def is_materialised(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> bool:
    """True when `as_of` is materialised by this code from the latest load (see `SnapshotReader.is_current`)."""
    return SnapshotReader(con, settings).is_current(as_of)


def export_snapshot(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings, out: Path) -> int:
    """Write one snapshot's rows to Parquet atomically; returns rows (see `SnapshotReader.export`)."""
    return SnapshotReader(con, settings).export(as_of, out)


def store_snapshot(
    con: duckdb.DuckDBPyConnection, computed: ComputedSnapshot, settings: Settings
) -> store.SnapshotRecord:
    """Write computed rows into `features.snapshot_rows` (see `SnapshotReader.store_computed`)."""
    return SnapshotReader(con, settings).store_computed(computed)


def plan_snapshots(con: duckdb.DuckDBPyConnection, from_month: str, to_month: str, settings: Settings) -> list[date]:
    """As-of dates of `from_month`..`to_month` clipped to the data (see `SnapshotReader.plan`)."""
    return SnapshotReader(con, settings).plan(from_month, to_month)
