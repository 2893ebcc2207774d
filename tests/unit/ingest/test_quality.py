"""ingest.quality: the data-quality gate and report (JSON for machines, HTML for people)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from factories import consolidate_in_memory, write_raw
from jinja2.exceptions import UndefinedError

from ingest.contract import ACCOUNTS, TABLES
from ingest.quality import COUNT_KEYS, build_report, evaluate_gate, render_html, table_entry, write_report
from xsell.settings import QualityGate


def entry(rows_read: int = 100, **counts: int) -> dict[str, int]:
    """A report table entry with the given counts (zero unless given)."""
    return {"rows_read": rows_read, "rows_kept": rows_read, **dict.fromkeys(COUNT_KEYS[2:], 0), **counts}


@pytest.fixture(scope="module")
def consolidated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """An export with orphans (1 of 9 tickets, 1 of 5 subscription items, 1 of 19 usage rows), an unknown column,
    and a tickets folder holding a subfolder and a dangling link that are not parts."""
    root = tmp_path_factory.mktemp("quality")
    raw = write_raw(root / "raw", orphans=True, unknown_column=True)
    (raw / "support" / "tickets" / "archive").mkdir()
    (raw / "support" / "tickets" / "notes.md").symlink_to(root / "gone.md")
    con, staged, result = consolidate_in_memory(raw, root / "staged")
    yield SimpleNamespace(raw=raw, staged=staged, result=result)
    con.close()


# ---- evaluate_gate --------------------------------------------------------------------------------


def test_evaluate_gate_passes_shares_within_limits() -> None:
    # given shares at or under every limit (5%, duplicates unlimited)
    tables = {"support/tickets": entry(orphans=5, invalid=5, future_dated=5, duplicates=90)}

    # when judged, then nothing fails
    assert evaluate_gate(tables, QualityGate()) == []


def test_evaluate_gate_fails_naming_table_measure_and_share() -> None:
    # given 6% orphan tickets and 10% invalid NPS responses
    tables = {
        "support/tickets": entry(orphans=6),
        "survey/nps": entry(rows_read=50, invalid=5),
        "product/usage_daily": entry(),
    }

    # when judged against the default 5% limits, then each failure names the table, the measure and the share
    assert evaluate_gate(tables, QualityGate()) == [
        "support/tickets: orphans 6.0% of rows > 5.0% allowed",
        "survey/nps: invalid 10.0% of rows > 5.0% allowed",
    ]


def test_evaluate_gate_with_zero_tolerance_fails_on_a_single_row() -> None:
    # given one future-dated row in a thousand and no tolerance for it
    gate = QualityGate(max_future_share=0.0)
    assert evaluate_gate({"billing/invoices": entry(1000, future_dated=1)}, gate) == [
        "billing/invoices: future_dated 0.1% of rows > 0.0% allowed"
    ]


def test_evaluate_gate_disabled_never_fails() -> None:
    # given every row an orphan, when judged by a disabled gate, then nothing fails
    assert evaluate_gate({"survey/nps": entry(orphans=100)}, QualityGate(enabled=False)) == []


def test_evaluate_gate_skips_empty_tables() -> None:
    # given a table with no rows, when judged with zero tolerance, then it neither fails nor divides by zero
    assert evaluate_gate({"survey/nps": entry(0)}, QualityGate(max_orphan_share=0.0)) == []


# ---- build_report ---------------------------------------------------------------------------------


def test_build_report_has_the_public_keys_for_every_contract_table(consolidated: SimpleNamespace) -> None:
    # given a consolidated export, when its report is built with the default gate
    report = build_report(consolidated.result, consolidated.staged, QualityGate(), consolidated.raw, "run-1")

    # then every contract table carries the public counts, and the cross-table sections are present
    assert list(report["tables"]) == [t.name for t in TABLES]
    for name, t in report["tables"].items():
        assert set(COUNT_KEYS) <= set(t), name
        assert all(isinstance(t[k], int) for k in COUNT_KEYS), name
    assert report["tables"]["support/tickets"]["orphans"] == 1
    assert report["totals"] == {k: sum(t[k] for t in report["tables"].values()) for k in COUNT_KEYS}
    assert report["totals"]["orphans"] == 3
    assert report["id_matching"]["unknown_workspaces"] == 1
    assert report["id_matching"]["unknown_billing_customers_subscriptions"] == 1
    assert set(report["null_rates"]) == {t.name for t in TABLES}
    assert set(report["null_rates"]["crm/accounts"]) == set(TABLES[2].column_names)
    assert report["null_rates"]["crm/accounts"]["workspace_id"] == pytest.approx(1 / 6, abs=1e-6)
    assert report["run_id"] == "run-1"
    assert report["export_time"] == "2026-04-01T00:00:00"
    assert report["data_end"] == "2026-03-31"
    json.dumps(report)  # plain JSON


def test_build_report_gate_verdict(consolidated: SimpleNamespace) -> None:
    # given orphan shares of 20% (subscriptions), 11.1% (tickets) and 5.3% (usage)
    args = (consolidated.result, consolidated.staged)

    # when judged with the default 5% limit, then the three tables fail; with the gate off, it passes
    failing = build_report(*args, QualityGate(), consolidated.raw, "r")["gate"]
    assert failing["passed"] is False
    assert failing["failures"] == [
        "billing/subscriptions: orphans 20.0% of rows > 5.0% allowed",
        "product/usage_daily: orphans 5.3% of rows > 5.0% allowed",
        "support/tickets: orphans 11.1% of rows > 5.0% allowed",
    ]
    assert failing["limits"]["max_orphan_share"] == 0.05
    disabled = build_report(*args, QualityGate(enabled=False), consolidated.raw, "r")["gate"]
    assert (disabled["enabled"], disabled["passed"], disabled["failures"]) == (False, True, [])


def test_table_entry_carries_files_unknown_columns_and_details(consolidated: SimpleNamespace) -> None:
    # given the accounts of an export whose first extract has an unknown column
    name = "crm/accounts"
    e = table_entry(consolidated.result.counts[name], consolidated.staged[name])

    # then the entry lists the files, the ignored column and the account details
    assert e["files"] == [
        "crm/accounts/accounts_extract_2025-12-31.csv",
        "crm/accounts/accounts_extract_2026-03-31.csv",
    ]
    assert e["unknown_columns"] == {"crm/accounts/accounts_extract_2025-12-31.csv": ["legacy_score"]}
    assert e["nulled_values"] == {c: 0 for c in ACCOUNTS.value_columns}
    assert {"employee_count", "annual_revenue", "segment"} <= set(e["nulled_values"])
    assert e["conflicting_versions"] == 0
    assert list(e)[: len(COUNT_KEYS)] == list(COUNT_KEYS)


def test_table_entry_lists_the_entries_of_a_table_folder_that_were_not_read(consolidated: SimpleNamespace) -> None:
    # given the tickets of an export whose folder holds a subfolder and a dangling link
    e = table_entry(consolidated.result.counts["support/tickets"], consolidated.staged["support/tickets"])

    # then each is named with why it was not read; the other tables list none
    assert list(e["skipped_entries"]) == ["support/tickets/archive", "support/tickets/notes.md"]
    assert e["skipped_entries"]["support/tickets/notes.md"].startswith("dangling symbolic link")
    others = [table_entry(consolidated.result.counts[n], consolidated.staged[n]) for n in consolidated.staged]
    assert sum(len(o["skipped_entries"]) for o in others) == 2


# ---- render_html / write_report -------------------------------------------------------------------


def test_write_report_writes_json_and_html_naming_every_table(consolidated: SimpleNamespace, tmp_path: Path) -> None:
    # given a report whose gate failed
    report = build_report(consolidated.result, consolidated.staged, QualityGate(), consolidated.raw, "run-7")

    # when written
    latest = write_report(report, tmp_path / "reports")

    # then latest.json round-trips, and latest.html plus per-run copies exist
    folder = tmp_path / "reports" / "data_quality"
    assert latest == folder / "latest.json"
    assert json.loads(latest.read_text())["tables"] == report["tables"]
    assert (folder / "history" / "run-7.json").is_file()
    assert (folder / "history" / "run-7.html").is_file()
    html = (folder / "latest.html").read_text()
    assert all(t.name in html for t in TABLES)
    assert "legacy_score" in html
    assert "not read: <code>support/tickets/archive</code>: subfolder" in html
    assert "orphans 20.0% of rows" in html
    assert 'class="fail">failed' in html


def test_render_html_shows_a_passed_gate(consolidated: SimpleNamespace) -> None:
    # given a report built with the gate off, when rendered, then it says so
    report = build_report(consolidated.result, consolidated.staged, QualityGate(enabled=False), consolidated.raw, "r")
    assert "disabled" in render_html(report)
    report["gate"] = report["gate"] | {"enabled": True, "passed": True, "failures": []}
    assert 'class="pass">passed' in render_html(report)


def test_write_report_that_cannot_render_leaves_the_previous_report(consolidated, tmp_path: Path) -> None:
    # given a good report already written
    good = build_report(consolidated.result, consolidated.staged, QualityGate(), consolidated.raw, "good")
    latest = write_report(good, tmp_path)
    before = latest.read_text()

    # when a broken report (no tables) is written, then it fails and the previous report is intact
    broken = {k: v for k, v in good.items() if k != "tables"} | {"run_id": "broken"}
    with pytest.raises(UndefinedError, match="tables"):
        write_report(broken, tmp_path)
    assert latest.read_text() == before
    assert not (tmp_path / "data_quality" / "history" / "broken.json").exists()


def test_report_shows_nulled_values_per_table_and_field(tmp_path: Path) -> None:
    # given an export with impossible seats, usage count, ticket priority and employee counts
    raw = write_raw(tmp_path / "raw", impossible_values=True, employee_count_typos=True)
    con, staged, result = consolidate_in_memory(raw, tmp_path / "staged")
    con.close()

    # when reported
    report = build_report(result, staged, QualityGate(enabled=False), raw, "r")
    html = render_html(report)

    # then the JSON counts every value column of every table, and the page lists the nulled fields
    nulled = {name: t["nulled_values"] for name, t in report["tables"].items()}
    assert nulled["billing/subscriptions"] == {"tier": 0, "seats": 1, "mrr": 0}
    assert nulled["product/usage_daily"] == {"event_count": 1}
    assert nulled["support/tickets"]["priority"] == 1
    assert nulled["crm/accounts"]["employee_count"] == 2
    assert nulled["survey/nps"] == {}
    assert "Values set to NULL, rows kept" in html
    assert "nulled: <code>seats</code>" in html
    assert "nulled: <code>event_count</code>" in html
