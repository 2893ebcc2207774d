"""`xsell ui` refusals (one line, exit 2, nothing started) and the command lines xsell prints for a user to copy."""

from __future__ import annotations

import os
import shlex
import socket
import stat
import sys
from pathlib import Path

import pytest
from factories import make_settings
from typer.testing import CliRunner

from flows import ui_cli
from flows.cli import app
from flows.ui_cli import command_line, xsell_executable

runner = CliRunner()


@pytest.fixture
def no_servers(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    """No tracking server or Prefect server configured in the developer's shell."""
    for name in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)


def test_a_taken_port_is_one_line_and_nothing_starts(tmp_path: Path, no_servers: None) -> None:
    # given a home with an MLflow store and a port another process listens on
    home = tmp_path / "home"
    home.mkdir()
    (home / "mlflow.db").write_bytes(b"")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        # when the UI is asked for on that port
        result = runner.invoke(app, ["--home", str(home), "ui", "--port", str(port)])
    # then one error line names the port and the option, exit 2, and no server was spawned
    assert result.exit_code == 2, result.output
    assert f"error: mlflow UI: port {port} on 127.0.0.1 is taken by another process" in result.output
    assert "--mlflow-port" in result.output and "Traceback" not in result.output
    assert not (home / "services").exists()


def test_a_home_without_a_store_is_one_line(tmp_path: Path, no_servers: None) -> None:
    result = runner.invoke(app, ["--home", str(tmp_path / "home"), "ui"])
    assert result.exit_code == 2, result.output
    assert "error: no MLflow store at" in result.output and "run `xsell demo` or `xsell train`" in result.output


def _script(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_running_entry_point_is_printed_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given xsell run as `.venv/bin/xsell` from the clone, not on PATH (make demo: no virtualenv activated)
    entry = _script(tmp_path / "clone" / ".venv" / "bin" / "xsell")
    monkeypatch.chdir(tmp_path / "clone")
    monkeypatch.setattr(sys, "argv", [".venv/bin/xsell", "demo"])
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    assert xsell_executable() == str(entry)
    # and when an activated virtualenv puts it on PATH, a fresh shell would not have it: still the path
    monkeypatch.setenv("PATH", str(entry.parent))
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "clone" / ".venv"))
    assert xsell_executable() == str(entry)
    # but installed on PATH outside a virtualenv (pipx, ~/.local/bin), the bare name
    monkeypatch.delenv("VIRTUAL_ENV")
    assert xsell_executable() == "xsell"


def test_without_an_entry_point_the_module_is_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python = tmp_path / "bin" / "python"
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(sys, "argv", ["-c"])
    assert xsell_executable() == f"{python} -m flows.cli"


def test_a_command_line_names_the_home_absolutely_and_quotes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ui_cli, "xsell_executable", lambda: shlex.quote("/opt/x sell/xsell"))
    settings = make_settings(Path("my home"))
    line = command_line(settings, "ui", "--prefect")
    assert shlex.split(line) == ["/opt/x sell/xsell", "--home", str(tmp_path / "my home"), "ui", "--prefect"]


def test_the_printed_command_runs_in_a_fresh_environment(tmp_path: Path, no_servers: None) -> None:
    # given the command line printed for `ui`, run with none of this process's virtualenv on PATH
    import subprocess

    line = command_line(make_settings(tmp_path / "home"), "ui")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)} | {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(shlex.split(line), capture_output=True, text=True, env=env, timeout=120)
    # then it is xsell answering about this home (no store yet), not the shell failing to find it
    assert done.returncode == 2, done.stderr
    assert f"no MLflow store at {(tmp_path / 'home').resolve()}" in done.stderr.replace("\n", "")
