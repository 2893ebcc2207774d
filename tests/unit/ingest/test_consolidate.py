"""ingest.consolidate: grouping, classification, id unification, account versions and ownership, counted exactly."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from factories import (
    ACCOUNT,
    BASE_COUNTS,
    CUSTOMER,
    EXPORT_TIME,
    UNKNOWN_ACCOUNT,
    UNKNOWN_CUSTOMER,
    UNKNOWN_WORKSPACE,
    WORKSPACE,
    account_row,
    consolidate_in_memory,
    subscription_row,
    ticket_row,
    usage_row,
    write_raw,
)

from ingest.c360 import OUTPUT_NAMES
from ingest.consolidate import consolidate, data_end_of, find_export_time
from ingest.contract import ACCOUNTS, TABLES, TABLES_BY_NAME

COUNT_FIELDS = ("rows_read", "rows_kept", "duplicates", "invalid", "future_dated", "orphans")

#: (rows_read, rows_kept, duplicates, invalid, future_dated, orphans) of the `defective` export.
EXPECTED = {
    "catalog/products": (4, 4, 0, 0, 0, 0),
    "catalog/features": (4, 4, 0, 0, 0, 0),
    "crm/accounts": (7, 7, 0, 0, 0, 0),
    "crm/opportunities": (4, 4, 0, 0, 0, 0),
    "billing/subscriptions": (7, 5, 0, 1, 0, 1),
    "billing/invoices": (4, 4, 0, 0, 0, 0),
    "product/usage_daily": (24, 19, 2, 1, 1, 1),
    "support/tickets": (16, 9, 4, 1, 1, 1),
    "survey/nps": (5, 4, 0, 1, 0, 0),
    "marketing/touches": (4, 4, 0, 0, 0, 0),
}


def values(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    """Rows of a query, sorted (table order is not part of the contract)."""
    return sorted(con.execute(sql).fetchall(), key=repr)


@pytest.fixture(scope="module")
def defective(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """One export with every defect option of the factory, consolidated once for the whole module."""
    root = tmp_path_factory.mktemp("defective")
    raw = write_raw(
        root / "raw",
        duplicates=2,
        id_variants=True,
        orphans=True,
        invalid=True,
        impossible_values=True,
        future=True,
        employee_count_typos=True,
        unknown_column=True,
        gz_part=True,
        parquet_part=True,
        extra_rows={"crm/accounts": [account_row("charlie", annual_revenue=-100.0, updated_at="2026-03-01T00:00:00Z")]},
    )
    con, staged, result = consolidate_in_memory(raw, root / "staged")
    yield SimpleNamespace(con=con, staged=staged, result=result, counts=result.counts)
    con.close()


@pytest.fixture
def consolidated(tmp_path: Path) -> Iterator:
    """Consolidate a factory export built with the given options: `consolidated(**write_raw options)`."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def run(export_time: str | None = None, late_after_days: int = 1, **options) -> SimpleNamespace:
        raw = write_raw(tmp_path / "raw", **options)
        con, staged, result = consolidate_in_memory(raw, tmp_path / "staged", export_time, late_after_days)
        opened.append(con)
        return SimpleNamespace(con=con, staged=staged, result=result, counts=result.counts)

    yield run
    for con in opened:
        con.close()


# ---- row accounting -------------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(EXPECTED))
def test_consolidate_counts_each_table_exactly(defective: SimpleNamespace, table: str) -> None:
    # given the defective export, when consolidated, then each table's counts are exactly the planted defects
    counts = defective.counts[table]
    assert tuple(getattr(counts, f) for f in COUNT_FIELDS) == EXPECTED[table]


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_every_row_read_lands_in_exactly_one_bucket(defective: SimpleNamespace, table: str) -> None:
    # given the defective export, when consolidated, then rows read = kept + every set-aside bucket
    c = defective.counts[table]
    assert c.rows_read == c.rows_kept + c.duplicates + c.invalid + c.future_dated + c.orphans
    assert c.rows_read == defective.staged[table].rows_read


@pytest.mark.parametrize("table", [t.name for t in TABLES if t.name != ACCOUNTS.name])
def test_kept_rows_are_exactly_the_rows_of_the_c360_table(defective: SimpleNamespace, table: str) -> None:
    # given the defective export, when consolidated, then every kept row is in the output table, once
    [(n,)] = defective.con.execute(f"SELECT count(*) FROM c360.{OUTPUT_NAMES[table]}").fetchall()
    assert n == defective.counts[table].rows_kept


