"""Raw export -> Customer 360 warehouse + data-quality report, as plain functions (flows wire them)."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ingest.c360 import C360, META, OUTPUT_NAMES
from ingest.consolidate import ConsolidationResult, consolidate, find_export_time
from ingest.contract import FEATURES, PRODUCTS, TABLES, TABLES_BY_NAME
from ingest.errors import ContractError, QualityGateError
from ingest.files import inspect_part, scan_table_folder, unknown_entries
from ingest.quality import build_report, write_report
from ingest.schemas import check_schema_sample, validate_catalog
from ingest.stage import REASON, SOURCE, StagedTable, stage_table
from xsell import progress
from xsell.duck import connect, quote_str
from xsell.faults import fault_point
from xsell.settings import Settings

log = logging.getLogger(__name__)

SCHEMA_SAMPLE_ROWS = 50_000


@dataclass(frozen=True)
class LoadSummary:
    """What a consolidation produced: where things are, and the headline counts."""

    run_id: str
    warehouse: str
    report_json: str
    report_html: str
    export_time: str
    gate_passed: bool
    totals: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, for flow results and the CLI."""
        return dict(vars(self))


def new_run_id() -> str:
    """A sortable, unique id for one consolidation run."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def staging_dir(settings: Settings, run_id: str) -> Path:
    """Scratch folder of one run's staged parquet parts."""
    return settings.tmp_dir / "staging" / run_id


def check_raw_dir(raw_dir: Path) -> None:
    """Refuse a RAW path that is not a folder, naming it."""
    if not raw_dir.is_dir():
        raise ContractError(raw_dir, "raw export folder not found")


@dataclass(frozen=True)
class RawExportCheck:
    """What the check of a RAW export before staging found: the parts of each table, whose headers all fit the
    contract, and the entries of RAW no contract table reads (relative path -> what it is)."""

    parts: dict[str, int]
    unknown_entries: dict[str, str]


def check_raw_export(raw_dir: Path, settings: Settings) -> RawExportCheck:
    """Refuse an export before any staging: RAW not a folder, a table folder missing or empty, a part that cannot
    be opened, or a header that breaks the contract (missing required column, duplicated column, unreadable file),
    the first problem named by file and column. Entries no contract table reads are warned about, never refused."""
    check_raw_dir(raw_dir)
    con = connect(memory_limit=settings.ingest.duckdb_memory_limit, threads=settings.ingest.duckdb_threads)
    try:
        parts = {}
        for spec in TABLES:
            found = scan_table_folder(raw_dir, spec, warn=False)  # staging warns about what it skips, once
            for path in found.parts:
                inspect_part(con, raw_dir, path, spec, warn=False)
            parts[spec.name] = len(found.parts)
    finally:
        con.close()
    unknown = unknown_entries(raw_dir)
    for rel, kind in unknown.items():
        log.warning("ignoring an entry of the export that no contract table reads", extra={"entry": rel, "kind": kind})
    log.info("raw export checked", extra={"raw_dir": str(raw_dir), "parts": sum(parts.values())})
    return RawExportCheck(parts=parts, unknown_entries=unknown)


def stage_raw_table(raw_dir: Path, table: str, out_root: Path, settings: Settings) -> StagedTable:
    """Stage one contract table from RAW into typed parquet under `out_root/<table slug>/`."""
    spec = TABLES_BY_NAME[table]
    con = connect(
        memory_limit=settings.ingest.duckdb_memory_limit,
        threads=settings.ingest.duckdb_threads,
        temp_dir=settings.tmp_dir / "duckdb",
    )
    try:
        return stage_table(con, raw_dir, spec, out_root / spec.slug)
    finally:
        con.close()


def _check_catalog(con: duckdb.DuckDBPyConnection, staged: dict[str, StagedTable]) -> None:
    frames = {}
    for spec in (PRODUCTS, FEATURES):
        st = staged[spec.name]
        files = ", ".join(quote_str(p) for p in st.parts)
        frame = con.execute(f"SELECT * FROM read_parquet([{files}])").df()
        bad = frame[frame[REASON].notna()]
        if len(bad):
            row = bad.iloc[0]
            column = str(row[REASON]).split(":")[-1]
            raise ContractError(row[SOURCE], f"invalid catalogue row ({row[REASON]}): {row.to_dict()}", column=column)
        frames[spec.name] = frame[list(spec.column_names)]
    validate_catalog(
        frames[PRODUCTS.name], frames[FEATURES.name], staged[PRODUCTS.name].files[0], staged[FEATURES.name].files[0]
    )


def _check_outputs(con: duckdb.DuckDBPyConnection) -> None:
    """Post-condition: a sample of every consolidated table obeys its typed schema."""
    for spec in TABLES:
        table = f"{C360}.{OUTPUT_NAMES[spec.name]}"
        frame = con.execute(f"SELECT * FROM {table} USING SAMPLE {SCHEMA_SAMPLE_ROWS} ROWS").df()
        check_schema_sample(spec, frame, f"warehouse table {table}")


