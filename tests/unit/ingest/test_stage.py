"""ingest.stage: every raw part cast to contract types, ids trimmed, each row given its rejection reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from factories import (
    ACCOUNT,
    nps_row,
    subscription_row,
    ticket_row,
    typed_frame,
    usage_row,
    write_part,
    write_raw,
)

from ingest.contract import NPS, SUBSCRIPTIONS, TABLES_BY_NAME, TICKETS, USAGE, Column, table_folder
from ingest.errors import ContractError
from ingest.stage import BAD_VALUE, ID_WHITESPACE, NULLED, REASON, SOURCE, reason_expr, stage_table, typed_expr
from xsell.duck import quote_str

TS = dt.datetime(2025, 5, 1, 10, 35, 3)


def stage_rows(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict], fmt: str = "csv"
) -> pd.DataFrame:
    """Write `rows` as the only part of `table`, stage it, and return the staged frame in row order."""
    raw = tmp_path / "raw"
    spec = TABLES_BY_NAME[table]
    write_part(raw / table_folder(spec), "part", table, rows, fmt)
    staged = stage_table(con, raw, spec, tmp_path / "staged" / spec.slug)
    files = ", ".join(quote_str(p) for p in staged.parts)
    return con.execute(f"SELECT * FROM read_parquet([{files}])").df()


def _one(tmp_path: Path, con: duckdb.DuckDBPyConnection, table: str, row: dict, fmt: str = "csv") -> pd.Series:
    frame = stage_rows(tmp_path, con, table, [row], fmt)
    assert len(frame) == 1
    return frame.iloc[0]


# ---- typed_expr ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("col", "value", "expected"),
    [
        (Column("x", "int"), " 42 ", 42),
        (Column("x", "int"), "12.0", 12),
        (Column("x", "float"), "2.5", 2.5),
        (Column("x", "bool"), "TRUE", True),
        (Column("x", "date"), "2025-01-31", dt.date(2025, 1, 31)),
        (Column("x", "timestamp"), "2025-01-31T23:30:00-01:00", dt.datetime(2025, 2, 1, 0, 30)),
        (Column("x", "timestamp"), "2025-01-31T23:30:00+14:00", dt.datetime(2025, 1, 31, 9, 30)),
        (Column("x", "timestamp"), "2025-01-31T23:30:00-14:00", dt.datetime(2025, 2, 1, 13, 30)),
        (Column("x", "timestamp"), "2025-01-31T23:30:00+0530", dt.datetime(2025, 1, 31, 18, 0)),
        (Column("x", "timestamp"), "2025-01-31T23:30:00+05", dt.datetime(2025, 1, 31, 18, 30)),
        (Column("x", "timestamp"), "2024-02-29 23:59:59.5Z", dt.datetime(2024, 2, 29, 23, 59, 59, 500000)),
        (Column("x", "timestamp"), "2025-01-31", dt.datetime(2025, 1, 31)),
        (Column("x", "date"), "2025-01-31T23:30:00Z", dt.date(2025, 1, 31)),
        (Column("x", "string", allowed=("low", "high")), "  HIGH\t", "high"),
        (Column("x", "string"), "  Mixed Case \t", "Mixed Case"),
        (Column("x", "string"), "   ", None),
    ],
)
def test_typed_expr_casts_text_to_the_contract_type(
    duck: duckdb.DuckDBPyConnection, col: Column, value, expected
) -> None:
    # given a text value, when cast with the column's expression, then the typed value comes back
    sql = typed_expr(col, "v", "VARCHAR")
    assert duck.execute(f"SELECT {sql} FROM (SELECT CAST(? AS VARCHAR) AS v)", [value]).fetchall() == [(expected,)]


@pytest.mark.parametrize(
    ("col", "value"),
    [(Column("x", "int"), "1.5"), (Column("x", "int"), "ten"), (Column("x", "bool"), "maybe")],
)
def test_typed_expr_gives_null_for_text_that_cannot_be_cast(
    duck: duckdb.DuckDBPyConnection, col: Column, value
) -> None:
    # given text of the wrong type, when cast, then NULL (the reason expression turns it into bad_type)
    sql = typed_expr(col, "v", "VARCHAR")
    assert duck.execute(f"SELECT {sql} FROM (SELECT CAST(? AS VARCHAR) AS v)", [value]).fetchall() == [(None,)]


#: timestamps DuckDB alone would accept (shifting, clamping or inventing the instant) or rightly refuses
NOT_ISO_TIMESTAMPS = [
    "2025-05-01T10:35:03+25:00",  # offset beyond +14:00: DuckDB shifts the instant by 25 hours
    "2025-05-01T10:35:03-25:00",
    "2025-05-01T10:35:03+14:01",
    "2025-05-01T10:35:03-14:30",
    "2025-05-01T10:35:03+05:60",
    "2025-05-01T10:35:03+99:99",
    "2025-05-01T10:35:03+01:30:15",  # seconds in an offset
    "2025-05-01T24:00:00",  # DuckDB reads hour 24 as the next midnight
    "2025-05-01T23:60:00",
    "2025-05-01T23:59:60",
    "2025-13-01T00:00:00",
    "2025-02-30T00:00:00",
    "2025-02-29",
    "2025-05-01T10:35:03 Europe/Paris",  # named zones are not ISO 8601
    "2025-05-01T10:35:03 UTC",
    "2025-05-01 (BC)",
    "12025-05-01T10:00:00",
    "2025-5-1 1:2:3",
    "infinity",
    "-infinity",
    "epoch",
    "2025-05-01+02:00",  # an offset without a time
]


@pytest.mark.parametrize("value", NOT_ISO_TIMESTAMPS)
@pytest.mark.parametrize("kind", ["timestamp", "date"])
def test_typed_expr_gives_null_for_timestamps_outside_iso_8601(
    duck: duckdb.DuckDBPyConnection, value: str, kind: str
) -> None:
    # given text that is not an ISO 8601 instant of the contract, when cast, then NULL (a bad value, never shifted)
    sql = typed_expr(Column("x", kind), "v", "VARCHAR")  # type: ignore[arg-type]
    assert duck.execute(f"SELECT {sql} FROM (SELECT CAST(? AS VARCHAR) AS v)", [value]).fetchall() == [(None,)]


def test_typed_expr_unknown_contract_type_is_an_error() -> None:
    # given a column of a type the contract does not define, when its cast is asked for, then it is refused
    with pytest.raises(ValueError, match="unknown contract type money"):
        typed_expr(Column("x", "money"), "v", "VARCHAR")  # type: ignore[arg-type]


def test_reason_expr_reports_the_first_failing_column_in_contract_order(tmp_path: Path, duck) -> None:
    # given a ticket with a missing account id and an unparsable creation time
    row = ticket_row(account_id="", created_at="yesterday")

    # when staged, then the reason is the first failure in contract column order
    assert _one(tmp_path, duck, TICKETS.name, row)[REASON] == "missing_value:account_id"
    assert "missing_value:account_id" in reason_expr(TICKETS)


# ---- timestamps and dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2025-05-01T10:35:03Z",
        "2025-05-01T20:35:03+10:00",
        "2025-05-01T05:35:03-05:00",
        "2025-05-01T10:35:03",  # no offset: UTC
        "2025-05-01 10:35:03",
        "2025-05-01T10:35:03+00:00",
    ],
)
def test_stage_table_reads_iso_timestamps_as_naive_utc(tmp_path: Path, duck, value: str) -> None:
    # given a ticket created at the same instant written with different offsets
    row = ticket_row(created_at=value)

    # when staged
    staged = _one(tmp_path, duck, TICKETS.name, row)

    # then it is that instant in UTC, without time zone, and the row is valid
    assert staged["created_at"] == pd.Timestamp(TS)
    assert staged["created_at"].tzinfo is None
    assert staged[REASON] is None


def _text_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Rows as a frame of text columns (a Parquet exporter that writes timestamps as strings)."""
    return pd.DataFrame(list(rows)).astype("string")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("value", ["2026-01-01T18:53:03+25:00", "2026-01-01T24:00:00+10:00", "2026-02-30T10:00:00Z"])
