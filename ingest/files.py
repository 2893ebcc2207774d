"""Find the parts of each raw table and read their headers, refusing anything that is not a table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest.contract import RAW_SUFFIXES, TableSpec, table_folder
from ingest.errors import ContractError
from xsell.duck import quote_str

log = logging.getLogger(__name__)

CSV_OPTIONS = (
    "header=true, all_varchar=true, delim=',', quote='\"', escape='\"', "
    "strict_mode=true, null_padding=false, sample_size=-1"
)


@dataclass(frozen=True)
class RawPart:
    """One file of a raw table, with the mapping from contract column to the file's own header."""

    path: Path
    relpath: str
    format: str  # "csv" or "parquet"
    columns: dict[str, str]  # contract column -> header name in the file
    types: dict[str, str]  # contract column -> DuckDB type of that column in the file
    unknown_columns: tuple[str, ...]

    def scan_sql(self) -> str:
        """A DuckDB table function reading this file."""
        if self.format == "parquet":
            return f"read_parquet({quote_str(self.path)})"
        return f"read_csv({quote_str(self.path)}, {CSV_OPTIONS})"


def _suffix_of(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(RAW_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return None


def find_parts(raw_dir: Path, spec: TableSpec) -> list[Path]:
    """Every file of the table under RAW, sorted by path; an absent folder is an error naming it."""
    folder = raw_dir / table_folder(spec)
    if not folder.is_dir():
        raise ContractError(folder, f"folder for table {spec.name} is missing")
    parts = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        suffix = _suffix_of(path)
        if suffix is None:
            log.warning("ignoring file that is not .csv, .csv.gz or .parquet", extra={"file": str(path)})
            continue
        stem = path.name[: -len(suffix)]
        if spec.file_stem is not None and stem != spec.file_stem:
            continue
        parts.append(path)
    if not parts:
        raise ContractError(folder, f"no .csv, .csv.gz or .parquet file for table {spec.name}")
    return parts


def _header(con: duckdb.DuckDBPyConnection, path: Path, rel: str, fmt: str) -> list[tuple[str, str]]:
    if fmt == "parquet":
        sql = f"DESCRIBE SELECT * FROM read_parquet({quote_str(path)})"
    else:
        sql = f"DESCRIBE SELECT * FROM read_csv({quote_str(path)}, {CSV_OPTIONS})"
    try:
        return [(row[0], row[1]) for row in con.execute(sql).fetchall()]
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        kind = "Parquet" if fmt == "parquet" else "comma-separated"
        raise ContractError(rel, f"not a readable {kind} table ({first})") from None


def inspect_part(con: duckdb.DuckDBPyConnection, raw_dir: Path, path: Path, spec: TableSpec) -> RawPart:
    """Read a file's header and map it to the contract; a missing required column stops the run."""
    fmt = "parquet" if _suffix_of(path) == ".parquet" else "csv"
    rel = str(path.relative_to(raw_dir))
    described = _header(con, path, rel, fmt)
    header = [name for name, _ in described]
    types_by_name = dict(described)
    by_norm = {h.strip().lower(): h for h in header}
    wanted = spec.column_names
    present = {c: by_norm[c.lower()] for c in wanted if c.lower() in by_norm}
    if not present:
        if fmt == "csv":
            verify_readable(con, RawPart(path, rel, fmt, {}, {}, ()))  # a ragged or broken file says so
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
            hint = " (wrong delimiter: the contract's CSV files are comma-separated)"
        raise ContractError(rel, f"not a {spec.name} table: none of its columns found in the header{hint}")
    missing = [c for c in wanted if c not in present]
    if missing:
        raise ContractError(rel, f"missing required column '{missing[0]}' of {spec.name}", column=missing[0])
    known = {h for h in present.values()}
    unknown = tuple(h for h in header if h not in known)
    if unknown:
        log.warning("ignoring unknown columns", extra={"file": rel, "table": spec.name, "columns": ",".join(unknown)})
    types = {c: types_by_name[h] for c, h in present.items()}
    return RawPart(path=path, relpath=rel, format=fmt, columns=present, types=types, unknown_columns=unknown)


def verify_readable(con: duckdb.DuckDBPyConnection, part: RawPart) -> int:
    """Read the whole file once (catches truncation and bad rows) and return its row count."""
    try:
        row = con.execute(f"SELECT count(*) FROM {part.scan_sql()}").fetchall()[0]
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise ContractError(part.relpath, f"not a readable table ({first})") from None
    return int(row[0])