def test_consolidate_refuses_a_row_accounting_mismatch(tmp_path: Path, raw_dir: Path) -> None:
    # given staged tables one of which claims a row more than its parts hold
    con, staged, _ = consolidate_in_memory(raw_dir, tmp_path / "staged")
    nps = staged["survey/nps"]
    staged["survey/nps"] = dataclasses.replace(nps, rows_read=nps.rows_read + 1)

    # when consolidated again, then the mismatch stops the run instead of a silently wrong report
    with pytest.raises(RuntimeError, match=r"survey/nps: row accounting mismatch \(4 classified, 5 read\)"):
        consolidate(con, staged, EXPORT_TIME.to_pydatetime())
    con.close()


# ---- duplicates and id variants -------------------------------------------------------------------


def test_duplicates_count_each_extra_copy_including_id_case_and_whitespace_variants(defective) -> None:
    # given TCK-alpha-1 five times: 2 exact copies, one with a padded id, one with a lower-cased id
    tickets = defective.counts["support/tickets"]

    # then 4 copies are duplicates, the variants are counted, and the ticket is kept once, canonically spelled
    assert tickets.duplicates == 4
    assert tickets.ids_whitespace == 1
    assert tickets.ids_case == 1
    assert values(defective.con, "SELECT account_id FROM c360.tickets WHERE ticket_id = 'TCK-alpha-1'") == [
        (ACCOUNT["alpha"],)
    ]
    assert values(defective.con, "SELECT * FROM rejected.support_tickets WHERE ticket_id = 'TCK-alpha-1'") == []


def test_usage_duplicates_from_at_least_once_delivery(defective: SimpleNamespace) -> None:
    # given the first usage row delivered three times, then two copies are duplicates and one row is kept
    assert defective.counts["product/usage_daily"].duplicates == 2
    sql = (
        "SELECT count(*) FROM c360.usage_daily WHERE user_id = 'usr_alpha_1' "
        "AND date = DATE '2026-03-29' AND feature = 'projects'"
    )
    assert defective.con.execute(sql).fetchall() == [(1,)]


def test_precedence_is_duplicate_then_invalid_then_future_then_orphan(consolidated) -> None:
    # given tickets that each break several rules at once
    invalid_future_orphan = ticket_row(
        UNKNOWN_ACCOUNT, ticket_id="TCK-x", solved_at="soon", created_at="2026-05-01T00:00:00Z"
    )
    future_orphan = ticket_row(UNKNOWN_ACCOUNT, ticket_id="TCK-y", created_at="2026-05-01T00:00:00Z")
    orphan = ticket_row(UNKNOWN_ACCOUNT, ticket_id="TCK-z")
    padded_orphan = orphan | {"account_id": f" {UNKNOWN_ACCOUNT} "}
    rows = [invalid_future_orphan] * 3 + [future_orphan, orphan, padded_orphan]

    # when consolidated
    run = consolidated(extra_rows={"support/tickets": rows})

    # then extra copies count as duplicates first, and each group lands in its first bucket only
    c = run.counts["support/tickets"]
    assert (c.duplicates, c.invalid, c.future_dated, c.orphans) == (3, 1, 1, 1)
    assert c.rows_kept == BASE_COUNTS["support/tickets"]
    assert values(run.con, "SELECT ticket_id, rejected_as, reason, copies FROM rejected.support_tickets") == [
        ("TCK-x", "invalid", "bad_type:solved_at", 3),
        ("TCK-y", "future_dated", None, 1),
        ("TCK-z", "orphan", None, 2),
    ]


# ---- orphans, future rows, invalid rows, the rejected schema ----------------------------------------


@pytest.mark.parametrize(
    ("table", "column", "unknown"),
    [
        ("support/tickets", "account_id", UNKNOWN_ACCOUNT),
        ("billing/subscriptions", "customer_id", UNKNOWN_CUSTOMER),
        ("product/usage_daily", "workspace_id", UNKNOWN_WORKSPACE),
    ],
)
def test_orphans_of_each_id_kind_are_set_aside(defective: SimpleNamespace, table: str, column: str, unknown) -> None:
    # given one row whose account, customer or workspace no account knows
    slug = TABLES_BY_NAME[table].slug

    # then it is the table's one orphan, set aside with its id, and absent from the c360 table
    assert defective.counts[table].orphans == 1
    assert values(defective.con, f"SELECT {column} FROM rejected.{slug} WHERE rejected_as = 'orphan'") == [(unknown,)]
    out = OUTPUT_NAMES[table]
    assert defective.con.execute(f"SELECT count(*) FROM c360.{out} WHERE {column} = ?", [unknown]).fetchall() == [(0,)]


