"""ingest.pipeline: raw export -> warehouse + report, all or nothing, idempotent, safe to kill."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from factories import BASE_COUNTS, make_settings, product_row, write_raw

from ingest import pipeline
from ingest.c360 import OUTPUT_NAMES
from ingest.contract import TABLES
from ingest.errors import ContractError, QualityGateError
from ingest.pipeline import check_raw_dir, check_raw_export, consolidate_raw, open_warehouse
from ingest.quality import render_html
from xsell.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[3]

C360_TABLES = {*OUTPUT_NAMES.values(), "accounts", "account_keys", "ownership"}


def snapshot(warehouse: Path) -> dict[str, pd.DataFrame]:
    """Every table of the c360 and rejected schemas, rows sorted (the warehouse's content, not its run log)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('c360', 'rejected') ORDER BY 1, 2"
        ).fetchall()
        return {f"{s}.{t}": con.execute(f'SELECT * FROM "{s}"."{t}" ORDER BY ALL').df() for s, t in names}
    finally:
        con.close()


def assert_same_content(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    """Same tables, same rows."""
    assert sorted(left) == sorted(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


def load_runs(settings: Settings) -> int:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM meta.load_runs").fetchall()[0][0])
    finally:
        con.close()


def report_files(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.reports_dir.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    """A home holding the warehouse and report of one good run of the clean export, and that content."""
    root = tmp_path_factory.mktemp("good")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
            mp.delenv(name)
        consolidate_raw(write_raw(root / "raw"), make_settings(root / "home"))
    return root / "home", snapshot(root / "home" / "warehouse.duckdb")


@pytest.fixture
def previous(good_run: tuple[Path, dict[str, pd.DataFrame]], settings: Settings) -> dict[str, pd.DataFrame]:
    """`settings.home` holds (a copy of) a previous good run; returns its warehouse content."""
    home, content = good_run
    shutil.copytree(home, settings.home)
    return content


# ---- happy path -----------------------------------------------------------------------------------


def test_consolidate_raw_writes_the_warehouse_and_the_report(raw_dir: Path, settings: Settings) -> None:
    # given a clean export and an empty home, when consolidated
    summary = consolidate_raw(raw_dir, settings, run_id="run-1")

    # then the warehouse and the report are in home, and the scratch folder is gone
    assert summary.warehouse == str(settings.home / "warehouse.duckdb")
    assert summary.report_json == str(settings.home / "reports" / "data_quality" / "latest.json")
    assert summary.report_html == str(settings.home / "reports" / "data_quality" / "latest.html")
    assert Path(summary.report_html).is_file()
    assert summary.gate_passed is True
    assert summary.totals["rows_read"] == summary.totals["rows_kept"] == sum(BASE_COUNTS.values())
    assert summary.export_time == "2026-04-01T00:00:00"  # end of the last ingestion day, exclusive
    json.dumps(summary.to_dict())
    assert list((settings.tmp_dir / "staging").iterdir()) == []
    # and the warehouse holds every output table and the load's lineage
    con = duckdb.connect(summary.warehouse, read_only=True)
    tables = set(con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall())
    assert {(f"c360.{t}",) for t in C360_TABLES} <= tables
    assert {(f"rejected.{t.slug}",) for t in TABLES} <= tables
    assert con.execute("SELECT count(*) FROM c360.tickets").fetchall() == [(BASE_COUNTS["support/tickets"],)]
    assert con.execute("SELECT run_id, gate_passed FROM meta.load_runs").fetchall() == [("run-1", True)]
    assert con.execute("SELECT count(*), sum(rows_read) FROM meta.lineage").fetchall() == [
        (12, sum(BASE_COUNTS.values()))
    ]
    con.close()
    # and the report says what happened
    report = json.loads(Path(summary.report_json).read_text())
    assert report["run_id"] == "run-1"
    assert report["gate"]["passed"] is True
    assert {n: t["rows_kept"] for n, t in report["tables"].items()} == BASE_COUNTS


def test_consolidate_raw_is_idempotent(tmp_path: Path, clean_env: None) -> None:
    # given an export with many kinds of defect (more than the default gate allows), consolidated once
    raw = write_raw(
        tmp_path / "raw",
        duplicates=2,
        id_variants=True,
        invalid=True,
        impossible_values=True,
        future=True,
        employee_count_typos=True,
    )
    lenient = make_settings(tmp_path / "home", **{"ingest.gate.enabled": False})
    consolidate_raw(raw, lenient)
    first = snapshot(lenient.warehouse_path)

    # when consolidated again
    consolidate_raw(raw, lenient)

    # then every c360 and rejected table has the same rows, and the run log grew by one
    assert_same_content(first, snapshot(lenient.warehouse_path))
    assert len(first) == len(C360_TABLES) + len(TABLES)
    assert sum(len(first[f"rejected.{t.slug}"]) for t in TABLES) == 6  # 4 invalid + 2 future-dated
    assert load_runs(lenient) == 2


def test_check_raw_dir_refuses_a_missing_folder(tmp_path: Path, settings: Settings) -> None:
    # given no export at the path, when consolidated, then the error names the path and nothing is written
    with pytest.raises(ContractError, match="raw export folder not found") as info:
        consolidate_raw(tmp_path / "nowhere", settings)
    assert info.value.file == str(tmp_path / "nowhere")
    assert not settings.home.exists()
    check_raw_dir(tmp_path)  # an existing folder passes


# ---- failures leave nothing half-written ----------------------------------------------------------


def test_missing_required_column_stops_the_run_before_anything_is_written(tmp_path: Path, settings: Settings) -> None:
    # given an export whose NPS file lacks the score column
    raw = write_raw(tmp_path / "raw", drop_column=("survey/nps", "score"))

    # when consolidated, then the error names the file and the column
    with pytest.raises(ContractError, match=r"survey/nps/nps_2026\.csv: missing required column 'score'") as info:
        consolidate_raw(raw, settings)
    assert info.value.column == "score"
    # and there is no warehouse, no report, no staging left behind
    assert not settings.warehouse_path.exists()
    assert report_files(settings) == []
    assert not (settings.tmp_dir / "staging").exists() or list((settings.tmp_dir / "staging").iterdir()) == []


def test_a_refused_header_stops_the_run_before_any_table_is_staged(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an export whose NPS file (staged among the last tables) lacks the score column
    raw = write_raw(tmp_path / "raw", drop_column=("survey/nps", "score"))
    staged: list[str] = []
    real_stage = pipeline.stage_table

    def recording_stage(con: duckdb.DuckDBPyConnection, raw_dir: Path, spec, out_dir: Path):  # type: ignore[no-untyped-def]
        staged.append(spec.name)
        return real_stage(con, raw_dir, spec, out_dir)

    monkeypatch.setattr(pipeline, "stage_table", recording_stage)
    # when consolidated, then it is refused naming file and column, and no table was staged first
    with pytest.raises(ContractError, match=r"survey/nps/nps_2026\.csv: missing required column 'score'"):
        consolidate_raw(raw, settings)
    assert staged == []
    assert not (settings.tmp_dir / "staging").exists()
    # and the check alone refuses it the same way, while the clean export passes it with every table's parts
    with pytest.raises(ContractError, match="missing required column 'score'"):
        check_raw_export(raw, settings)
    clean = check_raw_export(write_raw(tmp_path / "clean"), settings)
    assert set(clean.parts) == {t.name for t in TABLES} and all(n >= 1 for n in clean.parts.values())
    assert clean.unknown_entries == {}


def test_entries_of_no_table_are_warned_about_and_reported_not_refused(
    raw_dir: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # given a clean export with a folder and a file that no contract table reads
    (raw_dir / "crm" / "leads").mkdir()
    (raw_dir / "crm" / "leads" / "leads.csv").write_text("lead_id\nL1\n")
    (raw_dir / "README.txt").write_text("export notes")
    # when consolidated
    with caplog.at_level(logging.WARNING, logger="ingest.pipeline"):
        summary = consolidate_raw(raw_dir, settings)
    # then the load succeeds, a warning names each entry, and the report lists them beside its usual keys
    assert summary.gate_passed is True
    warned = {r.entry for r in caplog.records if "no contract table reads" in r.getMessage()}  # type: ignore[attr-defined]
    assert warned == {"README.txt", "crm/leads"}
    report = json.loads(Path(summary.report_json).read_text())
    assert report["unknown_entries"] == {"README.txt": "file", "crm/leads": "folder"}
    assert {"run_id", "totals", "tables", "id_matching", "null_rates", "gate"} <= set(report)
    assert "crm/leads" in render_html(report)


def test_missing_required_column_leaves_the_previous_warehouse_and_report(
    tmp_path: Path, settings: Settings, previous: dict[str, pd.DataFrame]
) -> None:
    # given a warehouse and report from a good run
    before = snapshot(settings.warehouse_path)
    assert_same_content(previous, before)
    report_before = (settings.reports_dir / "data_quality" / "latest.json").read_text()

    # when a later export lacking a required column is consolidated
    broken = write_raw(tmp_path / "broken", drop_column=("billing/invoices", "status"))
    with pytest.raises(ContractError, match=r"invoices_2026\.csv"):
        consolidate_raw(broken, settings)

    # then the warehouse and the report are the previous ones
    assert_same_content(before, snapshot(settings.warehouse_path))
    assert (settings.reports_dir / "data_quality" / "latest.json").read_text() == report_before
    assert load_runs(settings) == 1


def _duplicated_header(raw: Path) -> str:
    path = raw / "survey/nps/nps_2026.csv"
    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0] + ",Score"] + [line + ",1" for line in text[1:]]) + "\n")
    return r"^survey/nps/nps_2026\.csv: column 'Score' appears twice in the header \(columns 4 and 5\)"


def _dangling_link(raw: Path) -> str:
    (raw / "survey/nps/nps_2027.csv").symlink_to(raw / "survey/nps/moved.csv")
    return r"^survey/nps/nps_2027\.csv: dangling symbolic link"


def _latin1_row(raw: Path) -> str:
    path = raw / "support/tickets/tickets_2026.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("how_to", "how_to_caf\u00e9")
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return r"^support/tickets/tickets_2026\.csv: not UTF-8 \(byte 0xe9 at line 3; looks like Latin-1/cp1252\)"


@pytest.mark.parametrize("corrupt", [_duplicated_header, _dangling_link, _latin1_row])
def test_a_refused_export_leaves_the_warehouse_byte_for_byte(
    tmp_path: Path, settings: Settings, previous: dict[str, pd.DataFrame], corrupt
) -> None:
    # given a warehouse and report from a good run, and a later export with one corruption
    before = settings.warehouse_path.read_bytes()
    report_before = (settings.reports_dir / "data_quality" / "latest.json").read_text()
    raw = write_raw(tmp_path / "broken")
    message = corrupt(raw)

    # when it is consolidated, then a one-line error names the file and the cause
    with pytest.raises(ContractError, match=message) as info:
        consolidate_raw(raw, settings)
    assert "\n" not in str(info.value)

    # and the warehouse file, the report and the staging area are as before
    assert settings.warehouse_path.read_bytes() == before
    assert (settings.reports_dir / "data_quality" / "latest.json").read_text() == report_before
    assert list((settings.tmp_dir / "staging").iterdir()) == []


def test_catalog_error_names_the_file_and_leaves_the_previous_warehouse(
    tmp_path: Path, settings: Settings, previous: dict[str, pd.DataFrame]
) -> None:
    # given a good warehouse, then an export whose catalogue has two primary products
    before = previous
    raw = write_raw(tmp_path / "two", extra_rows={"catalog/products": [product_row(product="suite", kind="primary")]})

    # when consolidated, then the error names the products file and column, and the warehouse is unchanged
    with pytest.raises(ContractError, match=r"^catalog/products\.csv: column 'kind'") as info:
        consolidate_raw(raw, settings)
    assert info.value.column == "kind"
    assert_same_content(before, snapshot(settings.warehouse_path))


def test_invalid_catalog_row_names_the_file_and_column(tmp_path: Path, settings: Settings) -> None:
    # given a catalogue product of a kind the contract does not know
    raw = write_raw(tmp_path / "raw", extra_rows={"catalog/products": [product_row(product="suite", kind="bundle")]})

    # when consolidated, then the row is refused naming its file and column
    with pytest.raises(
        ContractError, match=r"^catalog/products\.csv: invalid catalogue row \(bad_value:kind\)"
    ) as info:
        consolidate_raw(raw, settings)
    assert info.value.column == "kind"


def test_catalog_error_on_a_first_run_writes_no_warehouse(tmp_path: Path, settings: Settings) -> None:
    # given an empty home and an export whose catalogue has two primary products
    raw = write_raw(tmp_path / "raw", extra_rows={"catalog/products": [product_row(product="suite", kind="primary")]})

    # when consolidated, then it fails and no warehouse file exists
    with pytest.raises(ContractError):
        consolidate_raw(raw, settings)
    assert not settings.warehouse_path.exists()


def test_gate_failure_writes_the_report_and_leaves_the_previous_warehouse(
    tmp_path: Path, settings: Settings, previous: dict[str, pd.DataFrame]
) -> None:
    # given a good warehouse, then an export with orphans judged with no tolerance for orphans
    home = settings.home
    before = previous
    strict = make_settings(home, **{"ingest.gate.max_orphan_share": 0.0})
    assert strict.ingest.gate.max_orphan_share == 0.0
    raw = write_raw(tmp_path / "orphans", orphans=True)

    # when consolidated
    with pytest.raises(QualityGateError) as info:
        consolidate_raw(raw, strict, run_id="refused")

    # then the error lists each failing table and points at the report, which says the gate failed
    assert info.value.failures == [
        "billing/subscriptions: orphans 20.0% of rows > 0.0% allowed",
        "product/usage_daily: orphans 5.3% of rows > 0.0% allowed",
        "support/tickets: orphans 11.1% of rows > 0.0% allowed",
    ]
    assert info.value.report_path == home / "reports" / "data_quality" / "latest.json"
    report = json.loads(info.value.report_path.read_text())
    assert (report["run_id"], report["gate"]["passed"]) == ("refused", False)
    assert report["tables"]["support/tickets"]["orphans"] == 1
    assert (home / "reports" / "data_quality" / "latest.html").is_file()
    # and the warehouse is the previous one, its run log untouched
    assert_same_content(before, snapshot(home / "warehouse.duckdb"))
    assert load_runs(strict) == 1


# ---- concurrency and crashes ----------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}


def test_open_warehouse_held_by_another_process_is_a_clear_error(settings: Settings, previous) -> None:
    # given a warehouse another process holds open for writing
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(60)",
            str(settings.warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"

        # when this process opens it, then the error names the warehouse
        with pytest.raises(RuntimeError, match=r"cannot open warehouse .*warehouse\.duckdb"):
            open_warehouse(settings)
    finally:
        holder.kill()
        holder.wait()


KILL_SCRIPT = """
import sys
from pathlib import Path
from xsell.settings import load_settings
from ingest.pipeline import consolidate_raw
settings = load_settings(home=Path(sys.argv[2]), **{"ingest.duckdb_memory_limit": "1GB"})
consolidate_raw(Path(sys.argv[1]), settings, run_id="killed")
"""


def _wait_until_writing(proc: subprocess.Popen, staging: Path, warehouse: Path, timeout: float = 60.0) -> None:
    """Wait until the run has staged its last table and the warehouse file grows (the load is writing),
    or until the process ends."""
    size = warehouse.stat().st_size
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if (staging / "killed" / "marketing_touches").exists() and warehouse.stat().st_size != size:
            return
        time.sleep(0.01)


def test_a_killed_run_leaves_the_warehouse_old_or_new_never_partial(
    tmp_path: Path, raw_dir: Path, settings: Settings, previous: dict[str, pd.DataFrame]
) -> None:
    # given a warehouse from a good run, and a bigger export (300k usage rows) to consolidate next
    before = previous
    big = write_raw(tmp_path / "big", usage_rows=300_000)

    # when that consolidation runs in another process and is SIGKILLed while it writes the warehouse
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(big), str(settings.home)],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_writing(proc, settings.tmp_dir / "staging", settings.warehouse_path)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)

    # then the warehouse opens and holds either the old content or the complete new one, never a mix
    after = snapshot(settings.warehouse_path)
    if load_runs(settings) == 1:
        assert_same_content(before, after)
    else:  # the run committed before the kill landed
        expected_settings = make_settings(tmp_path / "expected")
        consolidate_raw(big, expected_settings)
        assert_same_content(snapshot(expected_settings.warehouse_path), after)
    # and the next run is not blocked by the killed one
    consolidate_raw(raw_dir, settings)
    assert_same_content(before, snapshot(settings.warehouse_path))
