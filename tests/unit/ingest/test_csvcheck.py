"""ingest.csvcheck: the real line number and cause of a CSV part DuckDB could not read."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ingest.csvcheck import MAX_LINE_BYTES, CsvProblem, diagnose, encoding_guess, read_header


def _write(path: Path, blob: bytes) -> Path:
    path.write_bytes(gzip.compress(blob) if path.name.endswith(".gz") else blob)
    return path


# ---- read_header ---------------------------------------------------------------------------------


def test_read_header_keeps_names_as_spelled_without_bom_or_line_end(tmp_path: Path) -> None:
    # given a header with a byte-order mark, a quoted name holding a comma, a repeated name and CRLF endings
    path = _write(tmp_path / "t.csv", '\ufeffid, Score ,"a,b",score\r\n1,2,3,4\r\n'.encode())

    # when read, then every name comes back exactly as the file spells it
    assert read_header(path) == ["id", " Score ", "a,b", "score"]


def test_read_header_of_an_empty_file_is_empty(tmp_path: Path) -> None:
    # given an empty part, when its header is read, then there are no names
    assert read_header(_write(tmp_path / "t.csv", b"")) == []


def test_read_header_refuses_a_header_that_is_not_utf8(tmp_path: Path) -> None:
    # given a header written in Latin-1, when read, then the problem names line 1 and the likely encoding
    path = _write(tmp_path / "t.csv.gz", "id,année\n1,2024\n".encode("latin-1"))
    with pytest.raises(CsvProblem, match=r"^not UTF-8 \(byte 0xe9 at line 1; looks like Latin-1/cp1252\)"):
        read_header(path)


# ---- diagnose ------------------------------------------------------------------------------------


def test_diagnose_finds_nothing_wrong_in_a_clean_file(tmp_path: Path) -> None:
    # given a clean file with a quoted field spanning two lines, doubled quotes, CRLF ends and a blank last line
    blob = b'id,note\r\n1,"two\r\nlines"\r\n2,"say ""hi"""\r\n3,\r\n\r\n'

    # when diagnosed, then no problem is found
    assert diagnose(_write(tmp_path / "t.csv", blob)) is None


def test_diagnose_counts_physical_lines_through_multiline_fields(tmp_path: Path) -> None:
    # given a record spanning lines 2-4, then a short record starting on line 5
    blob = b'id,note\n1,"a\nb\nc"\n2\n'

    # when diagnosed, then the short record is named by the line it starts on
    assert diagnose(_write(tmp_path / "t.csv", blob)) == "line 5 has 1 field, the header has 2"


def test_diagnose_names_a_stray_quote(tmp_path: Path) -> None:
    # given a quoted field followed by text before the comma, on line 3
    blob = b'id,note\n1,ok\n2,"quoted"tail\n'

    # when diagnosed, then line 3 is named with what is wrong
    assert diagnose(_write(tmp_path / "t.csv", blob)) == (
        'line 3: text follows a closing quote (a quote inside a quoted field is written "")'
    )


def test_diagnose_reads_carriage_returns_as_line_ends_like_duckdb(tmp_path: Path) -> None:
    # given a file with old Mac (CR) line endings, whose third record is short
    blob = b"id,note\r1,ok\r2\r3,ok\r"

    # when diagnosed, then the short record is on line 3
    assert diagnose(_write(tmp_path / "t.csv", blob)) == "line 3 has 1 field, the header has 2"


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_read_header_accepts_every_line_end(tmp_path: Path, end: bytes) -> None:
    # given a header ended by LF, CRLF, CR or nothing, when read, then the names come back without it
    assert read_header(_write(tmp_path / "t.csv", b"id,note" + end + b"1,2" + end)) == ["id", "note"]


@pytest.mark.parametrize(("tail", "size"), [(b"", 3 * MAX_LINE_BYTES + 2), (b"\r\n3,ok\n", 3 * MAX_LINE_BYTES + 2)])
def test_diagnose_measures_an_overlong_line_without_holding_it(tmp_path: Path, tail: bytes, size: int) -> None:
    # given a line three times as long as a line may be, on line 2, at the end of the file or before another
    blob = b"id,note\n1," + b"x" * (3 * MAX_LINE_BYTES) + tail

    # when diagnosed, then its line and full length are named
    found = diagnose(_write(tmp_path / "t.csv", blob))
    assert found is not None
    assert found.startswith(f"line 2 is {size:,} bytes long")


def test_diagnose_accepts_a_line_exactly_as_long_as_allowed(tmp_path: Path) -> None:
    # given a line of exactly MAX_LINE_BYTES bytes, ended by CRLF across a read boundary
    blob = b"id\n" + b"x" * MAX_LINE_BYTES + b"\r\n"

    # when diagnosed, then nothing is wrong
    assert diagnose(_write(tmp_path / "t.csv", blob)) is None


def test_diagnose_names_a_quoted_record_longer_than_a_line_may_be(tmp_path: Path) -> None:
    # given a quote opened on line 3 and never closed, in a file whose lines are each short
    blob = b'id,note\n1,ok\n2,"open\n' + b"".join(b"%d,row\n" % i for i in range(400_000))

    # when diagnosed, then the record is named by its first line, without reading the rest into one field
    assert diagnose(_write(tmp_path / "t.csv", blob)) == (
        "the record starting at line 3 runs over more than 2,000,000 bytes (an unclosed quote?)"
    )


def test_diagnose_accepts_fields_longer_than_pythons_default_limit(tmp_path: Path) -> None:
    # given a quoted field of 500,000 bytes over two lines (DuckDB reads it; Python's csv stops at 131,072)
    blob = b'id,note\n1,"' + b"y" * 250_000 + b"\n" + b"y" * 250_000 + b'"\n2,ok\n'

    # when diagnosed, then nothing is wrong
    assert diagnose(_write(tmp_path / "t.csv", blob)) is None


def test_diagnose_names_a_damaged_gzip_stream(tmp_path: Path) -> None:
    # given a gzip part cut short
    blob = gzip.compress(b"id,note\n" + b"".join(b"%d,row\n" % i for i in range(50_000)))
    path = tmp_path / "t.csv.gz"
    path.write_bytes(blob[: len(blob) // 2])

    # when diagnosed, then the truncation is reported
    assert diagnose(path) == "the compressed stream ends early: the file is truncated"


def test_diagnose_names_a_path_it_cannot_open(tmp_path: Path) -> None:
    # given a part path that the system will not open as a file (a folder, here)
    path = tmp_path / "t.csv"
    path.mkdir()

    # when diagnosed, then the reason is the operating system's
    assert diagnose(path) == "cannot be read (Is a directory)"


@pytest.mark.parametrize(
    ("line", "guess"),
    [
        ("café".encode("latin-1"), "looks like Latin-1/cp1252"),
        ("“quoted” – text".encode("cp1252"), "looks like Latin-1/cp1252"),
        ("id,name".encode("utf-16"), "looks like UTF-16"),
        (b"\x81\x8d\x8f", "encoding unknown"),
    ],
)
def test_encoding_guess(line: bytes, guess: str) -> None:
    # given bytes that are not UTF-8, when guessed, then the likely encoding is named
    assert encoding_guess(line) == guess
