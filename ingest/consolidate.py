"""Consolidate staged tables into the Customer 360 warehouse in one transaction: all of it or none.

Every staged row is classified here (kept, duplicate, invalid, future-dated, orphan, with ids in their canonical
spelling); `ingest.c360` writes the outputs from the classified rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from ingest.c360 import (
    C360,
    META,
    REJECTED,
    id_columns,
    id_matching,
    null_rates,
    write_accounts,
    write_ownership,
    write_rejected,
    write_table,
)
from ingest.contract import ACCOUNTS, PRODUCTS, TABLES, USAGE, TableSpec
from ingest.stage import BAD_VALUE, ID_WHITESPACE, NULLED, REASON, SOURCE, StagedTable
from xsell import progress
from xsell.duck import quote_ident, quote_str

log = logging.getLogger(__name__)


@dataclass
class TableCounts:
    """Row accounting of one table: every row read lands in exactly one bucket."""

    rows_read: int = 0
    rows_kept: int = 0
    duplicates: int = 0
    orphans: int = 0
    invalid: int = 0
    future_dated: int = 0
    ids_whitespace: int = 0
    ids_case: int = 0
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    nulled_values: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsolidationResult:
    """Counts per table and the cross-table facts the data-quality report needs."""

    export_time: datetime
    counts: dict[str, TableCounts]
    id_matching: dict[str, int]
    null_rates: dict[str, dict[str, float]]


def _parts(staged: StagedTable) -> str:
    files = ", ".join(quote_str(p) for p in staged.parts)
    return f"read_parquet([{files}])"


def _sql_ts(value: datetime) -> str:
    return f"TIMESTAMP {quote_str(value.strftime('%Y-%m-%d %H:%M:%S.%f'))}"


def find_export_time(
    con: duckdb.DuckDBPyConnection, staged: dict[str, StagedTable], configured: str | None
) -> datetime:
    """The export's 'now' (exclusive): configured, else the end of the day of the latest usage ingestion
    (the export covers its last day in full), else the end of the day of the latest account update."""
    if configured:
        row = con.execute(
            f"SELECT CAST(timezone('UTC', CAST({quote_str(configured)} AS TIMESTAMPTZ)) AS TIMESTAMP)"
        ).fetchall()
        return row[0][0]
    for spec, column in ((USAGE, "ingested_at"), (ACCOUNTS, "updated_at")):
        st = staged.get(spec.name)
        if st is None or not st.parts:
            continue
        value = con.execute(
            f"SELECT date_trunc('day', max({column})) + INTERVAL 1 DAY FROM {_parts(st)} WHERE {REASON} IS NULL"
        ).fetchall()[0][0]
        if value is not None:
            return value
    return datetime(1970, 1, 1)


def data_end_of(export_time: datetime) -> date:
    """The last complete day an export covers (export time is exclusive)."""
    return (export_time - timedelta(microseconds=1)).date()


#: Share of a kind's CRM ids written in one letter case above which every id of that kind takes that case.
SINGLE_CASE_SHARE = 0.9


def _future(spec: TableSpec, export_time: datetime, alias: str = "") -> str:
    if spec.future_sql is None:
        return "false"
    sql = spec.future_sql.format(export_time=_sql_ts(export_time))
    return f"coalesce({sql}, false)"


def _build_canon(con: duckdb.DuckDBPyConnection, staged: StagedTable, export_time: datetime) -> None:
    """Canonical spelling of every known id, stable from one export (or cut of it) to the next.

    When a kind's ids are written in one letter case (>= SINGLE_CASE_SHARE of valid CRM values), every id of
    that kind takes that case; otherwise each id takes its most frequent trimmed spelling in the CRM.
    """
    selects = []
    for column, kind in id_columns(ACCOUNTS):
        selects.append(
            f"SELECT '{kind}' AS kind, upper({quote_ident(column)}) AS key, {quote_ident(column)} AS spelling "
            f"FROM {_parts(staged)} WHERE {REASON} IS NULL AND NOT {_future(ACCOUNTS, export_time)} "
            f"AND {quote_ident(column)} IS NOT NULL"
        )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _w_canon AS
        WITH spellings AS ({" UNION ALL ".join(selects)}),
        style AS (
            SELECT kind,
                   CASE WHEN avg(CAST(spelling = upper(spelling) AS DOUBLE)) >= {SINGLE_CASE_SHARE} THEN 'upper'
                        WHEN avg(CAST(spelling = lower(spelling) AS DOUBLE)) >= {SINGLE_CASE_SHARE} THEN 'lower'
                        ELSE 'mixed' END AS style
            FROM spellings GROUP BY kind
        ),
        frequent AS (
            SELECT kind, key, arg_max(spelling, score) AS spelling FROM (
                SELECT kind, key, spelling,
                       count(*) * 1e9 - rank() OVER (PARTITION BY kind, key ORDER BY spelling) AS score
                FROM spellings GROUP BY kind, key, spelling
            ) GROUP BY kind, key
        )
        SELECT f.kind, f.key,
               CASE s.style WHEN 'upper' THEN upper(f.spelling) WHEN 'lower' THEN lower(f.spelling)
                    ELSE f.spelling END AS canonical
        FROM frequent f JOIN style s USING (kind)"""
    )


