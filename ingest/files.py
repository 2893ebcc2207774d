"""Find the parts of each raw table and read their headers, refusing anything that is not a table."""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow
import pyarrow.parquet

from ingest.contract import RAW_SUFFIXES, SIDE_FILES, TABLES, TableSpec, table_folder
from ingest.csvcheck import MAX_LINE_BYTES, NOT_UTF8, CsvProblem, diagnose, read_header
from ingest.errors import ContractError
from xsell.duck import quote_str

log = logging.getLogger(__name__)

CSV_OPTIONS = (
    "header=true, all_varchar=true, delim=',', quote='\"', escape='\"', "
    f"strict_mode=true, null_padding=false, sample_size=-1, max_line_size={MAX_LINE_BYTES}"
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


@dataclass(frozen=True)
class TableFiles:
    """What a table folder holds: the parts to read, and every other entry (relative path -> why it is not read)."""

    parts: tuple[Path, ...]
    skipped: dict[str, str] = field(default_factory=dict)


def _link_error(path: Path) -> str | None:
    """Why `path` cannot be opened when it is a dangling or looping symbolic link; None otherwise."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except FileNotFoundError:
        return f"dangling symbolic link (its target {os.readlink(path)} does not exist)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link leads back to itself)"
        return f"symbolic link that cannot be followed ({exc.strerror})"
    return None


def _shared_with(spec: TableSpec) -> list[TableSpec]:
    """Contract tables whose parts live in the same folder as `spec`'s (the catalogue folder holds two)."""
    return [t for t in TABLES if table_folder(t) == table_folder(spec)]


def _entry_kind(path: Path, rel: str, spec: TableSpec) -> tuple[Literal["part", "other", "skip"], str]:
    """("part", ""), ("other", "") for another table's file in a shared folder, or ("skip", why)."""
    suffix = _suffix_of(path)
    stem = path.name[: -len(suffix)] if suffix else None
    if stem is not None and any(t.file_stem == stem for t in _shared_with(spec) if t is not spec):
        return "other", ""
    if path.name.startswith("."):
        return "skip", "hidden entry"
    named_as_part = suffix is not None and spec.file_stem in (None, stem)
    link = _link_error(path)
    if link is not None:
        if named_as_part:
            raise ContractError(rel, f"{link}: this part of {spec.name} cannot be read")
        return "skip", link
    if path.is_dir():
        return "skip", "subfolder (a table's parts are read from its own folder only, not from subfolders)"
    if suffix is None:
        return "skip", "not a .csv, .csv.gz or .parquet file"
    if not named_as_part:
        return "skip", f"not {spec.file_stem}{suffix}, the one file of {spec.name}"
    if not path.is_file():
        raise ContractError(rel, f"not a regular file: this part of {spec.name} cannot be read")
    return "part", ""


def scan_table_folder(raw_dir: Path, spec: TableSpec, *, warn: bool = True) -> TableFiles:
    """The parts of `spec` under RAW, sorted by path, and every skipped entry, each logged as a warning.

    A symbolic link to a readable file is read like the file. A part that cannot be opened (a dangling or
    looping link, or not a regular file) stops the run with an error naming it; anything else that is not a
    part (subfolders, hidden entries, other files) is skipped, warned about (unless not `warn`) and listed, by the
    first table of a shared folder only. An absent folder, or one without parts, is an error naming it.
    """
    folder = raw_dir / table_folder(spec)
    if not folder.is_dir():
        raise ContractError(folder, f"folder for table {spec.name} is missing")
    parts: list[Path] = []
    skipped: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        rel = str(path.relative_to(raw_dir))
        kind, why = _entry_kind(path, rel, spec)
        if kind == "part":
            parts.append(path)
        elif kind == "skip":
            skipped[rel] = why
    if next(iter(_shared_with(spec)), spec) is not spec:  # a shared folder's first table reports its strays
        skipped = {}
    for rel, why in skipped.items() if warn else ():
        log.warning("skipping an entry of a table folder", extra={"file": rel, "table": spec.name, "reason": why})
    if not parts:
        raise ContractError(folder, f"no .csv, .csv.gz or .parquet file for table {spec.name}")
    return TableFiles(parts=tuple(parts), skipped=skipped)


def _kind_of_entry(path: Path) -> str:
    if path.name.startswith("."):
        return "hidden entry"
    if path.is_symlink() and not path.exists():
        return "dangling symbolic link"
    return "folder" if path.is_dir() else "file"


def unknown_entries(raw_dir: Path) -> dict[str, str]:
    """Entries of RAW that no contract table reads, at its top level and in the folders grouping tables (`crm/`,
    `billing/`, ...): relative path -> what it is (`folder`, `file`, `hidden entry`, `dangling symbolic link`).

    A table folder's own strays are listed by its table (`TableFiles.skipped`); the generator's manifest is expected.
    """
    folders = {table_folder(t) for t in TABLES}
    groups = {f.split("/", 1)[0] for f in folders if "/" in f}
    found: dict[str, str] = {}
    for path in sorted(raw_dir.iterdir()):
        if path.name in folders or (path.name in SIDE_FILES and path.is_file()):
            continue
        if path.name in groups and path.is_dir():
            for child in sorted(path.iterdir()):
                rel = f"{path.name}/{child.name}"
                if rel not in folders:
                    found[rel] = _kind_of_entry(child)
            continue
        found[path.name] = _kind_of_entry(path)
    return found


def find_parts(raw_dir: Path, spec: TableSpec) -> list[Path]:
    """Every file of the table under RAW, sorted by path; an absent folder is an error naming it."""
    return list(scan_table_folder(raw_dir, spec).parts)


def _header(con: duckdb.DuckDBPyConnection, path: Path, rel: str, fmt: str) -> list[tuple[str, str]]:
    if fmt == "parquet":
        sql = f"DESCRIBE SELECT * FROM read_parquet({quote_str(path)})"
    else:
        sql = f"DESCRIBE SELECT * FROM read_csv({quote_str(path)}, {CSV_OPTIONS})"
    try:
        return [(row[0], row[1]) for row in con.execute(sql).fetchall()]
    except duckdb.Error as exc:
        kind = "Parquet" if fmt == "parquet" else "comma-separated"
        raise unreadable(path, rel, fmt, exc, f"{kind} table") from None


def unreadable(path: Path, rel: str, fmt: str, exc: duckdb.Error, what: str = "table") -> ContractError:
    """The error for a part DuckDB could not read: a CSV's real line and cause when found, else DuckDB's words."""
    found = diagnose(path) if fmt == "csv" else None
    if found is not None and found.startswith(NOT_UTF8):  # says it all; the file is readable once re-encoded
        return ContractError(rel, found)
    if found is not None:
        return ContractError(rel, f"not a readable {what}: {found}")
    return ContractError(rel, f"not a readable {what} ({str(exc).splitlines()[0]})")


def _names_in_file(path: Path, rel: str, fmt: str) -> list[str]:
    """Column names exactly as the file spells them (DuckDB renames a second `score` to `score_1`)."""
    try:
        if fmt == "parquet":
            return list(pyarrow.parquet.read_schema(path).names)
        return read_header(path)
    except CsvProblem as exc:
        raise ContractError(rel, str(exc)) from None
    except (pyarrow.ArrowException, OSError) as exc:
        raise ContractError(rel, f"not a readable Parquet table ({str(exc).splitlines()[0]})") from None


def check_unique_names(names: list[str], rel: str) -> None:
    """Refuse a header naming a column twice (compared as the contract maps them: trimmed, any case)."""
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        key = name.strip().lower()
        if not key:
            continue
        if key in seen:
            message = f"column '{name.strip()}' appears twice in the header (columns {seen[key]} and {number})"
            raise ContractError(rel, message + ": remove or rename one", column=name.strip())
        seen[key] = number


def inspect_part(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, path: Path, spec: TableSpec, *, warn: bool = True
) -> RawPart:
    """Read a file's header and map it to the contract; a missing required column stops the run (unknown columns
    are warned about unless not `warn`)."""
    fmt = "parquet" if _suffix_of(path) == ".parquet" else "csv"
    rel = str(path.relative_to(raw_dir))
    described = _header(con, path, rel, fmt)
    check_unique_names(_names_in_file(path, rel, fmt), rel)
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
    if unknown and warn:
        log.warning("ignoring unknown columns", extra={"file": rel, "table": spec.name, "columns": ",".join(unknown)})
    types = {c: types_by_name[h] for c, h in present.items()}
    return RawPart(path=path, relpath=rel, format=fmt, columns=present, types=types, unknown_columns=unknown)


def verify_readable(con: duckdb.DuckDBPyConnection, part: RawPart) -> int:
    """Read the whole file once (catches truncation and bad rows) and return its row count."""
    try:
        row = con.execute(f"SELECT count(*) FROM {part.scan_sql()}").fetchall()[0]
    except duckdb.Error as exc:
        raise unreadable(part.path, part.relpath, part.format, exc) from None
    return int(row[0])
