"""Field-level fidelity, table by table: a bad value is nulled and counted (row kept); a bad key or date sets the row aside."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from factories import (
    BASE_COUNTS,
    account_row,
    consolidate_in_memory,
    invoice_row,
    nps_row,
    opportunity_row,
    product_row,
    subscription_row,
    ticket_row,
    touch_row,
    usage_row,
    write_raw,
)

from ingest.c360 import OUTPUT_NAMES
from ingest.contract import FEATURES, NPS, PRODUCTS, TABLES, TABLES_BY_NAME
from ingest.errors import ContractError
from ingest.pipeline import consolidate_raw
from xsell.settings import Settings

Row = dict[str, object]

#: table -> (row with unusable values, its key column, {column: nulled}), (row with an unusable key or date, reason)
CASES: dict[str, tuple[Row, str, dict[str, int], Row, str]] = {
    "crm/accounts": (
        account_row("alpha", segment="galactic", employee_count="many", updated_at="2026-03-02T00:00:00Z"),
        "updated_at",
        {"segment": 1, "employee_count": 1},
        account_row("alpha", updated_at="last tuesday"),
        "bad_type:updated_at",
    ),
    "crm/opportunities": (
        opportunity_row("alpha", opportunity_id="opp_values", amount="lots", type="swap"),
        "opportunity_id",
        {"amount": 1, "type": 1},
        opportunity_row("alpha", opportunity_id=" "),
        "missing_value:opportunity_id",
    ),
    "billing/subscriptions": (
        subscription_row("alpha", subscription_item_id="si_values", product="analytics", tier=None, seats=-4, mrr="?"),
        "subscription_item_id",
        {"seats": 1, "mrr": 1},
        subscription_row("alpha", subscription_item_id="si_bad_start", start_date="2025-02-30"),
        "bad_type:start_date",
    ),
    "billing/invoices": (
        invoice_row("alpha", invoice_id="in_values", amount="n/a", status="refunded"),
        "invoice_id",
        {"amount": 1, "status": 1},
        invoice_row("alpha", invoice_id="in_no_issue", issued_at=""),
        "missing_value:issued_at",
    ),
    "product/usage_daily": (
        usage_row("alpha", user_id="usr_values", event_count=-2),
        "user_id",
        {"event_count": 1},
        usage_row("alpha", user_id="usr_no_workspace", workspace_id=""),
        "missing_value:workspace_id",
    ),
    "support/tickets": (
        ticket_row("alpha", ticket_id="TCK-values", category="rant", satisfaction="meh"),
        "ticket_id",
        {"category": 1, "satisfaction": 1},
        ticket_row("alpha", ticket_id="TCK-bad-created", created_at="yesterday"),
        "bad_type:created_at",
    ),
    "marketing/touches": (
        touch_row("alpha", touch_id="tch_values", channel="pigeon", action="liked"),
        "touch_id",
        {"channel": 1, "action": 1},
        touch_row("alpha", touch_id="tch_bad_holdout", holdout="maybe"),
        "bad_type:holdout",
    ),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """One export with, in every table of CASES, one row of unusable values and one of an unusable key or date."""
    root = tmp_path_factory.mktemp("fidelity")
    extra = {table: [values, bad] for table, (values, _, _, bad, _) in CASES.items()}
    extra["survey/nps"] = [
        nps_row("alpha", response_id="resp_eleven", score=11),
        nps_row("alpha", response_id="resp_undated", submitted_at=""),
    ]
    con, _, result = consolidate_in_memory(write_raw(root / "raw", extra_rows=extra), root / "staged")
    yield SimpleNamespace(con=con, counts=result.counts)
    con.close()


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


@pytest.mark.parametrize("table", list(CASES))
def test_bad_value_is_nulled_and_counted_while_the_row_is_kept(run: SimpleNamespace, table: str) -> None:
    # given a row whose descriptive fields hold impossible, unparsable or unknown values
    values, key, nulled, _, _ = CASES[table]
    counts = run.counts[table]

    # then the row is kept (one more than the clean export), each such field counted once under its name
    assert counts.rows_kept == BASE_COUNTS[table] + 1
    assert {c: n for c, n in counts.nulled_values.items() if n} == nulled
    # and the warehouse row holds NULL in those fields and its other values as written
    columns = ", ".join(nulled)
    out = f"c360.{OUTPUT_NAMES[table]}"
    assert _rows(run.con, f"SELECT {columns} FROM {out} WHERE {key} = ?", [str(values[key])]) == [
        tuple(None for _ in nulled)
    ]


@pytest.mark.parametrize("table", list(CASES))
def test_bad_key_or_date_sets_the_row_aside_with_its_reason(run: SimpleNamespace, table: str) -> None:
    # given a row whose id or defining date is missing or unparsable
    reason = CASES[table][4]
    counts = run.counts[table]

    # then it is the table's one invalid row, set aside in the rejected schema with its reason
    assert (counts.invalid, counts.invalid_reasons) == (1, {reason: 1})
    slug = TABLES_BY_NAME[table].slug
    assert _rows(run.con, f"SELECT rejected_as, reason FROM rejected.{slug}") == [("invalid", reason)]


def test_nps_score_is_the_response_so_a_bad_score_sets_it_aside(run: SimpleNamespace) -> None:
    # given an NPS response with score 11 and one without a submission time
    counts = run.counts[NPS.name]

    # then both are set aside with their reasons: a response without its score records nothing
    assert NPS.value_columns == ()
    assert (counts.rows_kept, counts.invalid, counts.nulled_values) == (BASE_COUNTS[NPS.name], 2, {})
    assert counts.invalid_reasons == {"missing_value:submitted_at": 1, "score_out_of_range": 1}


def test_every_table_is_covered_and_value_columns_are_never_ids_keys_or_dates() -> None:
    # the cases above cover every contract table that has value columns; the catalogue and NPS have none
    with_values = {t.name for t in TABLES if t.value_columns}
    assert with_values == set(CASES)
    for spec in TABLES:
        for name in spec.value_columns:
            col = spec.column(name)
            assert col.id_kind is None and name not in spec.key and col.type not in ("date", "timestamp")
        assert set(spec.defining_columns) | set(spec.value_columns) == set(spec.column_names)


def test_a_value_column_cannot_be_an_id_or_a_date() -> None:
    # given a spec that would null an id or a date, when declared, then it is refused naming the column
    from dataclasses import replace

    with pytest.raises(ValueError, match="'account_id' cannot be a value column"):
        replace(TABLES_BY_NAME["support/tickets"], value_columns=("account_id",))
    with pytest.raises(ValueError, match="'created_at' cannot be a value column"):
        replace(TABLES_BY_NAME["support/tickets"], value_columns=("created_at",))
    with pytest.raises(ValueError, match="null_if names 'score'"):
        replace(NPS, null_if=(("score", "score > 10"),))


@pytest.mark.parametrize(
    ("table", "row", "column"),
    [
        (PRODUCTS.name, product_row(product="suite", list_price_mrr=-5.0), "list_price_mrr"),
        (FEATURES.name, {"feature": "exports", "min_tier": "", "signals_product": None}, "min_tier"),
    ],
)
def test_catalogue_has_no_value_columns_a_bad_row_stops_the_run(
    tmp_path: Path, settings: Settings, table: str, row: Row, column: str
) -> None:
    # given a catalogue row with an impossible price or a missing tier
    raw = write_raw(tmp_path / "raw", extra_rows={table: [row]})

    # when consolidated, then the run stops naming the catalogue file and the column: the catalogue is curated
    with pytest.raises(ContractError, match=r"^catalog/\w+\.csv: invalid catalogue row") as info:
        consolidate_raw(raw, settings)
    assert column in str(info.value)
    assert not settings.warehouse_path.exists()


def test_a_product_the_catalogue_does_not_list_sets_its_row_aside_or_is_nulled(tmp_path: Path) -> None:
    # given a subscription and an opportunity for a product the catalogue does not list, and a ticket and a
    # touch naming it as a value
    extra = {
        "billing/subscriptions": [subscription_row("alpha", subscription_item_id="si_teleport", product="teleport")],
        "crm/opportunities": [opportunity_row("alpha", opportunity_id="opp_teleport", product="teleport")],
        "support/tickets": [ticket_row("alpha", ticket_id="TCK-teleport", requested_product="teleport")],
        "marketing/touches": [touch_row("alpha", touch_id="tch_teleport", product="teleport")],
    }
    con, _, result = consolidate_in_memory(write_raw(tmp_path / "raw", extra_rows=extra), tmp_path / "staged")
    counts = result.counts

    # then the rows it defines are set aside with the reason naming the column, nothing else changes
    for table in ("billing/subscriptions", "crm/opportunities"):
        assert (counts[table].rows_kept, counts[table].invalid) == (BASE_COUNTS[table], 1)
        assert counts[table].invalid_reasons == {"unknown_product:product": 1}
    # and where it is a value, the row is kept with the product nulled and counted
    assert counts["support/tickets"].rows_kept == BASE_COUNTS["support/tickets"] + 1
    assert counts["support/tickets"].nulled_values["requested_product"] == 1
    assert counts["marketing/touches"].nulled_values["product"] == 1
    assert _rows(con, "SELECT product FROM c360.touches WHERE touch_id = 'tch_teleport'") == [(None,)]
    con.close()
