"""Stage one raw table: every part cast to contract types, ids trimmed, each row given a rejection reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.contract import Column, TableSpec
from ingest.files import RawPart, inspect_part, scan_table_folder, unreadable
from xsell import progress
from xsell.duck import quote_ident, quote_str

log = logging.getLogger(__name__)

REASON = "_reason"
BAD_VALUE = "_bad_value"
#: comma-separated value columns whose unusable value was set to NULL (NULL when none)
NULLED = "_nulled"
SOURCE = "_source_file"
ID_WHITESPACE = "_id_whitespace"

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}


@dataclass(frozen=True)
class StagedTable:
    """What staging one table produced: the staged parquet parts and what was seen on the way."""

    table: str
    parts: tuple[Path, ...]
    files: tuple[str, ...]
    rows_read: int
    unknown_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # entry of the table folder not read -> why


#: characters stripped around every value (DuckDB's trim() alone strips spaces only)
_WHITESPACE = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160)"


def _strip(raw: str) -> str:
    return f"trim(CAST({raw} AS VARCHAR), {_WHITESPACE})"


def _text(raw: str) -> str:
    return f"NULLIF({_strip(raw)}, '')"


def _is_tz_aware(source_type: str) -> bool:
    """DuckDB names tz-aware timestamps 'TIMESTAMP WITH TIME ZONE' or 'TIMESTAMPTZ[_NS|_MS|_S]'."""
    return source_type.startswith("TIMESTAMPTZ") or "TIME ZONE" in source_type


#: ISO 8601 as the contract allows it: `YYYY-MM-DD`, optionally a time (`T` or space, hour 00-23) and, after a
#: time, `Z` or an offset within -14:00..+14:00 (`+hh`, `+hhmm`, `+hh:mm`). DuckDB alone also accepts hour 24,
#: any offset (`+25:00` shifts the instant a day), named zones, `infinity`, `epoch` and years past 9999.
ISO_TIMESTAMP = (
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]((0\d|1[0-3])(:?[0-5]\d)?|14(:?00)?))?)?"
)


def _iso_only(text: str, cast: str) -> str:
    """`cast` where `text` has the contract's ISO 8601 shape, else NULL (day 30 of February fails the cast)."""
    return f"CASE WHEN regexp_full_match({text}, {quote_str(ISO_TIMESTAMP)}) THEN {cast} END"


def typed_expr(col: Column, raw: str, source_type: str) -> str:
    """SQL casting one source column to its contract type (NULL where it cannot be cast)."""
    src = source_type.upper()
    text = _text(raw)
    if col.type == "string":
        expr = text
        if col.allowed is not None:
            expr = f"lower({text})"
        return expr
    if col.type == "int":
        if src in _INTEGER_TYPES:
            return f"CAST({raw} AS BIGINT)"
        as_double = f"TRY_CAST({text} AS DOUBLE)"
        return f"CASE WHEN {as_double} = floor({as_double}) THEN TRY_CAST({as_double} AS BIGINT) END"
    if col.type == "float":
        return f"TRY_CAST({text} AS DOUBLE)"
    if col.type == "bool":
        return raw if src == "BOOLEAN" else f"TRY_CAST(lower({text}) AS BOOLEAN)"
    if col.type == "timestamp":
        if _is_tz_aware(src):
            return f"CAST(timezone('UTC', CAST({raw} AS TIMESTAMPTZ)) AS TIMESTAMP)"
        if src.startswith("TIMESTAMP"):
            return f"CAST({raw} AS TIMESTAMP)"
        return _iso_only(text, f"CAST(timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) AS TIMESTAMP)")
    if col.type == "date":
        if src == "DATE":
            return raw
        if _is_tz_aware(src):
            return f"CAST(timezone('UTC', CAST({raw} AS TIMESTAMPTZ)) AS DATE)"
        if src.startswith("TIMESTAMP"):
            return f"CAST({raw} AS DATE)"
        return _iso_only(text, f"COALESCE(TRY_CAST({text} AS DATE), CAST(TRY_CAST({text} AS TIMESTAMP) AS DATE))")
    raise ValueError(f"unknown contract type {col.type}")


def _has(col: Column) -> str:
    return quote_ident("_has_" + col.name)


def _column_checks(col: Column) -> list[tuple[str, str]]:
    """(SQL true when the typed value fails, reason) of one column: missing, unparsable, not allowed."""
    name = quote_ident(col.name)
    checks: list[tuple[str, str]] = []
    if not col.nullable:
        checks.append((f"{name} IS NULL AND NOT {_has(col)}", f"missing_value:{col.name}"))
    if col.type != "string":
        checks.append((f"{name} IS NULL AND {_has(col)}", f"bad_type:{col.name}"))
    if col.allowed is not None:
        allowed = ", ".join(quote_str(v) for v in col.allowed)
        checks.append((f"{name} IS NOT NULL AND {name} NOT IN ({allowed})", f"bad_value:{col.name}"))
    return checks


def unusable_expr(spec: TableSpec, col: Column) -> str:
    """SQL true when a typed value column holds no usable value: missing though required, unparsable,
    not an allowed value, or impossible by one of the table's `null_if` rules."""
    conds = [f"({sql})" for sql, _ in _column_checks(col)]
    conds += [f"coalesce({sql}, false)" for column, sql in spec.null_if if column == col.name]
    return " OR ".join(conds) if conds else "false"


