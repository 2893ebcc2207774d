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
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: longest line DuckDB reads (its `max_line_size`, passed explicitly by ingest.files)
MAX_LINE_BYTES = 2_000_000
CHUNK_BYTES = 1 << 20
NOT_UTF8 = "not UTF-8"


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
    return f"{NOT_UTF8} (byte 0x{byte:02x} at line {number}; {encoding_guess(line)}): re-export the file as UTF-8"


def _too_long(number: int, size: int) -> CsvProblem:
    return CsvProblem(
        f"line {number} is {size:,} bytes long, more than the {MAX_LINE_BYTES:,} a line may hold "
        "(a missing newline or an unclosed quote?)"
    )


def _rest_of_line(fh: BinaryIO) -> int:
    """How many bytes remain before the next line end (they are consumed)."""
    size = 0
    while chunk := fh.read(CHUNK_BYTES):
        ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
        if ends:
            return size + min(ends)
        size += len(chunk)
    return size


def _raw_lines(fh: BinaryIO) -> Iterator[bytes]:
    """Physical lines ending in LF, CRLF or a lone CR (as DuckDB reads them); one longer than a line may be
    is a CsvProblem naming its full length, measured without holding it."""
    number = 0
    pending = b""
    while chunk := fh.read(CHUNK_BYTES):
        pieces = (pending + chunk).splitlines(keepends=True)
        pending = pieces.pop() if not pieces[-1].endswith(b"\n") else b""  # a CR may be half of a CRLF
        for piece in pieces:
            number += 1
            if len(piece.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                raise _too_long(number, len(piece.rstrip(b"\r\n")))
            yield piece
        if len(pending) > MAX_LINE_BYTES + 1:
            size = len(pending) - 1 if pending.endswith(b"\r") else len(pending) + _rest_of_line(fh)
            raise _too_long(number + 1, size)
    if pending:
        number += 1
        if len(pending.rstrip(b"\r")) > MAX_LINE_BYTES:
            raise _too_long(number, len(pending.rstrip(b"\r")))
        yield pending


def _lines(fh: BinaryIO) -> Iterator[tuple[str, int]]:
    """Decoded physical lines with their size in bytes; a line that is not UTF-8 is a CsvProblem naming it."""
    for number, raw in enumerate(_raw_lines(fh), start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8"), len(raw)
        except UnicodeDecodeError as exc:
            raise CsvProblem(not_utf8(raw, number, exc)) from None


#: Python's csv messages, in the words of the person who exported the file
_CSV_WORDS = {"',' expected after '\"'": 'text follows a closing quote (a quote inside a quoted field is written "")'}


@dataclass
class _Record:
    """The record being read: the line it starts on and its size so far (DuckDB's line limit is per record)."""

    line: int = 1
    size: int = 0


def _reader(fh: BinaryIO) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of each record, as a strict comma-separated reader sees them."""
    record = _Record()

    def feed() -> Iterator[str]:
        for text, size in _lines(fh):
            record.size += size
            if record.size > MAX_LINE_BYTES + 2:  # a record over several lines; never held whole
                raise CsvProblem(
                    f"the record starting at line {record.line} runs over more than {MAX_LINE_BYTES:,} bytes "
                    "(an unclosed quote?)"
                )
            yield text

    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES + 2))  # process-wide; only ever raised
    reader = csv.reader(feed(), delimiter=",", quotechar='"', doublequote=True, strict=True)
    while True:
        record.line, record.size = reader.line_num + 1, 0
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise CsvProblem(f"line {record.line}: a quoted field is never closed") from None
            raise CsvProblem(f"line {reader.line_num}: {_CSV_WORDS.get(str(exc), str(exc))}") from None
        yield record.line, fields


def read_header(path: Path) -> list[str]:
    """The column names of a CSV part exactly as its first line spells them (empty for an empty file)."""
    try:
        with _open(path) as fh:
            for _, fields in _reader(fh):
                return fields
    except (OSError, EOFError, zlib.error) as exc:
        raise CsvProblem(f"cannot be read ({exc})") from None
    return []


def diagnose(path: Path) -> str | None:
    """The first problem in a CSV part, with its real line number; None when none is found here."""
    width = None
    try:
        with _open(path) as fh:
            for start, record in _reader(fh):
                if width is None:
                    width = len(record)
                elif record and len(record) != width:
                    fields = f"{len(record)} field" + ("" if len(record) == 1 else "s")
                    return f"line {start} has {fields}, the header has {width}"
    except CsvProblem as exc:
        return str(exc)
    except EOFError:
        return "the compressed stream ends early: the file is truncated"
    except (gzip.BadGzipFile, zlib.error) as exc:
        return f"the compressed stream is damaged ({exc})"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None
