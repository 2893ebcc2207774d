"""ingest.files: finding the parts of a raw table and refusing anything that is not a table."""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import duckdb
import pyarrow
import pyarrow.parquet
import pytest
from factories import KEYS, nps_row, ticket_row, usage_row, write_part, write_raw

from ingest.contract import FEATURES, NPS, PRODUCTS, TICKETS, USAGE
from ingest.errors import ContractError
from ingest.files import (
    check_unique_names,
    find_parts,
    inspect_part,
    scan_table_folder,
    unknown_entries,
    verify_readable,
)


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

    # then exactly the three parts come back, sorted, and every other entry is warned about
    assert [p.name for p in parts] == ["a_2024.csv.gz", "b_2025.csv", "c_2026.parquet"]
    warned = [r for r in caplog.records if r.name == "ingest.files" and r.levelno == logging.WARNING]
    assert [Path(r.file).name for r in warned] == [".hidden.csv", "README.md", "archive"]


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


def test_scan_table_folder_lists_every_skipped_entry_with_its_reason(tmp_path: Path) -> None:
    # given a tickets folder with a part, a subfolder, a hidden file, a text file and a dangling text link
    folder = tmp_path / "support" / "tickets"
    write_part(folder, "t", TICKETS.name, _tickets(), "csv")
    (folder / "archive").mkdir()
    (folder / "archive" / "old.csv").write_text("ticket_id\n")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "notes.txt").write_text("notes")
    (folder / "readme.md").symlink_to(tmp_path / "nowhere.md")

    # when the folder is scanned
    found = scan_table_folder(tmp_path, TICKETS)

    # then the part is read and every other entry is named with why it was not read
    assert found.parts == (folder / "t.csv",)
    assert found.skipped == {
        "support/tickets/.DS_Store": "hidden entry",
        "support/tickets/archive": "subfolder (a table's parts are read from its own folder only, not from subfolders)",
        "support/tickets/notes.txt": "not a .csv, .csv.gz or .parquet file",
        "support/tickets/readme.md": f"dangling symbolic link (its target {tmp_path / 'nowhere.md'} does not exist)",
    }


def test_scan_table_folder_reads_a_link_to_a_readable_file(tmp_path: Path, duck: duckdb.DuckDBPyConnection) -> None:
    # given a tickets part that is a symbolic link to a file outside the export
    outside = write_part(tmp_path / "elsewhere", "real", TICKETS.name, _tickets(4), "csv")
    folder = tmp_path / "raw" / "support" / "tickets"
    folder.mkdir(parents=True)
    (folder / "t.csv").symlink_to(outside)

    # when the folder is scanned and the part read
    found = scan_table_folder(tmp_path / "raw", TICKETS)

    # then the link is a part like any file, read through to its target
    assert found.parts == (folder / "t.csv",)
    assert found.skipped == {}
    assert verify_readable(duck, inspect_part(duck, tmp_path / "raw", folder / "t.csv", TICKETS)) == 4


def _dangling(path: Path) -> None:
    path.symlink_to(path.parent / "gone.csv")


def _looping(path: Path) -> None:
    path.symlink_to(path.parent / "z_loop.csv")
    (path.parent / "z_loop.csv").symlink_to(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_dangling, r"t_2026\.csv: dangling symbolic link \(its target .*gone\.csv does not exist\): this part"),
        (_looping, r"t_2026\.csv: symbolic link loop \(the link leads back to itself\): this part"),
    ],
)
def test_scan_table_folder_refuses_a_part_link_that_cannot_be_opened(tmp_path: Path, make, message: str) -> None:
    # given a tickets folder with a good part and a .csv link that leads nowhere
    folder = tmp_path / "support" / "tickets"
    write_part(folder, "t_2025", TICKETS.name, _tickets(), "csv")
    make(folder / "t_2026.csv")

    # when it is scanned, then the run stops with a one-line error naming the link
    with pytest.raises(ContractError, match=message) as info:
        scan_table_folder(tmp_path, TICKETS)
    assert info.value.file == "support/tickets/t_2026.csv"
    assert "\n" not in str(info.value)


def test_scan_table_folder_refuses_a_part_that_is_not_a_regular_file(tmp_path: Path) -> None:
    # given a tickets "part" that is a named pipe (reading it would wait forever)
    folder = tmp_path / "support" / "tickets"
    write_part(folder, "t_2025", TICKETS.name, _tickets(), "csv")
    os.mkfifo(folder / "t_2026.csv")

    # when it is scanned, then it is refused by name
    with pytest.raises(ContractError, match=r"t_2026\.csv: not a regular file"):
        scan_table_folder(tmp_path, TICKETS)


