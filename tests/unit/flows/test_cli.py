"""The command line: every command has --help; bad input is one clear line, exit 2, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from factories import run_xsell
from typer.testing import CliRunner

from flows.cli import COMMANDS, app

runner = CliRunner()


def test_top_level_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("generate", "consolidate", "demo"):
        assert name in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_missing_raw_folder_is_one_line_error(tmp_path: Path) -> None:
    # given a raw path that does not exist, when consolidating, then one error line names it, exit 2
    missing = tmp_path / "nope"
    result = run_xsell("consolidate", "--raw", str(missing), home=tmp_path / "home")
    assert result.returncode == 2
    assert f"error: {missing}" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


def test_bad_setting_is_named(tmp_path: Path) -> None:
    result = run_xsell("generate", "--out", str(tmp_path / "raw"), "--start", "2024/01", home=tmp_path / "home")
    assert result.returncode == 2
    assert "generator.start" in result.stderr
    assert "Traceback" not in result.stderr


def test_score_to_an_unknown_format_names_the_file(tmp_path: Path) -> None:
    # given an output that is neither CSV nor Parquet, when scoring, then one error line names it, exit 2
    out = tmp_path / "scores.xlsx"
    result = runner.invoke(app, ["--home", str(tmp_path / "home"), "score", "--as-of", "2025-06-30", "--out", str(out)])
    assert result.exit_code == 2
    assert "scores.xlsx: output must end in .csv or .parquet" in result.output.replace("\n", "")
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["features", "--as-of", "2025-06-30", "--out", "{home}/warehouse.duckdb"], "--out {home}/warehouse.duckdb: "),
        (["features", "--as-of", "2025-06-30", "--out", "{home}/mlflow.db"], "--out {home}/mlflow.db: would write"),
        (["features", "--as-of", "2025-06-30", "--out", "{tmp}/snap.csv"], "snap.csv: output must end in .parquet"),
        (["score", "--as-of", "2025-06-30", "--out", "{home}/optuna.db"], "--out {home}/optuna.db: would write"),
        (
            ["predict", "--table", "{tmp}/t.csv", "--model", "models:/m/1", "--out", "{home}/reports/site/p.csv"],
            "--out {home}/reports/site/p.csv: would write into the home's state",
        ),
        (["generate", "--out", "{home}"], "--out {home}: a folder holding the home's state"),
        (["generate", "--out", "{home}/mlflow-artifacts/raw"], "would write into the home's state"),
    ],
)
def test_outputs_never_touch_state(tmp_path: Path, args: list[str], message: str) -> None:
    # given a home holding a warehouse, when an output names a state path (or a wrong ending), then one line names
    # the option and the path, exit 2, and the warehouse is untouched
    home = tmp_path / "home"
    home.mkdir()
    (home / "warehouse.duckdb").write_bytes(b"warehouse")
    places = {"home": str(home), "tmp": str(tmp_path)}
    result = runner.invoke(app, ["--home", str(home), *[a.format(**places) for a in args]])
    assert result.exit_code == 2, result.output
    assert message.format(**places) in result.output.replace("\n", "")
    assert (home / "warehouse.duckdb").read_bytes() == b"warehouse"
    assert not any(home.glob(".warehouse.duckdb.*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["features", "--from", "2025-06", "--to", "2025-01"], "error: --from 2025-06 is after --to 2025-01"),
        (["features", "--from", "2025-6", "--to", "2025-07"], "error: --from: expected a month as YYYY-MM"),
        (["features", "--as-of", "2025-02-30", "--out", "x.parquet"], "error: --as-of: not a valid date"),
        (["score", "--as-of", "2025-02-30", "--out", "x.csv"], "error: --as-of: expected YYYY-MM-DD"),
        (
            ["train", "--label", "y"],
            "error: --label, --time, --time-grain, --purge-periods and --id go with --table FILE",
        ),
    ],
)
def test_bad_options_are_one_line_naming_the_option(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["--home", str(tmp_path / "home"), *args])
    assert result.exit_code == 2, result.output
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        next(line for line in result.output.splitlines() if line.startswith(message))
    ]


def test_an_unexpected_error_is_one_line_unless_debug(capsys: pytest.CaptureFixture[str]) -> None:
    # given a command failing with a third-party error whose message spans lines
    import logging
    import sqlite3

    import typer

    from flows.console import friendly_errors

    @friendly_errors
    def command() -> None:
        raise sqlite3.DatabaseError("file is not a database\nmore lines")

    # when it runs below DEBUG, then one error line with type and first line, exit 1
    logging.getLogger("flows").setLevel(logging.INFO)
    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["error: DatabaseError: file is not a database (--log-level DEBUG shows the traceback)"]
    # and with DEBUG the exception itself propagates (its traceback is shown)
    logging.getLogger("flows").setLevel(logging.DEBUG)
    try:
        with pytest.raises(sqlite3.DatabaseError):
            command()
    finally:
        logging.getLogger("flows").setLevel(logging.NOTSET)


def test_unknown_xsell_variable_stops_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XSELL_BOGUS", "1")
    result = runner.invoke(app, ["--home", str(tmp_path / "home"), "report"])
    assert result.exit_code == 2
    assert "error: unknown environment variable XSELL_BOGUS: no setting 'bogus'" in result.output.replace("\n", "")


def test_background_errors_are_one_warning_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given the quiet hooks, when a thread dies of an exception, then one warning line names it, no traceback
    import sys
    import threading

    from flows.console import quiet_background_errors

    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    quiet_background_errors()

    def fail() -> None:
        raise ConnectionError("server went away\nsecond line")

    worker = threading.Thread(target=fail, name="events-worker")
    with caplog.at_level("WARNING", logger="flows.cli"):
        worker.start()
        worker.join()
    assert [r.getMessage() for r in caplog.records] == [
        "background thread events-worker failed: ConnectionError: server went away"
    ]


def test_a_writer_on_a_busy_home_names_the_holder_in_one_line(tmp_path: Path) -> None:
    # given a home whose writer lock is held by a running `xsell train`
    from xsell import homelock

    home = tmp_path / "home"
    held = homelock.acquire(home, timeout=0, command="xsell train --trials 2")
    try:
        # when another writer starts without waiting, then one line names the holder's pid and command, exit 1
        result = runner.invoke(
            app, ["--home", str(home), "--wait-timeout", "0", "features", "--from", "2025-01", "--to", "2025-02"]
        )
        assert result.exit_code == 1
        line = " ".join(result.output.split())
        assert f"is busy: PID {os.getpid()} (xsell train --trials 2)" in line
        assert "Traceback" not in result.output
        # and a command that does not write the home is not held up (it fails on its own input instead)
        result = runner.invoke(
            app,
            [
                "--home",
                str(home),
                "--wait-timeout",
                "0",
                "predict",
                "--table",
                str(tmp_path / "no.csv"),
                "--model",
                "models:/m/1",
                "--out",
                str(tmp_path / "o.csv"),
            ],
        )
        assert result.exit_code == 2 and "feature table not found" in result.output
    finally:
        held.release()


def test_a_writer_releases_the_home_when_it_ends(tmp_path: Path) -> None:
    from xsell import homelock

    home = tmp_path / "home"
    result = runner.invoke(app, ["--home", str(home), "features", "--from", "2025-01", "--to", "2025-02"])
    assert result.exit_code == 2  # no warehouse yet; the lock was taken, then released when the command ended
    homelock.acquire(home, timeout=0).release()


def test_writers_are_the_commands_that_change_the_home() -> None:
    from flows.context import WRITERS

    assert {"consolidate", "features", "train", "score", "promote", "rollback"} <= WRITERS
    assert not {"generate", "predict", "serve", "status", "history", "tune-worker"} & WRITERS


def test_every_listed_command_loads_with_the_help_its_source_gives() -> None:
    # given each command of the root listing, then its module defines it and the help read from source is its own
    from flows.cli import APPS, load_command, source_help

    for name, module in COMMANDS.items():
        command = load_command(name)
        expected = source_help(module)["*" if module in APPS else name]
        assert command.help == expected and expected, name


def test_top_level_help_imports_no_command_module() -> None:
    # given a fresh interpreter, when the root help is drawn, then no command module nor the scientific stack loads
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from flows.cli import app;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
        "print(sorted(m for m in sys.modules if m.endswith('_cli') or m in ('pandas', 'duckdb', 'prefect')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_an_unknown_command_is_refused() -> None:
    result = runner.invoke(app, ["nope"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_every_command_a_module_defines_is_listed() -> None:
    # given the command modules, then each command they define is in the root listing, under that module
    from flows.cli import APPS, source_help

    for module in set(COMMANDS.values()) - set(APPS):
        assert set(source_help(module)) == {name for name, home in COMMANDS.items() if home == module}, module