def reason_expr(spec: TableSpec) -> str:
    """SQL giving the first reason a typed row is invalid (NULL when valid), checked in contract order.

    Only defining columns (ids, keys, dates, what says what the row is) give reasons; value columns are
    nulled instead (`unusable_expr`).
    """
    whens = [
        f"WHEN {sql} THEN {quote_str(reason)}"
        for col in spec.columns
        if col.name not in spec.value_columns
        for sql, reason in _column_checks(col)
    ]
    whens += [f"WHEN coalesce({rule.sql}, false) THEN {quote_str(rule.reason)}" for rule in spec.invalid_rules]
    if not whens:
        return "CAST(NULL AS VARCHAR)"
    return "CASE " + " ".join(whens) + " END"


def _bad_value_sql(spec: TableSpec) -> str:
    """Raw text of every value that failed to cast or was nulled, so distinct bad rows never look like duplicates."""
    parts: list[str] = []
    for c in spec.columns:
        raw = quote_ident("_raw_" + c.name)
        if c.name in spec.value_columns:
            parts.append(
                f"CASE WHEN {unusable_expr(spec, c)} THEN {quote_str(c.name + '=')} || coalesce({raw}, '') END"
            )
        elif c.type != "string":
            parts.append(f"CASE WHEN {quote_ident(c.name)} IS NULL AND {_has(c)} THEN {raw} END")
    if not parts:
        return "CAST(NULL AS VARCHAR)"
    return f"NULLIF(concat_ws(chr(31), {', '.join(parts)}), '')"


def _nulled_sql(spec: TableSpec) -> str:
    """Comma-separated value columns of the row that are nulled (NULL when none)."""
    flags = [
        f"CASE WHEN {unusable_expr(spec, spec.column(name))} THEN {quote_str(name)} END" for name in spec.value_columns
    ]
    return f"NULLIF(concat_ws(',', {', '.join(flags)}), '')" if flags else "CAST(NULL AS VARCHAR)"


def _output_column(spec: TableSpec, col: Column) -> str:
    """A staged column: a value column is NULL where unusable, every other column as typed."""
    name = quote_ident(col.name)
    if col.name in spec.value_columns:
        return f"CASE WHEN {unusable_expr(spec, col)} THEN NULL ELSE {name} END AS {name}"
    return name


def part_sql(spec: TableSpec, part: RawPart) -> str:
    """SELECT reading one raw part into contract columns, lineage, id-whitespace flag, reason and nulled values."""
    inner: list[str] = []
    ws_checks: list[str] = []
    for col in spec.columns:
        raw = quote_ident(part.columns[col.name])
        inner.append(f"{typed_expr(col, raw, part.types[col.name])} AS {quote_ident(col.name)}")
        inner.append(f"({_text(raw)} IS NOT NULL) AS {_has(col)}")
        if col.type != "string" or col.name in spec.value_columns:
            inner.append(f"{_text(raw)} AS {quote_ident('_raw_' + col.name)}")
        if col.id_kind is not None:
            ws_checks.append(f"coalesce(CAST({raw} AS VARCHAR) <> {_strip(raw)}, false)")
    ws = " OR ".join(ws_checks) if ws_checks else "false"
    inner.append(f"({ws}) AS {ID_WHITESPACE}")
    # the outer SELECT names resolve to the inner (typed) columns, so rules see the values as cast
    cols = ", ".join(_output_column(spec, c) for c in spec.columns)
    return (
        f"SELECT {cols}, {quote_str(part.relpath)} AS {SOURCE}, {ID_WHITESPACE}, "
        f"{reason_expr(spec)} AS {REASON}, {_bad_value_sql(spec)} AS {BAD_VALUE}, {_nulled_sql(spec)} AS {NULLED} "
        f"FROM (SELECT {', '.join(inner)} FROM {part.scan_sql()})"
    )


def stage_table(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    spec: TableSpec,
    out_dir: Path,
    on_part: Callable[[str], None] | None = None,
) -> StagedTable:
    """Read every part of `spec` under `raw_dir` into typed parquet files in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    found = scan_table_folder(raw_dir, spec)
    parts = [inspect_part(con, raw_dir, p, spec) for p in found.parts]  # all headers checked before any write
    staged: list[Path] = []
    rows = 0
    key = f"stage.{spec.name}"
    with progress.step(key, f"staging {spec.name}", total=len(parts)):
        for i, part in enumerate(parts):
            target = out_dir / f"part-{i:05d}.parquet"
            sql = part_sql(spec, part)
            try:
                con.execute(f"COPY ({sql}) TO {quote_str(target)} (FORMAT parquet, COMPRESSION zstd)")
                rows += int(con.execute(f"SELECT count(*) FROM read_parquet({quote_str(target)})").fetchall()[0][0])
            except duckdb.Error as exc:
                raise unreadable(part.path, part.relpath, part.format, exc) from None
            staged.append(target)
            progress.advance(key, description=part.relpath)
            if on_part is not None:
                on_part(part.relpath)
    unknown = {p.relpath: p.unknown_columns for p in parts if p.unknown_columns}
    log.info("staged table", extra={"table": spec.name, "files": len(parts), "rows": rows})
    return StagedTable(
        table=spec.name,
        parts=tuple(staged),
        files=tuple(p.relpath for p in parts),
        rows_read=rows,
        unknown_columns=unknown,
        skipped=found.skipped,
    )
