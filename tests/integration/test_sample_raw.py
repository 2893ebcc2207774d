"""Conformance on the real-looking export in ../shared/sample-raw (made outside the project)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from factories import read_raw_parts

from ingest.contract import TABLES
from ingest.pipeline import LoadSummary, consolidate_raw
from xsell.settings import load_settings

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "sample-raw"
pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/sample-raw is not present")


def _read_raw(table: str) -> pd.DataFrame:
    """Every part of a raw table as strings, read with pandas (independent of the ingestion code)."""
    spec = next(t for t in TABLES if t.name == table)
    return read_raw_parts(SAMPLE, spec).astype(str)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadSummary, dict[str, Any], Path]:
    home = tmp_path_factory.mktemp("sample-home")
    summary = consolidate_raw(SAMPLE, load_settings(home=home))
    report = json.loads(Path(summary.report_json).read_text())
    return summary, report, home / "warehouse.duckdb"


def test_gate_passes_and_every_table_is_reported(loaded: tuple[LoadSummary, dict[str, Any], Path]) -> None:
    summary, report, _ = loaded
    assert summary.gate_passed and report["gate"]["passed"]
    assert set(report["tables"]) == {t.name for t in TABLES}
    for name, entry in report["tables"].items():
        buckets = entry["rows_kept"] + entry["duplicates"] + entry["invalid"] + entry["future_dated"] + entry["orphans"]
        assert buckets == entry["rows_read"], name


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_rows_read_match_the_files(loaded: tuple[LoadSummary, dict[str, Any], Path], table: str) -> None:
    _, report, _ = loaded
    assert report["tables"][table]["rows_read"] == len(_read_raw(table))


@pytest.mark.parametrize("table", ["crm/accounts", "billing/invoices", "survey/nps", "support/tickets"])
def test_duplicates_match_an_independent_count(loaded: tuple[LoadSummary, dict[str, Any], Path], table: str) -> None:
    # given the raw rows with ids stripped and upper-cased (the contract's id defects), count the repeated rows
    _, report, _ = loaded
    spec = next(t for t in TABLES if t.name == table)
    raw = _read_raw(table)
    for col in spec.columns:
        if col.id_kind:
            raw[col.name] = raw[col.name].str.strip().str.upper()
    expected = int(raw.duplicated().sum())
    assert report["tables"][table]["duplicates"] == expected


def test_warehouse_ids_are_clean_and_unified(loaded: tuple[LoadSummary, dict[str, Any], Path]) -> None:
    _, _, warehouse = loaded
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for table in ("account_versions", "subscriptions", "invoices", "usage_daily", "tickets", "nps", "touches"):
            bad = con.execute(
                f"SELECT count(*) FROM c360.{table} WHERE account_id <> trim(account_id, ' ' || chr(9)) "
                f"OR account_id NOT IN (SELECT account_id FROM c360.accounts)"
            ).fetchall()[0][0]
            assert bad == 0, table
        claimed = con.execute("SELECT count(*) FROM c360.account_keys WHERE n_accounts > 1").fetchall()[0][0]
        assert claimed == 0
    finally:
        con.close()


def test_known_defects_of_the_sample_are_set_aside(loaded: tuple[LoadSummary, dict[str, Any], Path]) -> None:
    _, report, warehouse = loaded
    nps = _read_raw("survey/nps")
    out_of_range = pd.to_numeric(nps["score"]).pipe(lambda s: (s < 0) | (s > 10))
    assert 0 < report["tables"]["survey/nps"]["invalid"] <= int(out_of_range.sum())
    usage = report["tables"]["product/usage_daily"]
    assert usage["future_dated"] > 0 and usage["orphans"] > 0 and usage["late_rows"] > 0
    assert report["tables"]["crm/accounts"]["nulled_values"]["employee_count"] > 0
    # negative seats and impossible usage counts are nulled, their rows kept: no subscription item is set aside
    seats = pd.to_numeric(_read_raw("billing/subscriptions")["seats"], errors="coerce")
    subs = report["tables"]["billing/subscriptions"]
    assert subs["invalid"] == 0 and 0 < subs["nulled_values"]["seats"] <= int((seats < 0).sum())
    counts = pd.to_numeric(_read_raw("product/usage_daily")["event_count"], errors="coerce")
    assert usage["invalid"] == 0 and 0 < usage["nulled_values"]["event_count"] <= int((counts < 1).sum())
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        skewed = con.execute(
            "SELECT count(*) FROM rejected.product_usage_daily WHERE rejected_as = 'future_dated' "
            "AND date <= CAST(ingested_at AS DATE)"
        ).fetchall()[0][0]
        assert skewed == 0
        kept_future = con.execute(
            "SELECT count(*) FROM c360.usage_daily WHERE date > CAST(ingested_at AS DATE)"
        ).fetchall()[0][0]
        assert kept_future == 0
    finally:
        con.close()