def test_stage_table_required_timestamp_outside_iso_8601_is_a_bad_type(
    tmp_path: Path, duck, fmt: str, value: str
) -> None:
    # given an NPS response submitted at an impossible local time, beside a good one
    rows = [nps_row(submitted_at=value), nps_row(response_id="resp_ok")]
    raw = tmp_path / "raw"
    folder = raw / table_folder(NPS)
    if fmt == "parquet":
        folder.mkdir(parents=True)
        _text_frame(rows).to_parquet(folder / "nps.parquet", index=False)
    else:
        write_part(folder, "nps", NPS.name, rows)

    # when staged
    staged = stage_table(duck, raw, NPS, tmp_path / "staged")
    frame = duck.execute(f"SELECT * FROM read_parquet({quote_str(staged.parts[0])})").df().set_index("response_id")

    # then the bad row is set aside as a bad value with its text kept, and the good one is read
    assert frame.loc["resp_alpha_1", REASON] == "bad_type:submitted_at"
    assert frame.loc["resp_alpha_1", BAD_VALUE] == value
    assert pd.isna(frame.loc["resp_alpha_1", "submitted_at"])
    assert frame.loc["resp_ok", "submitted_at"] == pd.Timestamp("2026-01-01 08:53:03")
    assert frame.loc["resp_ok", REASON] is None