def _group_sql(spec: TableSpec, staged: StagedTable) -> str:
    """Collapse identical rows (ids compared case-insensitively) keeping counts, lineage and id stats."""
    ids = dict(id_columns(spec))
    select: list[str] = []
    group: list[str] = []
    joins: list[str] = []
    recased: list[str] = []
    for col in spec.columns:
        name = quote_ident(col.name)
        if col.name in ids:
            alias = f"k_{col.name}"
            joins.append(
                f"LEFT JOIN _w_canon {alias} ON {alias}.kind = '{ids[col.name]}' AND {alias}.key = upper(s.{name})"
            )
            select.append(f"coalesce({alias}.canonical, min(s.{name})) AS {name}")
            select.append(
                f"({alias}.canonical IS NULL AND upper(s.{name}) IS NOT NULL) AS {quote_ident('_unknown_' + col.name)}"
            )
            group += [f"upper(s.{name})", f"{alias}.canonical"]
            recased.append(f"coalesce(s.{name} <> {alias}.canonical, false)")
        else:
            select.append(f"s.{name}")
            group.append(f"s.{name}")
    recased_sql = " OR ".join(recased) if recased else "false"
    return (
        f"SELECT {', '.join(select)}, s.{REASON}, s.{NULLED}, count(*) AS _n, min(s.{SOURCE}) AS {SOURCE}, "
        f"sum(CAST(s.{ID_WHITESPACE} AS INTEGER)) AS _ws, sum(CASE WHEN {recased_sql} THEN 1 ELSE 0 END) AS _recased "
        f"FROM {_parts(staged)} s {' '.join(joins)} GROUP BY {', '.join(group)}, s.{REASON}, s.{BAD_VALUE}, s.{NULLED}"
    )


def _classify_sql(spec: TableSpec, export_time: datetime) -> str:
    orphan = "false"
    if spec.orphan_key is not None:
        orphan = quote_ident("_unknown_" + spec.orphan_key[0])
    return (
        f"CASE WHEN {REASON} IS NOT NULL THEN 'invalid' "
        f"WHEN {_future(spec, export_time)} THEN 'future_dated' "
        f"WHEN {orphan} THEN 'orphan' ELSE 'kept' END"
    )