def test_future_dated_usage_and_tickets_are_set_aside(defective: SimpleNamespace) -> None:
    # given a usage row dated after the day it was ingested, and a ticket created after the export
    con = defective.con

    # then each is its table's one future-dated row
    assert values(con, "SELECT user_id, date FROM rejected.product_usage_daily WHERE rejected_as = 'future_dated'") == [
        ("usr_alpha_skew", dt.date(2026, 4, 2))
    ]
    assert values(con, "SELECT ticket_id FROM rejected.support_tickets WHERE rejected_as = 'future_dated'") == [
        ("TCK-future",)
    ]


def test_usage_ingested_after_a_configured_export_time_is_future_dated(consolidated) -> None:
    # given an export time set one day before the last usage day
    run = consolidated(export_time="2026-03-30T23:00:00Z")

    # then the 6 usage rows of 2026-03-31 (3 workspaces x 2 features) are future-dated
    usage = run.counts["product/usage_daily"]
    assert (usage.rows_kept, usage.future_dated) == (12, 6)
    assert run.result.export_time == dt.datetime(2026, 3, 30, 23, 0)


def test_invalid_reasons_are_counted_per_table(defective: SimpleNamespace) -> None:
    # given one unusable defining field in each of four tables, then each reason is counted once
    reasons = {t: c.invalid_reasons for t, c in defective.counts.items() if c.invalid_reasons}
    assert reasons == {
        "billing/subscriptions": {"bad_type:start_date": 1},
        "product/usage_daily": {"bad_type:date": 1},
        "support/tickets": {"bad_type:solved_at": 1},
        "survey/nps": {"score_out_of_range": 1},
    }


def test_impossible_values_are_nulled_and_counted_per_field(defective: SimpleNamespace) -> None:
    # given seats -1, event_count 0 and priority `critical` in one row each
    con = defective.con

    # then the rows are kept with the value NULL, and each table counts the NULL under its column
    nulled = {t: {k: v for k, v in c.nulled_values.items() if v} for t, c in defective.counts.items()}
    assert {t: n for t, n in nulled.items() if n} == {
        "crm/accounts": {"employee_count": 2, "annual_revenue": 1},
        "billing/subscriptions": {"seats": 1},
        "product/usage_daily": {"event_count": 1},
        "support/tickets": {"priority": 1},
    }
    assert values(con, "SELECT seats, mrr FROM c360.subscriptions WHERE subscription_item_id = 'si_bad_seats'") == [
        (None, 350.0)
    ]
    assert values(con, "SELECT event_count FROM c360.usage_daily WHERE user_id = 'usr_alpha_zero'") == [(None,)]
    assert values(con, "SELECT priority FROM c360.tickets WHERE ticket_id = 'TCK-critical'") == [(None,)]
    # and every table reports every value column, the catalogue and NPS none
    for spec in TABLES:
        assert list(defective.counts[spec.name].nulled_values) == list(spec.value_columns)


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_rejected_schema_holds_every_set_aside_row_with_its_reason(defective: SimpleNamespace, table: str) -> None:
    # given the defective export, when consolidated
    slug = TABLES_BY_NAME[table].slug
    rows = defective.con.execute(f"SELECT rejected_as, reason, copies, source_file FROM rejected.{slug}").fetchall()
    c = defective.counts[table]

    # then one rejected row per set-aside group, a reason exactly on invalid ones, and the file it came from
    by_class = {k: sum(1 for r in rows if r[0] == k) for k in ("invalid", "future_dated", "orphan")}
    assert by_class == {"invalid": c.invalid, "future_dated": c.future_dated, "orphan": c.orphans}
    assert all((r[1] is not None) == (r[0] == "invalid") for r in rows)
    assert all(r[2] >= 1 and r[3].startswith(TABLES_BY_NAME[table].name.split("/")[0]) for r in rows)


# ---- id unification ------------------------------------------------------------------------------


def test_canonical_spelling_is_the_crm_spelling_by_default(defective: SimpleNamespace) -> None:
    # given ids arriving padded or lower-cased in other tables, then the output carries the CRM spelling
    con = defective.con
    assert values(con, "SELECT DISTINCT account_id FROM c360.account_versions") == sorted(
        (a,) for a in ACCOUNT.values()
    )
    assert values(con, "SELECT DISTINCT account_id FROM c360.tickets") == sorted((a,) for a in ACCOUNT.values())


