"""The data-quality report (JSON for machines, HTML for people) and the gate that can refuse an export."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ingest.consolidate import ConsolidationResult, TableCounts, data_end_of
from ingest.contract import TABLES
from ingest.files import unknown_entries
from ingest.stage import StagedTable
from xsell.fileio import write_json_atomic, write_text_atomic
from xsell.settings import QualityGate

#: Per-table keys every report carries (the public interface of the report).
COUNT_KEYS = ("rows_read", "rows_kept", "duplicates", "orphans", "invalid", "future_dated")


def table_entry(counts: TableCounts, staged: StagedTable) -> dict[str, Any]:
    """The report entry of one table: the public counts first, then the details behind them."""
    raw = asdict(counts)
    entry: dict[str, Any] = {k: raw[k] for k in COUNT_KEYS}
    entry.update(
        {
            "files": list(staged.files),
            "ids_whitespace": counts.ids_whitespace,
            "ids_case": counts.ids_case,
            "invalid_reasons": counts.invalid_reasons,
            "nulled_values": counts.nulled_values,
            "unknown_columns": {f: list(c) for f, c in staged.unknown_columns.items()},
            "skipped_entries": dict(staged.skipped),
            **counts.extra,
        }
    )
    return entry


def evaluate_gate(tables: dict[str, dict[str, Any]], gate: QualityGate) -> list[str]:
    """Reasons the export fails the gate (empty when it passes or the gate is disabled)."""
    if not gate.enabled:
        return []
    limits = {
        "orphans": gate.max_orphan_share,
        "invalid": gate.max_invalid_share,
        "future_dated": gate.max_future_share,
        "duplicates": gate.max_duplicate_share,
    }
    failures = []
    for name, entry in tables.items():
        read = entry["rows_read"]
        if not read:
            continue
        for key, limit in limits.items():
            share = entry[key] / read
            if share > limit:
                failures.append(f"{name}: {key} {share:.1%} of rows > {limit:.1%} allowed")
    return failures


def build_report(
    result: ConsolidationResult,
    staged: dict[str, StagedTable],
    gate: QualityGate,
    raw_dir: Path,
    run_id: str,
) -> dict[str, Any]:
    """Assemble the report: per-table counts, id matching, null rates, entries of RAW no table reads (`unknown_entries`:
    relative path -> what it is) and the gate verdict."""
    tables = {spec.name: table_entry(result.counts[spec.name], staged[spec.name]) for spec in TABLES}
    failures = evaluate_gate(tables, gate)
    totals = {k: sum(t[k] for t in tables.values()) for k in COUNT_KEYS}
    return {
        "run_id": run_id,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "raw_dir": str(raw_dir),
        "export_time": result.export_time.isoformat(),
        "data_end": data_end_of(result.export_time).isoformat(),
        "totals": totals,
        "tables": tables,
        "id_matching": result.id_matching,
        "null_rates": result.null_rates,
        "unknown_entries": unknown_entries(raw_dir),
        "gate": {
            "enabled": gate.enabled,
            "passed": not failures,
            "failures": failures,
            "limits": gate.model_dump(),
        },
    }


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("ingest", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: dict[str, Any]) -> str:
    """A self-contained, readable HTML page of the report."""
    return _env().get_template("data_quality.html.j2").render(r=report, count_keys=COUNT_KEYS)


def write_report(report: dict[str, Any], reports_dir: Path) -> Path:
    """Write `latest.json`/`latest.html` (and a per-run copy) under `reports/data_quality/`; returns latest.json."""
    folder = reports_dir / "data_quality"
    html = render_html(report)
    write_json_atomic(folder / "history" / f"{report['run_id']}.json", report)
    write_text_atomic(folder / "history" / f"{report['run_id']}.html", html)
    write_text_atomic(folder / "latest.html", html)
    return write_json_atomic(folder / "latest.json", report)