def _classify_table(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, staged: StagedTable, export_time: datetime
) -> TableCounts:
    """Group, classify and count one table into `_work.<slug>`; returns its row accounting."""
    work = f"_w_{spec.slug}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {work} AS SELECT *, {_classify_sql(spec, export_time)} AS _class "
        f"FROM ({_group_sql(spec, staged)})"
    )
    _check_products(con, spec, work)
    counts = TableCounts(rows_read=staged.rows_read)
    rows = con.execute(
        f"SELECT _class, count(*), sum(_n - 1), sum(_ws), sum(_recased) FROM {work} GROUP BY _class"
    ).fetchall()
    for cls, groups, extra_copies, ws, recased in rows:
        counts.duplicates += int(extra_copies or 0)
        counts.ids_whitespace += int(ws or 0)
        counts.ids_case += int(recased or 0)
        if cls == "kept":
            counts.rows_kept += int(groups)
        elif cls == "invalid":
            counts.invalid += int(groups)
        elif cls == "future_dated":
            counts.future_dated += int(groups)
        elif cls == "orphan":
            counts.orphans += int(groups)
    counts.invalid_reasons = {
        str(r): int(n)
        for r, n in con.execute(
            f"SELECT {REASON}, count(*) FROM {work} WHERE _class = 'invalid' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    }
    counts.nulled_values = _nulled_counts(con, spec, work)
    total = counts.rows_kept + counts.invalid + counts.future_dated + counts.orphans + counts.duplicates
    if total != counts.rows_read:
        raise RuntimeError(f"{spec.name}: row accounting mismatch ({total} classified, {counts.rows_read} read)")
    return counts


def _check_products(con: duckdb.DuckDBPyConnection, spec: TableSpec, work: str) -> None:
    """Products the catalogue does not list: a defining column sets its row aside, a value column is nulled."""
    known = f"(SELECT product FROM _w_{PRODUCTS.slug} WHERE _class = 'kept')"
    for name in spec.product_columns:
        col = quote_ident(name)
        unknown = f"{col} IS NOT NULL AND {col} NOT IN {known}"
        if name in spec.value_columns:
            con.execute(
                f"UPDATE {work} SET {col} = NULL, {NULLED} = CASE WHEN {NULLED} IS NULL THEN {quote_str(name)} "
                f"ELSE {NULLED} || ',' || {quote_str(name)} END WHERE {unknown}"
            )
        else:
            con.execute(
                f"UPDATE {work} SET {REASON} = {quote_str('unknown_product:' + name)}, _class = 'invalid' "
                f"WHERE {REASON} IS NULL AND {unknown}"
            )


def _nulled_counts(con: duckdb.DuckDBPyConnection, spec: TableSpec, work: str) -> dict[str, int]:
    """Kept rows per value column whose unusable value was set to NULL (every value column, 0 included)."""
    found = dict(
        con.execute(
            f"SELECT c, count(*) FROM (SELECT unnest(string_split({NULLED}, ',')) AS c FROM {work} "
            f"WHERE _class = 'kept' AND {NULLED} IS NOT NULL) GROUP BY c"
        ).fetchall()
    )
    return {name: int(found.get(name, 0)) for name in spec.value_columns}


def consolidate(
    con: duckdb.DuckDBPyConnection,
    staged: dict[str, StagedTable],
    export_time: datetime,
    late_after_days: int = 1,
    on_table: Callable[[str], None] | None = None,
) -> ConsolidationResult:
    """Build the c360 and rejected schemas from staged tables on `con` (the caller owns the transaction)."""
    for schema in (C360, REJECTED, META):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    with progress.step("consolidate.accounts", "unifying account ids"):
        _build_canon(con, staged[ACCOUNTS.name], export_time)
    counts: dict[str, TableCounts] = {}
    with progress.step("consolidate.classify", "classifying rows (kept, rejected, late)", total=len(TABLES)):
        for spec in TABLES:
            counts[spec.name] = _classify_table(con, spec, staged[spec.name], export_time)
            if spec.name == ACCOUNTS.name:
                counts[spec.name].extra.update(write_accounts(con))
            if on_table is not None:
                on_table(spec.name)
            progress.advance("consolidate.classify", description=f"classified {spec.name}")
    # non-account tables resolve through the account map, so they are written once it exists
    with progress.step("consolidate.write", "writing the Customer 360 tables", total=len(TABLES)):
        for spec in TABLES:
            write_rejected(con, spec)
            if spec.name != ACCOUNTS.name:
                write_table(con, spec)
            progress.advance("consolidate.write", description=f"wrote {spec.name}")
        write_ownership(con)
    with progress.step("consolidate.quality", "measuring late rows, null rates and id matching"):
        late = con.execute(
            f"SELECT count(*) FROM {C360}.usage_daily WHERE date_diff('day', date, CAST(ingested_at AS DATE)) > {int(late_after_days)}"
        ).fetchall()[0][0]
        counts[USAGE.name].extra["late_rows"] = int(late)
        rates = {spec.name: null_rates(con, spec) for spec in TABLES}
        matching = id_matching(con)
    for spec in TABLES:
        con.execute(f"DROP TABLE IF EXISTS _w_{spec.slug}")
    con.execute("DROP TABLE IF EXISTS _w_canon")
    return ConsolidationResult(export_time=export_time, counts=counts, id_matching=matching, null_rates=rates)