def test_canonical_spelling_is_the_crm_s_most_frequent_one(consolidated) -> None:
    # given alpha spelled upper-case in 2 CRM rows and lower-case in 3 (newer versions)
    lower = ACCOUNT["alpha"].lower()
    newer = [account_row("alpha", account_id=lower, updated_at=f"2026-03-0{d}T00:00:00Z") for d in (1, 2, 3)]

    # when consolidated
    run = consolidated(extra_rows={"crm/accounts": newer})

    # then every table spells alpha in lower case, and the 2 upper-case rows count as case variants
    con = run.con
    assert values(
        con, "SELECT DISTINCT account_id FROM c360.account_versions WHERE upper(account_id) LIKE '%ALPHA%'"
    ) == [(lower,)]
    assert values(con, "SELECT DISTINCT account_id FROM c360.tickets WHERE upper(account_id) LIKE '%ALPHA%'") == [
        (lower,)
    ]
    assert run.counts["crm/accounts"].ids_case == 2
    assert run.counts["support/tickets"].ids_case == 2


def test_single_case_id_kinds_keep_their_case_whatever_one_id_s_majority(consolidated) -> None:
    # given account ids written upper-case almost everywhere (30 more versions of bravo), and alpha's
    # three newest versions lower-cased: alpha's own majority is lower, the kind's style is upper
    lower = ACCOUNT["alpha"].lower()
    newer = [account_row("alpha", account_id=lower, updated_at=f"2026-03-0{d}T00:00:00Z") for d in (1, 2, 3)]
    bravo = [
        account_row("bravo", employee_count=100 + i, updated_at=f"2025-{1 + i // 28:02d}-{1 + i % 28:02d}T00:00:00Z")
        for i in range(30)
    ]

    # when consolidated
    run = consolidated(extra_rows={"crm/accounts": newer + bravo})

    # then alpha keeps the upper-case spelling (stable when an export is cut before the lower-case versions)
    con = run.con
    assert values(
        con, "SELECT DISTINCT account_id FROM c360.account_versions WHERE upper(account_id) LIKE '%ALPHA%'"
    ) == [(ACCOUNT["alpha"],)]
    assert run.counts["crm/accounts"].ids_case == 3


def test_customer_and_workspace_rows_resolve_to_their_account(consolidated) -> None:
    # given alpha moving to a new workspace, ids in other case/with spaces, and bravo's billing id added late
    rows = {
        "crm/accounts": [account_row("alpha", workspace_id="ws_alpha_new01", updated_at="2026-03-01T00:00:00Z")],
        "product/usage_daily": [
            usage_row("alpha", workspace_id="ws_alpha_new01", user_id="u_new", date="2026-03-30"),
            usage_row("bravo", workspace_id=" WS_BRAVO000002 ", user_id="u_case", date="2026-03-30"),
        ],
        "billing/subscriptions": [
            subscription_row("charlie", subscription_item_id="si_case", customer_id=CUSTOMER["charlie"].upper()),
        ],
    }

    # when consolidated
    run = consolidated(extra_rows=rows)
    con = run.con

    # then usage of old and new workspaces, and billing items of any spelling, carry the right account
    assert values(con, "SELECT DISTINCT workspace_id, account_id FROM c360.usage_daily") == sorted(
        [
            (WORKSPACE["alpha"], ACCOUNT["alpha"]),
            ("ws_alpha_new01", ACCOUNT["alpha"]),
            (WORKSPACE["bravo"], ACCOUNT["bravo"]),
            (WORKSPACE["charlie"], ACCOUNT["charlie"]),
        ]
    )
    assert values(con, "SELECT subscription_item_id, customer_id, account_id FROM c360.subscriptions") == sorted(
        [
            ("si_alpha_core", CUSTOMER["alpha"], ACCOUNT["alpha"]),
            ("si_bravo_core", CUSTOMER["bravo"], ACCOUNT["bravo"]),
            ("si_case", CUSTOMER["charlie"], ACCOUNT["charlie"]),
            ("si_charlie_core", CUSTOMER["charlie"], ACCOUNT["charlie"]),
            ("si_delta_core", CUSTOMER["delta"], ACCOUNT["delta"]),
        ]
    )
    assert run.counts["product/usage_daily"].orphans == 0
    assert run.counts["product/usage_daily"].ids_case == 1
    assert run.counts["product/usage_daily"].ids_whitespace == 1


