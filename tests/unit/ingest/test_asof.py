"""`truncate_export`: an export as known at the end of an as-of day, in the same layout and formats."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest.asof import truncate_export
from ingest.contract import TRUNCATION_NAME
from ingest.errors import ContractError
from ingest.files import CSV_OPTIONS
from ingest.pipeline import consolidate_raw
from tests.factories import invoice_row, opportunity_row, subscription_row, ticket_row, write_raw
from tests.factories import make_settings as factory_settings

EXTRA = {
    "billing/invoices": [
        invoice_row(
            "charlie", invoice_id="in_bad", issued_at="2025-10-05T00:00:00", status="uncollectible", paid_at=None
        )
    ],
    "crm/opportunities": [
        opportunity_row(
            "bravo",
            opportunity_id="006BRAVO000000002",
            stage="closed_lost",
            created_at="2025-10-01T00:00:00Z",
            closed_at="2026-02-20T10:00:00Z",
        )
    ],
    "billing/subscriptions": [
        subscription_row(
            "alpha", subscription_item_id="si_alpha_an", product="analytics", tier=None, start_date="2026-01-10"
        )
    ],
    "support/tickets": [
        ticket_row("alpha", ticket_id="TCK-fr", created_at="2026-01-05T00:00:00Z", solved_at="2026-01-20T00:00:00Z")
    ],
}


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # accounts' second extract gzipped, tickets' second part typed parquet, usage parquet: every format
    return write_raw(tmp_path_factory.mktemp("asof") / "raw", gz_part=True, parquet_part=True, extra_rows=EXTRA)


def _read(path: Path) -> list[dict[str, object]]:
    con = duckdb.connect()
    scan = f"read_parquet('{path}')" if path.suffix == ".parquet" else f"read_csv('{path}', {CSV_OPTIONS})"
    frame = con.execute(f"SELECT * FROM {scan}").df()
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _by(rows: list[dict[str, object]], key: str) -> dict[object, dict[str, object]]:
    return {r[key]: r for r in rows}


def _table(out: Path, folder: str, key: str) -> dict[object, dict[str, object]]:
    """Every row of every part of a table folder, by key."""
    return _by([r for part in sorted((out / folder).iterdir()) for r in _read(part)], key)


def test_later_rows_are_removed_and_later_events_rolled_back(raw: Path, tmp_path: Path) -> None:
    out = truncate_export(raw, tmp_path / "cut", date(2026, 1, 31))
    # the layout and every file (format included) are kept, catalogue byte for byte
    assert sorted(p.relative_to(raw) for p in raw.rglob("*.*")) == sorted(
        p.relative_to(out) for p in out.rglob("*.*") if p.name != TRUNCATION_NAME
    )
    assert (out / "catalog/products.csv").read_bytes() == (raw / "catalog/products.csv").read_bytes()
    # account versions updated at or after T are gone (bravo's of 2026-02-01, in the gzipped part)
    v2 = _read(out / "crm/accounts/accounts_extract_2026-03-31.csv.gz")
    assert [r["account_id"] for r in v2] == ["001ALPHA0000000001"]
    # usage of March 2026 is gone; the parquet part stays, empty
    assert _read(out / "product/usage_daily/usage_2026-03.parquet") == []
    # invoices issued in January were unpaid at T; the uncollectible one (issued 2025-10-05) was declared by T
    invoices = _table(out, "billing/invoices", "invoice_id")
    assert (invoices["in_alpha_0001"]["status"], invoices["in_alpha_0001"]["paid_at"]) == ("open", None)
    assert invoices["in_bad"]["status"] == "uncollectible"
    # the opportunity lost on 2026-02-20 was open at T
    opps = _table(out, "crm/opportunities", "opportunity_id")
    assert (opps["006BRAVO000000002"]["stage"], opps["006BRAVO000000002"]["closed_at"]) == ("open", None)
    # tickets created after T are gone, in the typed parquet part too
    assert _read(out / "support/tickets/tickets_2026.parquet") == []
    manifest = json.loads((out / TRUNCATION_NAME).read_text())
    assert manifest["as_of"] == "2026-01-31" and manifest["t"] == "2026-02-01T00:00:00"


def test_open_items_and_unsolved_tickets_at_an_earlier_day(raw: Path, tmp_path: Path) -> None:
    out = truncate_export(raw, tmp_path / "cut", date(2026, 1, 10))
    # delta's core item ended 2025-09-01 (kept); alpha's analytics item started 2026-01-10 (kept: start <= D)
    subs = _table(out, "billing/subscriptions", "subscription_item_id")
    assert subs["si_delta_core"]["end_date"] == "2025-09-01"
    assert "si_alpha_an" in subs
    # the ticket solved on 2026-01-20 was unsolved, its satisfaction unknown
    tickets = _table(out, "support/tickets", "ticket_id")
    assert (tickets["TCK-fr"]["solved_at"], tickets["TCK-fr"]["satisfaction"]) == (None, None)
    # at an earlier cut the uncollectible invoice (issued 2025-10-05) was not yet declared
    early = truncate_export(raw, tmp_path / "early", date(2025, 11, 30))
    invoices = _table(early, "billing/invoices", "invoice_id")
    assert invoices["in_bad"]["status"] == "open"
    subs = _table(early, "billing/subscriptions", "subscription_item_id")
    assert "si_alpha_an" not in subs


def test_an_item_ending_after_the_cut_is_open(raw: Path, tmp_path: Path) -> None:
    out = truncate_export(raw, tmp_path / "cut", date(2025, 6, 30))
    subs = _table(out, "billing/subscriptions", "subscription_item_id")
    assert subs["si_delta_core"]["end_date"] is None


def test_the_truncated_export_consolidates(raw: Path, tmp_path: Path) -> None:
    out = truncate_export(raw, tmp_path / "cut", date(2026, 1, 31))
    settings = factory_settings(
        tmp_path / "home", **{"ingest.export_time": "2026-01-31T23:59:59", "ingest.gate.enabled": False}
    )
    summary = consolidate_raw(out, settings)
    assert summary.totals["rows_kept"] > 0


def test_refuses_a_missing_export_and_an_output_inside_it(raw: Path, tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="not found"):
        truncate_export(tmp_path / "missing", tmp_path / "out", date(2026, 1, 31))
    with pytest.raises(ValueError, match="outside the raw export"):
        truncate_export(raw, raw / "cut", date(2026, 1, 31))


def test_a_table_missing_a_column_is_named(tmp_path: Path) -> None:
    bad = write_raw(tmp_path / "raw", drop_column=("support/tickets", "priority"))
    with pytest.raises(ContractError, match="priority"):
        truncate_export(bad, tmp_path / "out", date(2026, 1, 31))
    assert not (tmp_path / "out").exists()
