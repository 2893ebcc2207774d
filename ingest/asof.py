"""A raw export as it would have looked at the end of an as-of day: later rows removed, later events rolled back.

As-of date D means T = D + 1 day 00:00 UTC, exclusive (../shared/data-contract.md, "Point in time"). The copy
keeps the contract layout (same folders, file names and formats; unknown columns kept) so it consolidates like
any export. Rows whose deciding value cannot be parsed are kept as they are: ingestion sets them aside in the
full export and in the copy alike. Used by the leakage tests and by replay.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb

from ingest.contract import (
    ACCOUNTS,
    FEATURES,
    INVOICES,
    NPS,
    OPPORTUNITIES,
    PRODUCTS,
    SUBSCRIPTIONS,
    TABLES,
    TICKETS,
    TOUCHES,
    TRUNCATION_NAME,
    USAGE,
    TableSpec,
)
from ingest.errors import ContractError
from ingest.files import RawPart, find_parts, inspect_part
from ingest.stage import typed_expr
from xsell.duck import connect, quote_ident, quote_str
from xsell.fileio import atomic_dir

log = logging.getLogger(__name__)

#: Days after issue when an unpaid invoice is declared uncollectible (contract).
UNCOLLECTIBLE_AFTER_DAYS = 60

#: (typed column SQL by contract name) -> SQL
Sql = Callable[[Callable[[str], str]], str]


@dataclass(frozen=True)
class Cut:
    """How one table is cut at T: which rows stay, and which columns are rolled back (raw column -> new SQL)."""

    keep: Sql
    rollback: dict[str, Sql] = field(default_factory=dict)


def _cuts(as_of: date) -> dict[str, Cut]:
    t = datetime.combine(as_of + timedelta(days=1), time())
    ts = f"TIMESTAMP '{t:%Y-%m-%d %H:%M:%S}'"
    d = f"DATE '{as_of.isoformat()}'"
    declared = f"TIMESTAMP '{t - timedelta(days=UNCOLLECTIBLE_AFTER_DAYS):%Y-%m-%d %H:%M:%S}'"

    def invoice_status(c: Callable[[str], str]) -> str:
        unpaid_at_t = f"({c('paid_at')} IS NULL OR {c('paid_at')} >= {ts})"
        known_uncollectible = f"{c('status')} = 'uncollectible' AND {c('issued_at')} <= {declared} AND {unpaid_at_t}"
        return (
            f"CASE WHEN {known_uncollectible} THEN {c('raw:status')} "
            f"WHEN {c('paid_at')} >= {ts} OR {c('status')} = 'uncollectible' THEN 'open' "
            f"ELSE {c('raw:status')} END"
        )

    return {
        ACCOUNTS.name: Cut(lambda c: f"{c('updated_at')} < {ts} AND {c('created_at')} < {ts}"),
        OPPORTUNITIES.name: Cut(
            lambda c: f"{c('created_at')} < {ts}",
            {
                "closed_at": lambda c: f"CASE WHEN {c('closed_at')} >= {ts} THEN NULL ELSE {c('raw:closed_at')} END",
                "stage": lambda c: f"CASE WHEN {c('closed_at')} >= {ts} THEN 'open' ELSE {c('raw:stage')} END",
            },
        ),
        SUBSCRIPTIONS.name: Cut(
            lambda c: f"{c('start_date')} <= {d}",
            {"end_date": lambda c: f"CASE WHEN {c('end_date')} > {d} THEN NULL ELSE {c('raw:end_date')} END"},
        ),
        INVOICES.name: Cut(
            lambda c: f"{c('issued_at')} < {ts}",
            {
                "paid_at": lambda c: f"CASE WHEN {c('paid_at')} >= {ts} THEN NULL ELSE {c('raw:paid_at')} END",
                "status": invoice_status,
            },
        ),
        USAGE.name: Cut(lambda c: f"{c('date')} <= {d} AND {c('ingested_at')} < {ts}"),
        TICKETS.name: Cut(
            lambda c: f"{c('created_at')} < {ts}",
            {
                "solved_at": lambda c: f"CASE WHEN {c('solved_at')} >= {ts} THEN NULL ELSE {c('raw:solved_at')} END",
                "satisfaction": lambda c: (
                    f"CASE WHEN {c('solved_at')} >= {ts} THEN NULL ELSE {c('raw:satisfaction')} END"
                ),
            },
        ),
        NPS.name: Cut(lambda c: f"{c('submitted_at')} < {ts}"),
        TOUCHES.name: Cut(lambda c: f"{c('occurred_at')} < {ts}"),
    }


def _column_sql(spec: TableSpec, part: RawPart) -> Callable[[str], str]:
    """Resolver of `name` (typed contract value) and `raw:name` (the file's own value) for one part."""

    def resolve(name: str) -> str:
        raw = name.startswith("raw:")
        column = name.removeprefix("raw:")
        ident = quote_ident(part.columns[column])
        if raw:
            return ident
        return typed_expr(spec.column(column), ident, part.types[column])

    return resolve


def _cut_sql(spec: TableSpec, part: RawPart, cut: Cut) -> str:
    """SELECT of one part's kept rows, rolled-back columns replaced, every other column as it was."""
    resolve = _column_sql(spec, part)
    replace = ", ".join(
        f"CAST(({sql(resolve)}) AS {part.types[column]}) AS {quote_ident(part.columns[column])}"
        for column, sql in cut.rollback.items()
    )
    star = f"* REPLACE ({replace})" if replace else "*"
    return f"SELECT {star} FROM {part.scan_sql()} WHERE coalesce({cut.keep(resolve)}, true)"


def _write_part(con: duckdb.DuckDBPyConnection, sql: str, target: Path, fmt: str) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        options = "FORMAT parquet, COMPRESSION zstd"
    elif target.name.lower().endswith(".gz"):
        options = "FORMAT csv, HEADER true, COMPRESSION gzip"
    else:
        options = "FORMAT csv, HEADER true"
    con.execute(f"COPY ({sql}) TO {quote_str(target)} ({options})")
    return int(con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])