def test_ids_of_future_account_versions_are_unknown(consolidated) -> None:
    # given an alpha version written after the export time that brings a new workspace, used once
    rows = {
        "crm/accounts": [account_row("alpha", workspace_id="ws_alpha_future", updated_at="2026-04-05T00:00:00Z")],
        "product/usage_daily": [usage_row("alpha", workspace_id="ws_alpha_future", user_id="u_f")],
    }

    # when consolidated
    run = consolidated(extra_rows=rows)

    # then the version is future-dated and the usage of its workspace is an orphan
    assert run.counts["crm/accounts"].future_dated == 1
    assert run.counts["product/usage_daily"].orphans == 1
    assert values(run.con, "SELECT count(*) FROM c360.account_versions") == [(6,)]


# ---- accounts --------------------------------------------------------------------------------------


def test_account_versions_have_validity_intervals_and_accounts_is_the_latest(consolidated) -> None:
    # given the clean export: alpha and bravo have two versions, charlie and delta one
    con = consolidated().con

    # then each version is valid until the next one, the last open-ended
    assert con.execute(
        "SELECT valid_from, valid_to, employee_count, segment FROM c360.account_versions "
        "WHERE account_id = ? ORDER BY valid_from",
        [ACCOUNT["alpha"]],
    ).fetchall() == [
        (dt.datetime(2025, 6, 30, 10), dt.datetime(2026, 1, 15, 8), 50, "smb"),
        (dt.datetime(2026, 1, 15, 8), None, 60, "mid_market"),
    ]
    assert values(con, "SELECT count(*) FROM c360.account_versions WHERE valid_to IS NULL") == [(4,)]
    # and accounts holds the latest version of each account
    assert values(
        con, "SELECT account_id, account_name, employee_count, billing_customer_id FROM c360.accounts"
    ) == sorted(
        [
            (ACCOUNT["alpha"], "Alpha Systems AB", 60, CUSTOMER["alpha"]),
            (ACCOUNT["bravo"], "Bravo Systems Group", 50, CUSTOMER["bravo"]),
            (ACCOUNT["charlie"], "Charlie Systems AB", 50, CUSTOMER["charlie"]),
            (ACCOUNT["delta"], "Delta Systems AB", 50, CUSTOMER["delta"]),
        ]
    )


def test_impossible_account_sizes_are_kept_as_unknown(defective: SimpleNamespace) -> None:
    # given employee_count 0 (charlie) and -5 (delta), and a charlie version with negative revenue
    con = defective.con

    # then no account row is set aside, the values become NULL, and the fixes are counted
    assert defective.counts["crm/accounts"].invalid == 0
    nulled = defective.counts["crm/accounts"].nulled_values
    assert (nulled["employee_count"], nulled["annual_revenue"], nulled["segment"]) == (2, 1, 0)
    assert values(con, "SELECT account_id FROM c360.account_versions WHERE employee_count IS NULL") == [
        (ACCOUNT["charlie"],),
        (ACCOUNT["delta"],),
    ]
    assert values(con, "SELECT account_id, annual_revenue FROM c360.accounts WHERE annual_revenue IS NULL") == [
        (ACCOUNT["charlie"], None)
    ]


def test_conflicting_account_versions_do_not_lose_kept_rows(consolidated) -> None:
    # given two alpha versions with the same updated_at but different billing ids, each billing an item
    versions = [
        account_row("alpha", billing_customer_id="cus_alpha_second", updated_at="2026-03-01T00:00:00Z"),
        account_row("alpha", updated_at="2026-03-01T00:00:00Z"),
    ]
    item = subscription_row("alpha", subscription_item_id="si_second", customer_id="cus_alpha_second")

    # when consolidated
    run = consolidated(extra_rows={"crm/accounts": versions, "billing/subscriptions": [item]})

    # then the item counted as kept is in the warehouse (or else counted as set aside)
    kept = run.counts["billing/subscriptions"].rows_kept
    assert run.con.execute("SELECT count(*) FROM c360.subscriptions").fetchall() == [(kept,)]


