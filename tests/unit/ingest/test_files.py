"""ingest.files: finding the parts of a raw table and refusing anything that is not a table."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb
import pytest
from factories import KEYS, nps_row, ticket_row, usage_row, write_part

from ingest.contract import FEATURES, NPS, PRODUCTS, TICKETS, USAGE
from ingest.errors import ContractError
from ingest.files import find_parts, inspect_part, verify_readable


def _tickets(n: int = 3) -> list[dict]:
    return [ticket_row(KEYS[i % len(KEYS)], ticket_id=f"TCK-{i}") for i in range(n)]


# ---- find_parts -----------------------------------------------------------------------------------


def test_find_parts_lists_csv_csv_gz_and_parquet_parts_sorted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # given a table folder mixing the three part formats with files that are not parts
    folder = tmp_path / "support" / "tickets"
    write_part(folder, "b_2025", TICKETS.name, _tickets(), "csv")
    write_part(folder, "a_2024", TICKETS.name, _tickets(), "csv.gz")
    write_part(folder, "c_2026", TICKETS.name, _tickets(), "parquet")
    (folder / "README.md").write_text("notes")
    (folder / ".hidden.csv").write_text("ticket_id\n")
    (folder / "archive").mkdir()
    (folder / "archive" / "old.csv").write_text("ticket_id\n")

    # when its parts are listed
    with caplog.at_level(logging.WARNING, logger="ingest.files"):
        parts = find_parts(tmp_path, TICKETS)

    # then exactly the three parts come back, sorted, and the stray file is warned about
    assert [p.name for p in parts] == ["a_2024.csv.gz", "b_2025.csv", "c_2026.parquet"]
    warned = [r for r in caplog.records if r.name == "ingest.files" and r.levelno == logging.WARNING]
    assert [Path(r.file).name for r in warned] == ["README.md"]


def test_find_parts_keeps_only_the_catalog_file_of_the_table(raw_dir: Path) -> None:
    # given the catalog folder that holds two tables, plus an old copy of one of them
    (raw_dir / "catalog" / "products_2024.csv").write_text("product\n")

    # when the parts of each catalog table are listed
    products = find_parts(raw_dir, PRODUCTS)
    features = find_parts(raw_dir, FEATURES)

    # then each table gets its own file only
    assert products == [raw_dir / "catalog" / "products.csv"]
    assert features == [raw_dir / "catalog" / "features.csv"]


def test_find_parts_missing_folder_is_an_error_naming_it(raw_dir: Path) -> None:
    # given an export without the survey/nps folder
    for path in (raw_dir / "survey" / "nps").iterdir():
        path.unlink()
    (raw_dir / "survey" / "nps").rmdir()

    # when its parts are listed, then the error names the folder
    with pytest.raises(ContractError, match=r"survey/nps") as info:
        find_parts(raw_dir, NPS)
    assert info.value.file == str(raw_dir / "survey" / "nps")


def test_find_parts_folder_without_parts_is_an_error(tmp_path: Path) -> None:
    # given a table folder holding only a text file
    folder = tmp_path / "survey" / "nps"
    folder.mkdir(parents=True)
    (folder / "nps.txt").write_text("response_id,account_id,submitted_at,score\n")

    # when its parts are listed, then the folder is refused
    with pytest.raises(ContractError, match=r"no \.csv, \.csv\.gz or \.parquet file for table survey/nps"):
        find_parts(tmp_path, NPS)


# ---- inspect_part ---------------------------------------------------------------------------------


def test_inspect_part_maps_contract_columns_to_the_header(tmp_path: Path, duck: duckdb.DuckDBPyConnection) -> None:
    # given an NPS file with shuffled column order and header spelled in other case with spaces
    path = tmp_path / "survey" / "nps" / "nps.csv"
    path.parent.mkdir(parents=True)
    path.write_text("Score , SUBMITTED_AT,response_id,Account_Id\n7,2026-01-01T00:00:00Z,r1,001ALPHA0000000001\n")

    # when its header is inspected
    part = inspect_part(duck, tmp_path, path, NPS)

    # then every contract column maps to its own header name, as CSV text
    assert part.format == "csv"
    assert part.relpath == "survey/nps/nps.csv"
    assert part.columns == {
        "response_id": "response_id",
        "account_id": "Account_Id",
        "submitted_at": "SUBMITTED_AT",  # DuckDB trims header names itself
        "score": "Score",
    }
    assert set(part.types.values()) == {"VARCHAR"}
    assert part.unknown_columns == ()


def test_inspect_part_reads_parquet_types(tmp_path: Path, duck: duckdb.DuckDBPyConnection) -> None:
    # given a typed usage parquet part
    path = write_part(tmp_path / "product" / "usage_daily", "usage", USAGE.name, [usage_row()], "parquet")

    # when its header is inspected
    part = inspect_part(duck, tmp_path, path, USAGE)

    # then the file's own types are kept for the cast
    assert part.format == "parquet"
    assert part.types["date"] == "DATE"
    assert part.types["event_count"] == "BIGINT"
    assert part.types["ingested_at"] == "TIMESTAMP WITH TIME ZONE"


def test_inspect_part_warns_about_and_lists_unknown_columns(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    # given an NPS part with two columns the contract does not know
    rows = [nps_row(legacy_score=3, channel="web")]
    path = write_part(tmp_path / "survey" / "nps", "nps_2026", NPS.name, rows)

    # when it is inspected
    with caplog.at_level(logging.WARNING, logger="ingest.files"):
        part = inspect_part(duck, tmp_path, path, NPS)

    # then the columns are listed on the part and named in a warning about the file
    assert part.unknown_columns == ("legacy_score", "channel")
    assert set(part.columns) == set(NPS.column_names)
    [record] = [r for r in caplog.records if r.getMessage() == "ignoring unknown columns"]
    assert record.levelno == logging.WARNING
    assert record.columns == "legacy_score,channel"
    assert record.file == "survey/nps/nps_2026.csv"


@pytest.mark.parametrize("column", ["ticket_id", "priority", "requested_product"])
def test_inspect_part_missing_required_column_names_file_and_column(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection, column: str
) -> None:
    # given a tickets part without one required column (nullable ones are required too)
    rows = [{k: v for k, v in ticket_row().items() if k != column}]
    path = write_part(tmp_path / "support" / "tickets", "tickets_2025", TICKETS.name, rows)

    # when it is inspected, then the error names the file and the column
    with pytest.raises(ContractError) as info:
        inspect_part(duck, tmp_path, path, TICKETS)
    assert info.value.column == column
    assert "support/tickets/tickets_2025.csv" in str(info.value)
    assert f"'{column}'" in str(info.value)


def test_inspect_part_semicolon_file_is_refused_naming_the_delimiter(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    # given a tickets file exported with semicolons
    path = tmp_path / "support" / "tickets" / "tickets.csv"
    path.parent.mkdir(parents=True)
    row = ticket_row()
    path.write_text(";".join(row) + "\n" + ";".join(str(v or "") for v in row.values()) + "\n")

    # when it is inspected, then the error names the file and the delimiter
    with pytest.raises(ContractError, match="delimiter") as info:
        inspect_part(duck, tmp_path, path, TICKETS)
    assert "tickets.csv" in str(info.value)


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(fmt: str):
    def make(path: Path) -> None:
        full = write_part(path.parent, "full", TICKETS.name, _tickets(5000), fmt)
        blob = full.read_bytes()
        full.unlink()
        path.write_bytes(blob[: len(blob) // 2])

    return make


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("binary.csv", _garbage),
        ("empty.csv", _empty),
        ("truncated.csv.gz", _truncated("csv.gz")),
        ("truncated.parquet", _truncated("parquet")),
    ],
)
def test_inspect_part_refuses_a_file_that_is_not_a_table_naming_it(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection, name: str, make
) -> None:
    # given a tickets part that is not a table
    path = tmp_path / "support" / "tickets" / name
    path.parent.mkdir(parents=True)
    make(path)

    # when it is inspected, then the run stops with an error naming the file
    with pytest.raises(ContractError) as info:
        inspect_part(duck, tmp_path, path, TICKETS)
    assert name in str(info.value)
    assert info.value.file.endswith(name)


# ---- verify_readable ------------------------------------------------------------------------------


def test_verify_readable_counts_rows_of_each_format(tmp_path: Path, duck: duckdb.DuckDBPyConnection) -> None:
    # given the same 7 tickets as csv, csv.gz and parquet
    folder = tmp_path / "support" / "tickets"
    paths = [write_part(folder, f"t_{fmt}", TICKETS.name, _tickets(7), fmt) for fmt in ("csv", "csv.gz", "parquet")]

    # when each is read in full, then each has 7 rows
    assert [verify_readable(duck, inspect_part(duck, tmp_path, p, TICKETS)) for p in paths] == [7, 7, 7]


def test_verify_readable_refuses_a_file_truncated_after_its_header_was_read(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    # given a part inspected while whole, then cut in half (a copy still in flight)
    path = write_part(tmp_path / "support" / "tickets", "t", TICKETS.name, _tickets(5000), "csv.gz")
    part = inspect_part(duck, tmp_path, path, TICKETS)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])

    # when it is read in full, then the error names the file
    with pytest.raises(ContractError, match=r"support/tickets/t\.csv\.gz: not a readable table"):
        verify_readable(duck, part)