def _write_meta(
    con: duckdb.DuckDBPyConnection, run_id: str, raw_dir: Path, staged: dict[str, StagedTable], report: dict[str, Any]
) -> None:
    """Lineage of this load (files and their row counts) and an append-only log of loads."""
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {META}.load_runs (
            run_id VARCHAR, loaded_at TIMESTAMP, raw_dir VARCHAR, export_time TIMESTAMP,
            rows_read BIGINT, rows_kept BIGINT, gate_passed BOOLEAN, report JSON, data_end DATE)"""
    )
    con.execute(
        f"INSERT INTO {META}.load_runs BY NAME SELECT ? AS run_id, ? AS loaded_at, ? AS raw_dir, "
        "? AS export_time, ? AS rows_read, ? AS rows_kept, ? AS gate_passed, ? AS report, ? AS data_end",
        [
            run_id,
            loaded_at,
            str(raw_dir),
            report["export_time"],
            report["totals"]["rows_read"],
            report["totals"]["rows_kept"],
            report["gate"]["passed"],
            json.dumps(report),
            report["data_end"],
        ],
    )
    rows = []
    for st in staged.values():
        files = ", ".join(quote_str(p) for p in st.parts)
        per_file = dict(con.execute(f"SELECT {SOURCE}, count(*) FROM read_parquet([{files}]) GROUP BY 1").fetchall())
        for rel in st.files:
            path = raw_dir / rel
            rows.append((run_id, st.table, rel, path.stat().st_size, int(per_file.get(rel, 0)), loaded_at))
    con.execute(
        f"""CREATE OR REPLACE TABLE {META}.lineage (
            run_id VARCHAR, table_name VARCHAR, source_file VARCHAR, bytes BIGINT, rows_read BIGINT, loaded_at TIMESTAMP)"""
    )
    con.executemany(f"INSERT INTO {META}.lineage VALUES (?, ?, ?, ?, ?, ?)", rows)


def open_warehouse(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Connect to the warehouse; a lock held by another process becomes a clear error."""
    try:
        return connect(
            settings.warehouse_path,
            memory_limit=settings.ingest.duckdb_memory_limit,
            threads=settings.ingest.duckdb_threads,
            temp_dir=settings.tmp_dir / "duckdb",
            read_only=read_only,
        )
    except duckdb.IOException as exc:
        raise RuntimeError(f"cannot open warehouse {settings.warehouse_path}: {str(exc).splitlines()[0]}") from None


def load_warehouse(raw_dir: Path, staged: dict[str, StagedTable], settings: Settings, run_id: str) -> LoadSummary:
    """Consolidate staged tables into the warehouse in one transaction, then write the DQ report."""
    scratch = connect()
    try:
        _check_catalog(scratch, staged)
    finally:
        scratch.close()
    first_load = not settings.warehouse_path.exists()
    try:
        return _load(raw_dir, staged, settings, run_id)
    except BaseException:
        if first_load:  # a failed first load leaves no empty warehouse behind
            for leftover in (
                settings.warehouse_path,
                settings.warehouse_path.with_name(settings.warehouse_path.name + ".wal"),
            ):
                leftover.unlink(missing_ok=True)
        raise


def _load(raw_dir: Path, staged: dict[str, StagedTable], settings: Settings, run_id: str) -> LoadSummary:
    con = open_warehouse(settings)
    try:
        export_time = find_export_time(con, staged, settings.ingest.export_time)
        con.begin()
        try:
            result: ConsolidationResult = consolidate(con, staged, export_time, settings.ingest.late_after_days)
            _check_outputs(con)
            report = build_report(result, staged, settings.ingest.gate, raw_dir, run_id)
            if not report["gate"]["passed"]:
                con.rollback()
                path = write_report(report, settings.reports_dir)
                raise QualityGateError(report["gate"]["failures"], path)
            _write_meta(con, run_id, raw_dir, staged, report)
            fault_point("consolidate.loading")
            with progress.step("consolidate.commit", "committing the warehouse"):
                con.commit()
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # already rolled back when the gate refused
                con.rollback()
            raise
    finally:
        con.close()
    with progress.step("consolidate.report", "writing the data-quality report"):
        json_path = write_report(report, settings.reports_dir)
    log.info("warehouse consolidated", extra={"run_id": run_id, "warehouse": str(settings.warehouse_path)})
    return LoadSummary(
        run_id=run_id,
        warehouse=str(settings.warehouse_path),
        report_json=str(json_path),
        report_html=str(json_path.with_suffix(".html")),
        export_time=report["export_time"],
        gate_passed=True,
        totals=report["totals"],
    )


def consolidate_raw(raw_dir: Path, settings: Settings, run_id: str | None = None) -> LoadSummary:
    """Whole consolidation without an orchestrator: check every table's header, stage every table, then load the
    warehouse."""
    check_raw_export(raw_dir, settings)
    run_id = run_id or new_run_id()
    root = staging_dir(settings, run_id)
    try:
        staged = {spec.name: stage_raw_table(raw_dir, spec.name, root, settings) for spec in TABLES}
        return load_warehouse(raw_dir, staged, settings, run_id)
    finally:
        shutil.rmtree(root, ignore_errors=True)
