"""Structured logging and atomic file writes."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from xsell.fileio import atomic_path, write_json_atomic
from xsell.logs import DropExpectedErrors, configure_logging


def test_key_value_and_json_lines() -> None:
    # given the xsell logger configured for text, then for JSON
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    logging.getLogger("ingest.demo").info("staged table", extra={"table": "crm/accounts", "rows": 3})
    assert "INFO    ingest.demo staged table table=crm/accounts rows=3" in stream.getvalue()
    stream = io.StringIO()
    configure_logging("INFO", json_lines=True, stream=stream)
    logging.getLogger("ingest.demo").info("staged table", extra={"rows": 3})
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert record["msg"] == "staged table" and record["rows"] == 3 and record["logger"] == "ingest.demo"


def test_level_filters_debug() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", stream=stream)
    logging.getLogger("ingest.demo").info("hidden")
    assert stream.getvalue() == ""


def test_expected_errors_from_the_orchestrator_are_dropped() -> None:
    # given a filter for ValueError, when prefect logs an error about one, then it is dropped
    keep = DropExpectedErrors((ValueError,))
    rec = logging.LogRecord("prefect.flow_runs", logging.ERROR, "x", 1, "Encountered ValueError('x')", None, None)
    assert keep.filter(rec) is False
    other = logging.LogRecord("prefect.flow_runs", logging.ERROR, "x", 1, "KeyError('x')", None, None)
    assert keep.filter(other) is True
    ours = logging.LogRecord("ingest.x", logging.ERROR, "x", 1, "ValueError", None, None)
    assert keep.filter(ours) is True


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_failed_atomic_write_keeps_previous_file(tmp_path: Path) -> None:
    # given an existing file, when a write fails half-way, then the old content remains and no temp is left
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