@pytest.mark.parametrize("value", ["2025-05-02T07:30:07+25:00", "2025-05-01T24:00:00Z"])
def test_stage_table_optional_timestamp_outside_iso_8601_is_treated_like_unparsable_text(
    tmp_path: Path, duck, value: str
) -> None:
    # given two tickets solved at an impossible time and at a time that is no timestamp at all
    rows = [ticket_row(ticket_id="TCK-bad", solved_at=value), ticket_row(ticket_id="TCK-text", solved_at="soon")]

    # when staged
    frame = stage_rows(tmp_path, duck, TICKETS.name, rows).set_index("ticket_id")

    # then neither value is read, and the impossible time takes the same path as unparsable text
    assert frame["solved_at"].isna().all()
    assert frame.loc["TCK-bad", REASON] == frame.loc["TCK-text", REASON]


@pytest.mark.parametrize("value", ["2025-05-01T24:00:00", "infinity", "2025-5-1"])
def test_stage_table_date_outside_iso_8601_is_a_bad_type(tmp_path: Path, duck, value: str) -> None:
    # given a subscription item starting at a time DuckDB alone would read leniently
    row = subscription_row(start_date=value)

    # when staged, then it is set aside as a bad type
    assert _one(tmp_path, duck, SUBSCRIPTIONS.name, row)[REASON] == "bad_type:start_date"


def test_stage_table_reads_tz_aware_parquet_timestamps_as_naive_utc(tmp_path: Path, duck) -> None:
    # given a parquet part whose timestamps carry a non-UTC zone (microseconds, as exporters write)
    frame = typed_frame(TICKETS.name, [ticket_row(created_at="2025-05-01T10:35:03Z")])
    frame["created_at"] = frame["created_at"].dt.tz_convert("Australia/Sydney")
    folder = tmp_path / "raw" / "support" / "tickets"
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "tickets.parquet", index=False)

    # when staged
    staged = stage_table(duck, tmp_path / "raw", TICKETS, tmp_path / "staged")
    [created] = duck.execute(f"SELECT created_at FROM read_parquet({quote_str(staged.parts[0])})").fetchall()[0]

    # then the instant is kept, in UTC
    assert created == TS


def test_stage_table_reads_nanosecond_tz_aware_parquet_timestamps(tmp_path: Path, duck) -> None:
    # given a usage part written by pandas with its default nanosecond, UTC-aware timestamps
    frame = typed_frame(USAGE.name, [usage_row()])
    frame["ingested_at"] = frame["ingested_at"].dt.as_unit("ns")
    folder = tmp_path / "raw" / "product" / "usage_daily"
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "usage.parquet", index=False)

    # when staged
    staged = stage_table(duck, tmp_path / "raw", USAGE, tmp_path / "staged")

    # then it reads like the microsecond file does
    [ingested] = duck.execute(f"SELECT ingested_at FROM read_parquet({quote_str(staged.parts[0])})").fetchall()[0]
    assert ingested == dt.datetime(2026, 3, 29, 23, 0)


