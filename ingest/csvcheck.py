"""Say exactly why a CSV part cannot be read: the real line number, the bytes that are not UTF-8, the field count.

DuckDB reads a CSV file in parallel blocks after sniffing it, so its errors can name line 1 for a problem deep in
the file (a 10 MB line at line 858), or no line at all ("Error when sniffing file"). When DuckDB refuses a part,
the file is streamed here once, in order, with bounded memory, and the first problem found is described with its
physical line number (line 1 is the header). The header is also read here, because DuckDB renames a duplicated
column (`score`, `score_1`) instead of refusing it.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: longest line DuckDB reads (its `max_line_size`, passed explicitly by ingest.files)
MAX_LINE_BYTES = 2_000_000


class CsvProblem(ValueError):
    """The first thing in a CSV file that stops it being read, worded for the person who exported it."""


def _open(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def encoding_guess(line: bytes) -> str:
    """What a line that is not UTF-8 most likely is."""
    if line.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in line:
        return "looks like UTF-16"
    try:
        line.decode("cp1252")
    except UnicodeDecodeError:
        return "encoding unknown"
    return "looks like Latin-1/cp1252"


def not_utf8(line: bytes, number: int, error: UnicodeDecodeError) -> str:
    """The message for a line whose bytes are not UTF-8, naming the byte, the line and the likely encoding."""
    byte = line[error.start]
    return f"not UTF-8 (byte 0x{byte:02x} at line {number}; {encoding_guess(line)}): re-export the file as UTF-8"


def _lines(fh: BinaryIO) -> Iterator[str]:
    """Decoded physical lines, each at most MAX_LINE_BYTES long; a longer or non-UTF-8 line is a CsvProblem."""
    number = 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 2)
        if not raw:
            return
        number += 1
        body = raw.rstrip(b"\r\n")
        if len(body) > MAX_LINE_BYTES or (len(raw) == MAX_LINE_BYTES + 2 and not raw.endswith(b"\n")):
            size = len(body)
            while len(raw) == MAX_LINE_BYTES + 2 and not raw.endswith(b"\n"):  # measure the rest of the line
                raw = fh.readline(MAX_LINE_BYTES + 2)
                size += len(raw.rstrip(b"\r\n"))
            raise CsvProblem(
                f"line {number} is {size:,} bytes long, more than the {MAX_LINE_BYTES:,} a line may hold "
                "(a missing newline or an unclosed quote?)"
            )
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise CsvProblem(not_utf8(raw, number, exc)) from None


def _reader(lines: Iterator[str]) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of each record, as a strict comma-separated reader sees them."""
    reader = csv.reader(lines, delimiter=",", quotechar='"', doublequote=True, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise CsvProblem(f"line {start}: a quoted field is never closed") from None
            raise CsvProblem(f"line {reader.line_num}: {exc}") from None
        yield start, record


def read_header(path: Path) -> list[str]:
    """The column names of a CSV part exactly as its first line spells them (empty for an empty file)."""
    try:
        with _open(path) as fh:
            for _, record in _reader(_lines(fh)):
                return record
    except (OSError, EOFError, zlib.error) as exc:
        raise CsvProblem(f"cannot be read ({exc})") from None
    return []


def diagnose(path: Path) -> str | None:
    """The first problem in a CSV part, with its real line number; None when none is found here."""
    width = None
    try:
        with _open(path) as fh:
            for start, record in _reader(_lines(fh)):
                if width is None:
                    width = len(record)
                elif record and len(record) != width:
                    fields = f"{len(record)} field" + ("" if len(record) == 1 else "s")
                    return f"line {start} has {fields}, the header has {width}"
    except CsvProblem as exc:
        return str(exc)
    except (OSError, EOFError, zlib.error) as exc:
        return f"the file is damaged ({exc})"
    return None