def truncate_export(raw_dir: Path, out_dir: Path, as_of: date) -> Path:
    """Write `out_dir`: the export `raw_dir` as known at the end of day `as_of` (T = as_of + 1 day, exclusive).

    Removed: account versions updated (or created) at or after T; opportunities, invoices, tickets, NPS responses
    and touches created at or after T; subscription items starting after `as_of`; usage dated after `as_of` or
    ingested at or after T. Rolled back: `paid_at` at or after T (status open; uncollectible only when issued 60+
    days before T and unpaid at T), `closed_at` at or after T (stage open), `end_date` after `as_of`, `solved_at`
    at or after T (satisfaction unknown). The catalogue is copied as is. `out_dir` is replaced atomically.
    """
    raw_dir, out_dir = raw_dir.resolve(), out_dir.resolve()
    if not raw_dir.is_dir():
        raise ContractError(raw_dir, "raw export folder not found")
    if out_dir == raw_dir or raw_dir in out_dir.parents:
        raise ValueError(f"out_dir {out_dir} must lie outside the raw export {raw_dir}")
    cuts = _cuts(as_of)
    counts: dict[str, dict[str, int]] = {}
    con = connect()
    try:
        with atomic_dir(out_dir) as tmp:
            for spec in TABLES:
                paths = find_parts(raw_dir, spec)
                parts = [inspect_part(con, raw_dir, p, spec) for p in paths]
                kept = read = 0
                for part in parts:
                    target = tmp / part.relpath
                    if spec.name in (PRODUCTS.name, FEATURES.name):
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(part.path, target)
                        continue
                    read += int(con.execute(f"SELECT count(*) FROM {part.scan_sql()}").fetchall()[0][0])
                    kept += _write_part(con, _cut_sql(spec, part, cuts[spec.name]), target, part.format)
                counts[spec.name] = {"rows_read": read, "rows_kept": kept}
            t = datetime.combine(as_of + timedelta(days=1), time())
            manifest = {"source": str(raw_dir), "as_of": as_of.isoformat(), "t": t.isoformat(), "tables": counts}
            (tmp / TRUNCATION_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    finally:
        con.close()
    log.info("export truncated", extra={"as_of": as_of.isoformat(), "out": str(out_dir)})
    return out_dir