def test_scan_table_folder_reports_strays_of_the_catalogue_folder_once(
    raw_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given the catalogue folder with an old copy of the products file beside the two catalogue files
    (raw_dir / "catalog" / "products_2024.csv").write_text("product\n")

    # when both catalogue tables are scanned
    with caplog.at_level(logging.WARNING, logger="ingest.files"):
        products = scan_table_folder(raw_dir, PRODUCTS)
        features = scan_table_folder(raw_dir, FEATURES)

    # then each reads its own file, neither lists the other's, and the stray is reported (and warned) once
    assert products.parts == (raw_dir / "catalog" / "products.csv",)
    assert features.parts == (raw_dir / "catalog" / "features.csv",)
    assert products.skipped == {"catalog/products_2024.csv": "not products.csv, the one file of catalog/products"}
    assert features.skipped == {}
    assert [r.file for r in caplog.records if r.levelno == logging.WARNING] == ["catalog/products_2024.csv"]


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


NPS_HEADER = "response_id,account_id,submitted_at,score"
NPS_LINE = "r{i},001ALPHA0000000001,2026-01-01T18:53:03+10:00,{score}"


@pytest.mark.parametrize(
    ("header", "column", "where"),
    [
        (NPS_HEADER + ",score", "score", "columns 4 and 5"),
        ("Score," + NPS_HEADER, "score", "columns 1 and 5"),
        (NPS_HEADER + ",notes, Notes ", "Notes", "columns 5 and 6"),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "csv.gz"])
def test_inspect_part_refuses_a_column_named_twice(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection, header: str, column: str, where: str, fmt: str
) -> None:
    # given an NPS part naming a column twice (DuckDB alone would read the first and call the second score_1)
    text = header + "\n" + ",".join(["x"] * len(header.split(","))) + "\n"
    path = tmp_path / "survey" / "nps" / f"nps.{fmt}"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(text.encode()) if fmt == "csv.gz" else text.encode())

    # when it is inspected, then a one-line error names the file, the column and where it appears
    with pytest.raises(ContractError) as info:
        inspect_part(duck, tmp_path, path, NPS)
    assert str(info.value) == (
        f"survey/nps/nps.{fmt}: column '{column}' appears twice in the header ({where}): remove or rename one"
    )
    assert info.value.column == column


def test_inspect_part_refuses_a_parquet_column_named_twice(tmp_path: Path, duck: duckdb.DuckDBPyConnection) -> None:
    # given a parquet NPS part whose schema names score twice
    names = ["response_id", "account_id", "submitted_at", "score", "score"]
    table = pyarrow.table([pyarrow.array(["x"]) for _ in names], names=names)
    path = tmp_path / "survey" / "nps" / "nps.parquet"
    path.parent.mkdir(parents=True)
    pyarrow.parquet.write_table(table, path)

    # when it is inspected, then it is refused naming the column
    with pytest.raises(ContractError, match=r"nps\.parquet: column 'score' appears twice in the header"):
        inspect_part(duck, tmp_path, path, NPS)


def test_check_unique_names_accepts_distinct_and_empty_names() -> None:
    # given a header with distinct names and two empty ones (trailing commas), when checked, then it passes
    check_unique_names(["a", "b", "", "A_1", ""], "f.csv")


def _nps_lines(n: int) -> list[str]:
    return [NPS_HEADER] + [NPS_LINE.format(i=i, score=i % 11) for i in range(2, n + 1)]


def _write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = ("\n".join(lines) + "\n").encode(encoding)
    path.write_bytes(gzip.compress(blob) if path.name.endswith(".gz") else blob)


def _long_line_at_858(lines: list[str]) -> str:
    lines[857] = "r858," + "x" * 10_000_000 + ",2026-01-01T18:53:03+10:00,3"
    return "line 858 is 10,000,033 bytes long, more than the 2,000,000 a line may hold (a missing newline or an unclosed quote?)"


def _latin1_at_12(lines: list[str]) -> str:
    lines[11] = "r12,caf\u00e9,2026-01-01T18:53:03+10:00,3"
    return "not UTF-8 (byte 0xe9 at line 12; looks like Latin-1/cp1252): re-export the file as UTF-8"


def _ragged_at_1500(lines: list[str]) -> str:
    lines[1499] += ",extra"
    return "line 1500 has 5 fields, the header has 4"


def _open_quote_at_700(lines: list[str]) -> str:
    lines[699] = 'r700,"001ALPHA,2026-01-01T18:53:03+10:00,3'
    return "line 700: a quoted field is never closed"