def test_stage_table_reads_dates_and_empty_optional_dates(tmp_path: Path, duck) -> None:
    # given an ended and an open subscription item
    rows = [
        subscription_row(subscription_item_id="si_1", start_date="2024-01-01", end_date="2025-01-01"),
        subscription_row(subscription_item_id="si_2", start_date="2025-01-01", end_date=None),
    ]

    # when staged
    frame = stage_rows(tmp_path, duck, SUBSCRIPTIONS.name, rows).sort_values("subscription_item_id")

    # then dates are dates, the open end is NULL and both rows are valid
    assert frame["start_date"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2025-01-01")]
    assert frame["end_date"].iloc[0] == pd.Timestamp("2025-01-01")
    assert pd.isna(frame["end_date"].iloc[1])
    assert frame[REASON].isna().all()


def test_stage_table_bad_date_is_a_bad_type(tmp_path: Path, duck) -> None:
    # given a subscription item starting on a day that does not exist
    row = subscription_row(start_date="2025-02-30")

    # when staged, then it is set aside as a bad type
    assert _one(tmp_path, duck, SUBSCRIPTIONS.name, row)[REASON] == "bad_type:start_date"


# ---- ints, bools, allowed values, missing values, rules --------------------------------------------


@pytest.mark.parametrize(
    ("seats", "expected", "nulled"),
    [
        ("12", 12, None),
        ("12.0", 12, None),
        (" 7 ", 7, None),
        ("0", 0, None),
        ("1.5", None, "seats"),
        ("ten", None, "seats"),
        ("", None, "seats"),
        ("-1", None, "seats"),
    ],
)
def test_stage_table_int_value_column(tmp_path: Path, duck, seats: str, expected, nulled) -> None:
    # given a subscription item with this seats text, when staged, then the row stays valid and an
    # unusable count (fractional, text, missing, negative) becomes NULL, named in the nulled columns
    staged = _one(tmp_path, duck, SUBSCRIPTIONS.name, subscription_row(seats=seats))
    assert (None if pd.isna(staged["seats"]) else int(staged["seats"])) == expected
    assert staged[REASON] is None
    assert staged[NULLED] == nulled


@pytest.mark.parametrize(
    ("text", "expected", "reason"),
    [
        ("true", True, None),
        ("FALSE", False, None),
        ("t", True, None),
        ("0", False, None),
        ("maybe", None, "bad_type:is_trial"),
        ("", None, "missing_value:is_trial"),
    ],
)
def test_stage_table_bool_column(tmp_path: Path, duck, text: str, expected, reason) -> None:
    # given a subscription item with this is_trial text, when staged, then the value and reason are
    staged = _one(tmp_path, duck, SUBSCRIPTIONS.name, subscription_row(is_trial=text))
    assert (None if pd.isna(staged["is_trial"]) else bool(staged["is_trial"])) == expected
    assert staged[REASON] == reason


@pytest.mark.parametrize(
    ("over", "reason", "nulled"),
    [
        ({"priority": "critical"}, None, "priority"),
        ({"priority": "HIGH"}, None, None),
        ({"category": "complaint"}, None, "category"),
        ({"satisfaction": "meh"}, None, "satisfaction"),
        ({"satisfaction": ""}, None, None),
        ({"priority": "", "category": "?"}, None, "priority,category"),
        ({"account_id": " \t "}, "missing_value:account_id", None),
        ({"created_at": ""}, "missing_value:created_at", None),
        ({"created_at": "yesterday"}, "bad_type:created_at", None),
        ({"solved_at": "soon"}, "bad_type:solved_at", None),
        ({"solved_at": ""}, None, None),
    ],
)
def test_stage_table_ticket_reasons(tmp_path: Path, duck, over: dict, reason, nulled) -> None:
    # given a ticket with one changed value, when staged, then a bad id or date is its reason and a bad
    # value of a descriptive field is nulled (named in the nulled columns) while the row stays valid
    staged = _one(tmp_path, duck, TICKETS.name, ticket_row(**over))
    assert staged[REASON] == reason
    assert staged[NULLED] == nulled
    for column in (nulled or "").split(","):
        if column:
            assert staged[column] is None


def test_stage_table_lowercases_allowed_values(tmp_path: Path, duck) -> None:
    # given a ticket whose priority arrives upper-case, when staged, then it is the contract's spelling
    assert _one(tmp_path, duck, TICKETS.name, ticket_row(priority=" HIGH "))["priority"] == "high"


@pytest.mark.parametrize(
    ("table", "row", "reason", "nulled"),
    [
        (SUBSCRIPTIONS.name, subscription_row(seats=-3), None, "seats"),
        (SUBSCRIPTIONS.name, subscription_row(seats=0), None, None),
        (SUBSCRIPTIONS.name, subscription_row(mrr=-0.01), None, "mrr"),
        (SUBSCRIPTIONS.name, subscription_row(seats=-3, mrr="n/a"), None, "seats,mrr"),
        (USAGE.name, usage_row(event_count=0), None, "event_count"),
        (USAGE.name, usage_row(event_count=1), None, None),
        (NPS.name, nps_row(score=11), "score_out_of_range", None),
        (NPS.name, nps_row(score=-1), "score_out_of_range", None),
        (NPS.name, nps_row(score=0), None, None),
        (NPS.name, nps_row(score=10), None, None),
    ],
)
def test_stage_table_impossible_values(tmp_path: Path, duck, table: str, row: dict, reason, nulled) -> None:
    # given a row at or beyond a contract limit, when staged, then an impossible value is nulled, except
    # an NPS score, which is the response itself: that row gets a reason
    staged = _one(tmp_path, duck, table, row)
    assert (staged[REASON], staged[NULLED]) == (reason, nulled)


def test_stage_table_impossible_values_in_parquet(tmp_path: Path, duck) -> None:
    # given a typed usage parquet part with a zero count
    frame = stage_rows(tmp_path, duck, USAGE.name, [usage_row(event_count=0), usage_row(user_id="u2")], "parquet")

    # when staged, then both rows are valid and the zero count alone is nulled
    assert frame[REASON].isna().all()
    assert sorted(frame[NULLED].fillna("none")) == ["event_count", "none"]
    assert frame["event_count"].isna().sum() == 1


# ---- ids -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account_id", "flagged"),
    [
        (ACCOUNT["alpha"], False),
        (f" {ACCOUNT['alpha']}", True),
        (f"{ACCOUNT['alpha']}  ", True),
        (f"\t{ACCOUNT['alpha']}", True),
        (f"{ACCOUNT['alpha']}\t", True),
    ],
)
def test_stage_table_trims_ids_and_flags_whitespace(tmp_path: Path, duck, account_id: str, flagged: bool) -> None:
    # given a ticket whose account id may carry stray spaces or tabs
    staged = _one(tmp_path, duck, TICKETS.name, ticket_row(account_id=account_id))

    # then the id is trimmed and the row is flagged when it had whitespace
    assert staged["account_id"] == ACCOUNT["alpha"]
    assert bool(staged[ID_WHITESPACE]) is flagged
    assert staged[REASON] is None


