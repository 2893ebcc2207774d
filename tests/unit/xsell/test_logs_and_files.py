"""Structured logging and atomic file writes."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from pathlib import Path

import pytest

from xsell.fileio import UnsafeOutputError, atomic_path, check_output, write_json_atomic
from xsell.logs import DropExpectedErrors, OneLine, configure_logging
from xsell.runtime import prepare_environment


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


def test_a_failure_named_by_a_subclass_of_our_family_is_dropped() -> None:
    # given a filter for the platform's error family, when prefect logs an error naming a layer's error, it is dropped
    from features.errors import FeatureError
    from xsell.errors import XsellError

    keep = DropExpectedErrors((XsellError,))
    named = f"Finished in state Failed('Flow run encountered an exception: {FeatureError.__name__}: no data')"
    assert keep.filter(logging.LogRecord("prefect.flow_runs", logging.ERROR, "x", 1, named, None, None)) is False
    # and a built-in type's subclasses are not implied (RuntimeError does not drop a RecursionError line)
    builtin = DropExpectedErrors((RuntimeError,))
    other = logging.LogRecord("prefect.flow_runs", logging.ERROR, "x", 1, "RecursionError: deep", None, None)
    assert builtin.filter(other) is True


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


def test_one_line_filter_keeps_tracebacks_off_the_terminal() -> None:
    # given a third-party record with a traceback and a multi-line message, and one of ours with a traceback
    stream = io.StringIO()
    handler = configure_logging("INFO", stream=stream)
    handler.addFilter(OneLine())
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("prefect.flow_runs").error("Finished in state Failed\nmore detail", exc_info=True)
        logging.getLogger("ingest.x").warning("ours", exc_info=True)
    # then both print one line each, without traceback
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith("prefect.flow_runs Finished in state Failed")
    assert "Traceback" not in stream.getvalue()


@pytest.mark.parametrize(
    ("name", "suffixes", "folder", "problem"),
    [
        ("home/warehouse.duckdb", (".parquet",), False, "would write into the home's state"),
        ("home/warehouse.duckdb.wal", (), False, "would write into the home's state"),
        ("home/mlflow.db", (".csv",), False, "would write into the home's state"),
        ("home/reports/site/x.parquet", (".parquet",), False, "would write into the home's state"),
        ("home/prefect", (), True, "would write into the home's state"),
        ("home", (), True, "a folder holding the home's state"),
        (".", (), True, "a folder holding the home's state"),
        ("out.csv", (".parquet",), False, "output must end in .parquet"),
        ("dir.parquet", (".parquet",), False, "is a folder"),
    ],
)
def test_output_guard_refuses_state_and_wrong_kinds(
    tmp_path: Path, name: str, suffixes: tuple[str, ...], folder: bool, problem: str
) -> None:
    # given a home with state and an output path, when checked, then the error names the option, path and problem
    (tmp_path / "dir.parquet").mkdir()
    state = [tmp_path / "home" / "warehouse.duckdb", tmp_path / "home" / "warehouse.duckdb.wal"]
    state += [tmp_path / "home" / n for n in ("mlflow.db", "prefect", "reports/site")]
    with pytest.raises(UnsafeOutputError, match=rf"^--out {re.escape(str(tmp_path / name))}: {problem}"):
        check_output(tmp_path / name, "--out", state, suffixes=suffixes, folder=folder)


def test_output_guard_resolves_symlinks_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a symlink onto the warehouse and a relative path with `..` reaching it
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    (home / "warehouse.duckdb").write_bytes(b"db")
    (tmp_path / "snap.parquet").symlink_to(home / "warehouse.duckdb")
    monkeypatch.chdir(home / "tmp")
    for path in (tmp_path / "snap.parquet", Path("../warehouse.duckdb"), Path("../tmp/x.parquet")):
        with pytest.raises(UnsafeOutputError, match="would write into the home's state"):
            check_output(path, "--out", [Path("../warehouse.duckdb"), home / "tmp"], suffixes=(".parquet",))
    # and a path beside the home passes, resolved
    assert check_output(Path("../../s.parquet"), "--out", [home / "tmp"], (".parquet",)) == tmp_path / "s.parquet"


@pytest.mark.parametrize(("level", "silent"), [("INFO", True), ("warning", True), ("DEBUG", False)])
def test_prefect_server_is_silent_below_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str, silent: bool
) -> None:
    # given no Prefect logging variables, when the environment is prepared, then its server logs only below DEBUG
    for name in ("PREFECT_SERVER_LOGGING_LEVEL", "PREFECT_INTERNAL_LOGGING_LEVEL", "PREFECT_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(name, "recorded, so that teardown restores the variable")
        monkeypatch.delenv(name)
    prepare_environment(tmp_path, level)
    expected = "CRITICAL" if silent else "WARNING"
    assert os.environ["PREFECT_SERVER_LOGGING_LEVEL"] == expected
    assert (os.environ.get("PREFECT_INTERNAL_LOGGING_LEVEL") == "CRITICAL") is silent
