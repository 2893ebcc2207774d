"""Build point-in-time snapshots: one SQL statement per as-of date over the warehouse, returned or materialised."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from features import families, store
from features.catalog import FEATURES, KEY_COLUMNS
from features.errors import FeatureError
from features.grid import DataBounds, check_as_of, data_bounds, dates_within, snapshot_dates
from features.labels import conversion_cte, label_expr
from xsell.duck import quote_ident
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "ComputedSnapshot",
    "build_snapshot",
    "compute_snapshot",
    "export_snapshot",
    "feature_code_fingerprint",
    "materialise_snapshot",
    "plan_snapshots",
    "snapshot_dates",
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
    """Fingerprint of the generated SQL (catalog, families, labels and feature settings): a snapshot record's
    `code_version`, unlike `registry.provenance.code_version` (package version and git commit)."""
    sql = snapshot_sql(primary, _FINGERPRINT_DAY, settings, data_end=date(9999, 12, 31))
    return hashlib.sha256(sql.encode()).hexdigest()[:16]


def _to_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Stable pandas types: dates as `datetime.date`, nullable Int64 label and integer features, str categories."""
    frame = raw.copy()
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
    return frame[[*KEY_COLUMNS, *(f.name for f in FEATURES)]]


def _prepare(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> tuple[str, DataBounds, str]:
    bounds = data_bounds(con, settings)
    check_as_of(as_of, bounds)
    primary = primary_product(con)
    return snapshot_sql(primary, as_of, settings, bounds.end), bounds, primary


def build_snapshot(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> pd.DataFrame:
    """Rows of one snapshot as pandas: `account_id, product, as_of, label`, then every catalog feature."""
    sql, _, _ = _prepare(con, as_of, settings)
    started = time.perf_counter()
    frame = _to_frame(con.execute(sql).df())
    log.info(
        "snapshot built",
        extra={"as_of": as_of.isoformat(), "rows": len(frame), "seconds": round(time.perf_counter() - started, 2)},
    )
    return frame


def materialise_snapshot(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> store.SnapshotRecord:
    """Build one snapshot into `features.snapshot_rows` (its previous rows replaced in one transaction)."""
    started = time.perf_counter()
    sql, bounds, primary = _prepare(con, as_of, settings)
    record = store.write_snapshot(
        con,
        as_of,
        sql,
        data_end=bounds.end,
        horizon_days=settings.features.horizon_days,
        code_version=feature_code_fingerprint(primary, settings),
        load_run_id=bounds.load_run_id,
        started=started,
    )
    log.info("snapshot materialised", extra=record.to_dict())
    return record


@dataclass(frozen=True)
class ComputedSnapshot:
    """One snapshot's rows computed on a read-only warehouse connection (e.g. on a Dask worker), not yet stored."""

    as_of: date
    table: pa.Table
    data_end: date
    load_run_id: str
    code_version: str
    seconds: float


def compute_snapshot(settings: Settings, as_of: date) -> ComputedSnapshot:
    """Run one snapshot's SQL on a read-only connection to the warehouse and keep its rows as Arrow."""
    started = time.perf_counter()
    con = store.connect_warehouse(settings, read_only=True)
    try:
        sql, bounds, primary = _prepare(con, as_of, settings)
        table = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    computed = ComputedSnapshot(
        as_of=as_of,
        table=table,
        data_end=bounds.end,
        load_run_id=bounds.load_run_id,
        code_version=feature_code_fingerprint(primary, settings),
        seconds=time.perf_counter() - started,
    )
    log.info("snapshot computed", extra={"as_of": as_of.isoformat(), "rows": table.num_rows})
    return computed


def store_snapshot(
    con: duckdb.DuckDBPyConnection, computed: ComputedSnapshot, settings: Settings
) -> store.SnapshotRecord:
    """Write computed rows into `features.snapshot_rows` as `materialise_snapshot` would (same column types, that
    date's previous rows replaced in one transaction); FeatureError when the warehouse changed in between."""
    started = time.perf_counter() - computed.seconds
    sql, bounds, primary = _prepare(con, computed.as_of, settings)
    if (bounds.load_run_id, bounds.end) != (computed.load_run_id, computed.data_end):
        raise FeatureError(
            f"snapshot {computed.as_of} was computed on load {computed.load_run_id} (data end {computed.data_end}) but"
            f" the warehouse now holds load {bounds.load_run_id} (data end {bounds.end}): build the features again"
        )
    expected = feature_code_fingerprint(primary, settings)
    if computed.code_version != expected:
        raise FeatureError(
            f"snapshot {computed.as_of} was computed by feature code {computed.code_version}, this process runs"
            f" {expected}: install the same xsell version on the Dask workers"
        )
    view = f"computed_snapshot_{computed.as_of:%Y%m%d}"
    columns = store.columns_of(con, sql)
    select = "SELECT " + ", ".join(f"CAST({quote_ident(n)} AS {t}) AS {quote_ident(n)}" for n, t in columns)
    con.register(view, computed.table)
    try:
        record = store.write_snapshot(
            con,
            computed.as_of,
            f"{select} FROM {view}",
            data_end=bounds.end,
            horizon_days=settings.features.horizon_days,
            code_version=expected,
            load_run_id=bounds.load_run_id,
            started=started,
        )
    finally:
        con.unregister(view)
    log.info("snapshot stored", extra=record.to_dict())
    return record


def is_materialised(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> bool:
    """True when `as_of` is materialised by this code, from the latest load, with the same data end."""
    record = store.snapshot_record(con, as_of)
    if record is None:
        return False
    bounds = data_bounds(con, settings)
    return (
        record.code_version == feature_code_fingerprint(primary_product(con), settings)
        and record.load_run_id == bounds.load_run_id
        and record.data_end == bounds.end
    )


def read_snapshot(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> pd.DataFrame:
    """The snapshot's rows: read when materialised by this code from the latest load, else built."""
    if is_materialised(con, as_of, settings):
        return _to_frame(con.execute(store.rows_sql(as_of)).df())
    return build_snapshot(con, as_of, settings)


def export_snapshot(con: duckdb.DuckDBPyConnection, as_of: date, settings: Settings, out: Path) -> int:
    """Write one snapshot's rows to a Parquet file atomically (read if current, else built); returns rows."""
    if is_materialised(con, as_of, settings):
        log.info("reading materialised snapshot", extra={"as_of": as_of.isoformat()})
        return store.copy_to_parquet(con, store.rows_sql(as_of), out)
    sql, _, _ = _prepare(con, as_of, settings)
    return store.copy_to_parquet(con, sql, out)


def plan_snapshots(con: duckdb.DuckDBPyConnection, from_month: str, to_month: str, settings: Settings) -> list[date]:
    """As-of dates of the months `from_month`..`to_month` at the configured cadence, clipped to the data."""
    wanted = snapshot_dates(from_month, to_month, settings.features.cadence)
    bounds = data_bounds(con, settings)
    dates = dates_within(wanted, bounds)
    if not dates:
        raise FeatureError(
            f"no as-of date of {from_month}..{to_month} falls within the data ({bounds.start} .. {bounds.end})"
        )
    if len(dates) < len(wanted):
        log.info("as-of dates clipped to the data", extra={"wanted": len(wanted), "kept": len(dates)})
    return dates