def test_stage_table_does_not_flag_whitespace_outside_id_columns(tmp_path: Path, duck) -> None:
    # given whitespace around a ticket id (not an account, customer or workspace id)
    staged = _one(tmp_path, duck, TICKETS.name, ticket_row(ticket_id=" TCK-1 "))

    # then the value is trimmed but no id is flagged
    assert staged["ticket_id"] == "TCK-1"
    assert not staged[ID_WHITESPACE]


# ---- stage_table as a whole -------------------------------------------------------------------------


def test_stage_table_reads_every_part_with_lineage(tmp_path: Path, duck) -> None:
    # given the tickets of an export with a .csv, a parquet, and extra .csv parts (8 + 1 rows)
    raw = write_raw(tmp_path / "raw", parquet_part=True, future=True)

    # when the table is staged
    staged = stage_table(duck, raw, TICKETS, tmp_path / "staged")

    # then every part is read, once, with its file recorded on each row
    assert staged.files == (
        "support/tickets/tickets_2025.csv",
        "support/tickets/tickets_2026.parquet",
        "support/tickets/tickets_future.csv",
    )
    assert staged.rows_read == 9
    assert len(staged.parts) == 3
    assert all(p.exists() for p in staged.parts)
    files = ", ".join(quote_str(p) for p in staged.parts)
    per_file = dict(duck.execute(f"SELECT {SOURCE}, count(*) FROM read_parquet([{files}]) GROUP BY 1").fetchall())
    assert per_file == {
        "support/tickets/tickets_2025.csv": 4,
        "support/tickets/tickets_2026.parquet": 4,
        "support/tickets/tickets_future.csv": 1,
    }


