"""The way into the warehouse (`warehouse`), and materialised snapshots in its schema `features`: one
delete+insert transaction per as-of date."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import FeatureError
from features.families import date_sql
from ingest.pipeline import open_warehouse
from xsell.fileio import atomic_path
from xsell.settings import Settings

log = logging.getLogger(__name__)

SCHEMA = "features"
ROWS = f"{SCHEMA}.snapshot_rows"
SNAPSHOTS = f"{SCHEMA}.snapshots"


@dataclass(frozen=True)
class SnapshotRecord:
    """What one materialised snapshot holds and which code and load built it."""

    as_of: date
    rows: int
    labelled_rows: int
    positives: int
    data_end: date
    horizon_days: int
    code_version: str
    load_run_id: str
    built_at: datetime
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (dates as ISO strings), for flow results and the CLI."""
        out = asdict(self)
        for key in ("as_of", "data_end", "built_at"):
            out[key] = out[key].isoformat()
        return out


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """True when `schema.table` exists in the connected database."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, table]
    ).fetchall()
    return bool(rows[0][0])


def columns_of(con: duckdb.DuckDBPyConnection, select_sql: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column the query returns (bound, not run)."""
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM ({select_sql})").fetchall()]


def _table_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {ROWS}").fetchall()]


def _ensure_tables(con: duckdb.DuckDBPyConnection, select_sql: str) -> None:
    """Create the schema and tables (rows from the query's shape); a changed feature set drops stale snapshots."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {SNAPSHOTS} (
            as_of DATE, rows BIGINT, labelled_rows BIGINT, positives BIGINT, data_end DATE, horizon_days INTEGER,
            code_version VARCHAR, load_run_id VARCHAR, built_at TIMESTAMP, seconds DOUBLE)"""
    )
    wanted = columns_of(con, select_sql)
    if table_exists(con, SCHEMA, "snapshot_rows"):
        if _table_columns(con) == wanted:
            return
        stale = con.execute(f"SELECT count(*) FROM {SNAPSHOTS}").fetchall()[0][0]
        log.warning("feature columns changed: dropping materialised snapshots", extra={"snapshots": int(stale)})
        con.execute(f"DROP TABLE {ROWS}")
        con.execute(f"DELETE FROM {SNAPSHOTS}")
    con.execute(f"CREATE TABLE {ROWS} AS SELECT * FROM ({select_sql}) LIMIT 0")


def write_snapshot(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    select_sql: str,
    *,
    data_end: date,
    horizon_days: int,
    code_version: str,
    load_run_id: str,
    started: float,
) -> SnapshotRecord:
    """Replace the rows of `as_of` with the query's rows, in one transaction (idempotent)."""
    con.begin()
    try:
        _ensure_tables(con, select_sql)
        con.execute(f"DELETE FROM {ROWS} WHERE as_of = {date_sql(as_of)}")
        con.execute(f"DELETE FROM {SNAPSHOTS} WHERE as_of = {date_sql(as_of)}")
        con.execute(f"INSERT INTO {ROWS} BY NAME SELECT * FROM ({select_sql})")
        rows, labelled, positives = con.execute(
            f"SELECT count(*), count(label), coalesce(sum(label), 0) FROM {ROWS} WHERE as_of = {date_sql(as_of)}"
        ).fetchall()[0]
        record = SnapshotRecord(
            as_of=as_of,
            rows=int(rows),
            labelled_rows=int(labelled),
            positives=int(positives),
            data_end=data_end,
            horizon_days=horizon_days,
            code_version=code_version,
            load_run_id=load_run_id,
            built_at=datetime.now().replace(microsecond=0),
            seconds=round(time.perf_counter() - started, 3),
        )
        con.execute(
            f"INSERT INTO {SNAPSHOTS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.as_of,
                record.rows,
                record.labelled_rows,
                record.positives,
                record.data_end,
                record.horizon_days,
                record.code_version,
                record.load_run_id,
                record.built_at,
                record.seconds,
            ],
        )
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        raise
    return record


def snapshot_record(con: duckdb.DuckDBPyConnection, as_of: date) -> SnapshotRecord | None:
    """The materialisation record of `as_of`, or None when it was never materialised."""
    if not table_exists(con, SCHEMA, "snapshots"):
        return None
    rows = con.execute(
        f"SELECT as_of, rows, labelled_rows, positives, data_end, horizon_days, code_version, load_run_id,"
        f" built_at, seconds FROM {SNAPSHOTS} WHERE as_of = {date_sql(as_of)}"
    ).fetchall()
    if not rows:
        return None
    r = rows[0]
    return SnapshotRecord(r[0], int(r[1]), int(r[2]), int(r[3]), r[4], int(r[5]), str(r[6]), str(r[7]), r[8], r[9])


def list_snapshots(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every materialisation record, oldest as-of first (empty frame when none)."""
    if not table_exists(con, SCHEMA, "snapshots"):
        return pd.DataFrame()
    return con.execute(f"SELECT * FROM {SNAPSHOTS} ORDER BY as_of").df()


def rows_sql(as_of: date) -> str:
    """SELECT of the materialised rows of one snapshot, in the build's order."""
    return f"SELECT * FROM {ROWS} WHERE as_of = {date_sql(as_of)} ORDER BY account_id, product"


def copy_to_parquet(con: duckdb.DuckDBPyConnection, select_sql: str, out: Path) -> int:
    """Write a query's rows to `out` as Parquet, atomically, every column nullable (one schema for all snapshots)."""
    table = con.sql(select_sql).to_arrow_table()
    schema = pa.schema([field.with_nullable(True) for field in table.schema])
    with atomic_path(out) as tmp:
        pq.write_table(table.cast(schema), tmp, compression="zstd")
    return int(table.num_rows)


def connect_warehouse(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (the caller closes it; prefer `warehouse`); a missing warehouse is a FeatureError telling
    what to run first."""
    if not Path(settings.warehouse_path).is_file():
        raise FeatureError(f"no warehouse at {settings.warehouse_path}: run `xsell consolidate --raw DIR` first")
    return open_warehouse(settings, read_only=read_only)


@contextlib.contextmanager
def warehouse(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse connection for a `with` block, closed when it ends (read-only for readers, so several
    processes can read at once); a missing warehouse is a FeatureError telling what to run first."""
    con = connect_warehouse(settings, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def require_warehouse(settings: Settings) -> None:
    """Fail fast, before an orchestrator starts: the warehouse exists and opens read-only (FeatureError else)."""
    with warehouse(settings, read_only=True):
        pass