@pytest.mark.parametrize("name", ["nps.csv", "nps.csv.gz"])
@pytest.mark.parametrize("corrupt", [_long_line_at_858, _latin1_at_12, _ragged_at_1500, _open_quote_at_700])
def test_inspect_part_names_the_real_line_and_cause_of_an_unreadable_csv(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection, name: str, corrupt
) -> None:
    # given a 2,000-line NPS part with one corruption deep in the file
    lines = _nps_lines(2000)
    detail = corrupt(lines)
    path = tmp_path / "survey" / "nps" / name
    _write_lines(path, lines, "latin-1" if corrupt is _latin1_at_12 else "utf-8")

    # when it is inspected, then the one-line error names the file, the real line and the cause
    with pytest.raises(ContractError) as info:
        inspect_part(duck, tmp_path, path, NPS)
    message = str(info.value)
    assert message.startswith(f"survey/nps/{name}: ")
    assert message.endswith(detail)
    assert "\n" not in message


def test_verify_readable_names_the_line_of_a_bad_row_found_after_the_header(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    # given an NPS part inspected while clean, then given Latin-1 bytes on line 40 (a re-export in flight)
    path = tmp_path / "survey" / "nps" / "nps.csv"
    lines = _nps_lines(50)
    _write_lines(path, lines)
    part = inspect_part(duck, tmp_path, path, NPS)
    lines[39] = "r40,Gen\u00e8ve,2026-01-01T18:53:03+10:00,3"
    _write_lines(path, lines, "cp1252")

    # when it is read in full, then the error names the line, the byte and the likely encoding
    with pytest.raises(ContractError) as info:
        verify_readable(duck, part)
    assert str(info.value) == (
        "survey/nps/nps.csv: not UTF-8 (byte 0xe8 at line 40; looks like Latin-1/cp1252): re-export the file as UTF-8"
    )


def test_inspect_part_names_utf16_as_the_likely_encoding(tmp_path: Path, duck: duckdb.DuckDBPyConnection) -> None:
    # given an NPS part saved as UTF-16 (with its byte-order mark), as some spreadsheet tools do
    path = tmp_path / "survey" / "nps" / "nps.csv"
    _write_lines(path, _nps_lines(5), "utf-16")

    # when it is inspected, then the error says the file is not UTF-8 and looks like UTF-16
    with pytest.raises(ContractError, match=r"nps\.csv: not UTF-8 \(byte 0xff at line 1; looks like UTF-16\)"):
        inspect_part(duck, tmp_path, path, NPS)


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


# ---- unknown_entries ------------------------------------------------------------------------------


def test_unknown_entries_lists_what_no_contract_table_reads(tmp_path: Path) -> None:
    # given a clean export: nothing is unknown (the generator's manifest and an as-of cut's record are expected)
    raw = write_raw(tmp_path / "raw")
    (raw / "generator_manifest.json").write_text("{}")
    (raw / "truncation.json").write_text("{}")
    assert unknown_entries(raw) == {}
    # when folders and files of no table are added at the top level and beside the table folders
    (raw / "legacy").mkdir()
    (raw / "notes.txt").write_text("export of May")
    (raw / "crm" / "leads").mkdir()
    (raw / "billing" / "credits.csv").write_text("credit_id\n")
    (raw / ".DS_Store").write_bytes(b"\0")
    (raw / "old").symlink_to(tmp_path / "gone")
    # then each is listed with what it is, and no table folder is
    assert unknown_entries(raw) == {
        ".DS_Store": "hidden entry",
        "billing/credits.csv": "file",
        "crm/leads": "folder",
        "legacy": "folder",
        "notes.txt": "file",
        "old": "dangling symbolic link",
    }


def test_scan_and_inspect_stay_quiet_when_told(tmp_path: Path, duck: duckdb.DuckDBPyConnection, caplog) -> None:
    # given a table folder with a stray file and a part with an unknown column
    folder = tmp_path / "support" / "tickets"
    write_part(folder, "t", TICKETS.name, [{**row, "extra": 1} for row in _tickets()], "csv")
    (folder / "README.md").write_text("notes")
    # when scanned and inspected without warnings, then nothing is logged but everything is still listed
    with caplog.at_level(logging.WARNING, logger="ingest.files"):
        found = scan_table_folder(tmp_path, TICKETS, warn=False)
        part = inspect_part(duck, tmp_path, found.parts[0], TICKETS, warn=False)
    assert caplog.records == []
    assert found.skipped == {"support/tickets/README.md": "not a .csv, .csv.gz or .parquet file"}
    assert part.unknown_columns == ("extra",)