def test_distinct_rows_with_bad_values_are_not_duplicates(consolidated) -> None:
    # given two subscription rows that differ only in their unparseable start date, and two that differ
    # only in their unparseable seats
    rows = [subscription_row(subscription_item_id="si_x", start_date=d) for d in ("2025-02-30", "2025-02-31")]
    rows += [subscription_row(subscription_item_id=f"si_y{i}", seats=s) for i, s in enumerate(("1.5", "2.5"))]

    # when consolidated
    run = consolidated(extra_rows={"billing/subscriptions": rows})

    # then the first two are invalid, the last two kept with seats nulled, and none is a duplicate
    c = run.counts["billing/subscriptions"]
    assert (c.invalid, c.duplicates, c.nulled_values["seats"]) == (2, 0, 2)


# ---- ownership -------------------------------------------------------------------------------------


def test_ownership_merges_overlapping_and_touching_items_excluding_trials(consolidated) -> None:
    # given alpha's analytics items: a trial, two overlapping, one touching them, a gap, then an open one
    items = [
        ("si_trial", "2025-03-01", "2025-03-20", "true"),
        ("si_a1", "2025-04-01", "2025-10-01", "false"),
        ("si_a2", "2025-09-01", "2026-01-01", "false"),
        ("si_a3", "2026-01-01", "2026-02-01", "false"),
        ("si_zero", "2026-02-10", "2026-02-10", "false"),
        ("si_a4", "2026-03-01", None, "false"),
    ]
    rows = [
        subscription_row(
            "alpha", subscription_item_id=i, product="analytics", tier=None, start_date=s, end_date=e, is_trial=t
        )
        for i, s, e, t in items
    ]

    # when consolidated
    con = consolidated(extra_rows={"billing/subscriptions": rows}).con

    # then ownership is two intervals: merged 2025-04-01..2026-02-01 and an open one from 2026-03-01
    assert con.execute(
        "SELECT start_date, end_date FROM c360.ownership WHERE account_id = ? AND product = 'analytics' "
        "ORDER BY start_date",
        [ACCOUNT["alpha"]],
    ).fetchall() == [(dt.date(2025, 4, 1), dt.date(2026, 2, 1)), (dt.date(2026, 3, 1), None)]
    # and every core item is its own interval, open unless ended
    assert values(con, "SELECT account_id, start_date, end_date FROM c360.ownership WHERE product = 'core'") == sorted(
        [
            (ACCOUNT["alpha"], dt.date(2024, 1, 1), None),
            (ACCOUNT["bravo"], dt.date(2025, 3, 1), None),
            (ACCOUNT["charlie"], dt.date(2024, 6, 1), None),
            (ACCOUNT["delta"], dt.date(2024, 9, 1), dt.date(2025, 9, 1)),
        ]
    )


# ---- export time and late rows --------------------------------------------------------------------


def test_find_export_time_is_the_end_of_the_latest_usage_ingestion_day(tmp_path: Path, raw_dir: Path) -> None:
    # given the clean export, when consolidated without a configured export time
    con, staged, result = consolidate_in_memory(raw_dir, tmp_path / "staged")

    # then its 'now' is the end of the day of the last usage ingestion (exclusive), and data run through that day
    last_day = EXPORT_TIME.to_pydatetime().replace(hour=0, minute=0, second=0, microsecond=0)
    assert result.export_time == last_day + dt.timedelta(days=1)
    assert data_end_of(result.export_time) == last_day.date()
    # a configured time wins, converted to UTC
    assert find_export_time(con, staged, "2026-03-30T12:00:00+02:00") == dt.datetime(2026, 3, 30, 10, 0)
    assert data_end_of(dt.datetime(2026, 3, 30, 10, 0)) == dt.date(2026, 3, 30)
    con.close()


def test_find_export_time_without_usage_or_accounts_is_the_epoch(duck: duckdb.DuckDBPyConnection) -> None:
    # given nothing staged, when the export time is looked for, then it falls back to 1970
    assert find_export_time(duck, {}, None) == dt.datetime(1970, 1, 1)


def test_late_usage_rows_are_kept_and_counted(consolidated) -> None:
    # given a usage row ingested 10 days late and one ingested the next day (not late)
    rows = [
        usage_row("alpha", user_id="u_late", date="2026-03-20", ingested_at="2026-03-30T10:00:00Z"),
        usage_row("alpha", user_id="u_next", date="2026-03-29", ingested_at="2026-03-30T10:00:00Z"),
    ]

    # when consolidated with late meaning more than one day
    run = consolidated(extra_rows={"product/usage_daily": rows}, late_after_days=1)

    # then both are kept and exactly one is counted late
    usage = run.counts["product/usage_daily"]
    assert usage.rows_kept == BASE_COUNTS["product/usage_daily"] + 2
    assert usage.extra["late_rows"] == 1
