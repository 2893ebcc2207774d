"""The command line: every command has --help; bad input is one clear line, exit 2, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from factories import run_xsell
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()
COMMANDS = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]


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
    from flows.cli import WRITERS

    assert {"consolidate", "features", "train", "score", "promote", "rollback"} <= WRITERS
    assert not {"generate", "predict", "serve", "status", "history", "tune-worker"} & WRITERS
