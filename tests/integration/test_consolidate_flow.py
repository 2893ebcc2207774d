"""The `consolidate` Prefect flow on the local test API: tasks per table, warehouse and report, idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from ingest.errors import ContractError
from synth import generate_raw
from xsell.settings import Settings, load_settings


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    root = tmp_path_factory.mktemp("flow")
    settings = load_settings(home=root / "home", **{"generator.accounts": 80, "generator.end": "2025-03"})
    generate_raw(root / "raw", settings.generator, seed=3)
    return root / "raw", settings


def _snapshot(warehouse: str) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(warehouse, read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('c360', 'rejected')"
        ).fetchall()
        return {f"{s}.{t}": sorted(con.execute(f"SELECT * FROM {s}.{t}").fetchall(), key=repr) for s, t in tables}
    finally:
        con.close()


def test_flow_builds_warehouse_and_report_idempotently(prefect_api: None, setup: tuple[Path, Settings]) -> None:
    from flows.consolidate import consolidate_flow

    raw, settings = setup
    # when the flow runs twice on the same export
    first = consolidate_flow(raw_dir=raw, settings=settings)
    before = _snapshot(first.warehouse)
    second = consolidate_flow(raw_dir=raw, settings=settings)
    # then it reports where things are, and the warehouse content is the same
    assert Path(first.report_json).is_file() and Path(first.report_html).is_file()
    assert first.totals == second.totals
    assert _snapshot(second.warehouse) == before
    report = json.loads(Path(second.report_json).read_text())
    assert report["gate"]["passed"] is True
    assert not any((settings.tmp_dir / "staging").iterdir()), "staging scratch is cleaned up"


def test_flow_stops_on_a_broken_file_and_keeps_the_warehouse(
    prefect_api: None, setup: tuple[Path, Settings], tmp_path: Path
) -> None:
    from flows.consolidate import consolidate_flow

    raw, settings = setup
    before = _snapshot(str(settings.warehouse_path)) if settings.warehouse_path.exists() else None
    broken = tmp_path / "raw"
    import shutil

    shutil.copytree(raw, broken)
    target = sorted((broken / "survey" / "nps").iterdir())[0]
    target.write_bytes(b"\x00\x01\x02 not a table \xff" * 10)
    with pytest.raises(ContractError, match=str(target.relative_to(broken))):
        consolidate_flow(raw_dir=broken, settings=settings)
    if before is not None:
        assert _snapshot(str(settings.warehouse_path)) == before


def test_flow_refuses_a_bad_header_before_staging_any_table(
    prefect_api: None, setup: tuple[Path, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from flows.consolidate import consolidate_flow
    from ingest.contract import TABLES
    from tasks import ingest_tasks

    raw, settings = setup
    # given an export whose last table gains a part lacking every column but its first
    broken = tmp_path / "raw"
    shutil.copytree(raw, broken)
    last = TABLES[-1]
    (broken / last.name / "zz_broken.csv").write_text(f"{last.column_names[0]}\nx\n")
    staged: list[str] = []
    real_stage = ingest_tasks.stage_raw_table

    def recording_stage(raw_dir: Path, table: str, out_root: Path, settings: Settings) -> object:
        staged.append(table)
        return real_stage(raw_dir, table, out_root, settings)

    monkeypatch.setattr(ingest_tasks, "stage_raw_table", recording_stage)
    # when the flow runs, then it is refused naming the file and the column, before any table is staged
    with pytest.raises(
        ContractError, match=rf"{last.name}/zz_broken\.csv: missing required column '{last.column_names[1]}'"
    ):
        consolidate_flow(raw_dir=broken, settings=settings)
    assert staged == []