def test_stage_table_reads_gzipped_parts_and_records_unknown_columns(tmp_path: Path, duck) -> None:
    # given accounts in a .csv with an unknown column and a .csv.gz
    raw = write_raw(tmp_path / "raw", gz_part=True, unknown_column=True)

    # when staged
    staged = stage_table(duck, raw, TABLES_BY_NAME["crm/accounts"], tmp_path / "staged")

    # then both parts count and the unknown column is reported against its file
    assert staged.files[1].endswith(".csv.gz")
    assert staged.rows_read == 6
    assert staged.unknown_columns == {"crm/accounts/accounts_extract_2025-12-31.csv": ("legacy_score",)}


def test_stage_table_checks_every_header_before_writing_anything(tmp_path: Path, duck) -> None:
    # given tickets whose second part lacks a required column
    raw = write_raw(tmp_path / "raw")
    (raw / "support/tickets/tickets_2026.csv").write_text("ticket_id,account_id\nTCK-9,001ALPHA0000000001\n")
    out = tmp_path / "staged"

    # when staged, then the error names the file and column and no staged part is written
    with pytest.raises(ContractError, match=r"tickets_2026\.csv") as info:
        stage_table(duck, raw, TICKETS, out)
    assert info.value.column == "created_at"
    assert list(out.glob("*.parquet")) == []


def test_stage_table_lists_the_entries_of_the_folder_it_did_not_read(tmp_path: Path, duck) -> None:
    # given tickets with an archive subfolder and a link to a part kept outside the export
    raw = write_raw(tmp_path / "raw")
    folder = raw / "support" / "tickets"
    (folder / "archive").mkdir()
    outside = write_part(tmp_path / "elsewhere", "linked", TICKETS.name, [ticket_row(ticket_id="TCK-linked")])
    (folder / "tickets_linked.csv").symlink_to(outside)

    # when staged
    staged = stage_table(duck, raw, TICKETS, tmp_path / "staged")

    # then the linked part is read and the subfolder is listed as not read
    assert "support/tickets/tickets_linked.csv" in staged.files
    assert list(staged.skipped) == ["support/tickets/archive"]


def test_stage_table_refuses_bytes_that_are_not_utf8_and_writes_nothing(tmp_path: Path, duck) -> None:
    # given tickets whose second part has a Latin-1 byte on line 3
    raw = write_raw(tmp_path / "raw")
    bad = write_part(
        raw / "support" / "tickets", "tickets_2026", TICKETS.name, [ticket_row(ticket_id=f"T{i}") for i in range(3)]
    )
    lines = bad.read_text().splitlines()
    lines[2] = lines[2].replace("how_to", "how_to_caf\u00e9")
    bad.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    out = tmp_path / "staged"

    # when staged, then a one-line error names the file, line, byte and encoding, and nothing is written
    with pytest.raises(ContractError) as info:
        stage_table(duck, raw, TICKETS, out)
    assert str(info.value) == (
        "support/tickets/tickets_2026.csv: not UTF-8 (byte 0xe9 at line 3; looks like Latin-1/cp1252): "
        "re-export the file as UTF-8"
    )
    assert list(out.glob("*.parquet")) == []
