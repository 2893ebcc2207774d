"""The process environment the CLI prepares: offline, quiet, Prefect's state under the home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xsell.runtime import QUIET_ENV, environment_defaults, prepare_environment


def test_environment_defaults_put_prefect_state_under_the_home(tmp_path: Path) -> None:
    # given a home, when its defaults are computed, then Prefect and config state sit under it and all stays quiet
    env = environment_defaults(tmp_path / "home")
    assert env["PREFECT_HOME"] == str((tmp_path / "home" / "prefect").resolve())
    assert env["XDG_CONFIG_HOME"] == str((tmp_path / "home" / "config").resolve())
    assert (
        QUIET_ENV.items() - {("PREFECT_SERVER_LOGGING_LEVEL", QUIET_ENV["PREFECT_SERVER_LOGGING_LEVEL"])} <= env.items()
    )
    assert env["PREFECT_SERVER_LOGGING_LEVEL"] == "CRITICAL"  # the silent server wins below DEBUG
    assert environment_defaults(tmp_path, "DEBUG")["PREFECT_SERVER_LOGGING_LEVEL"] == "WARNING"
    assert not (tmp_path / "home").exists()  # computing them creates nothing


def test_an_explicit_variable_wins_over_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given PREFECT_HOME set by the caller, when the environment is prepared, then it is kept (and created)
    mine = tmp_path / "mine"
    monkeypatch.setenv("PREFECT_HOME", str(mine))
    monkeypatch.setenv("XDG_CONFIG_HOME", "recorded, so that teardown restores the variable")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    prepare_environment(tmp_path / "home")
    assert os.environ["PREFECT_HOME"] == str(mine) and mine.is_dir()
    assert os.environ["XDG_CONFIG_HOME"] == environment_defaults(tmp_path / "home")["XDG_CONFIG_HOME"]
    # but the defaults themselves do not read the process environment
    assert environment_defaults(tmp_path / "home")["PREFECT_HOME"] != str(mine)


def test_openmp_threads_wait_passively_by_default(tmp_path: Path) -> None:
    # then the environment every command prepares makes OpenMP threads sleep, not spin, while they wait
    assert environment_defaults(tmp_path)["OMP_WAIT_POLICY"] == "passive"


def test_importing_the_cli_loads_no_openmp_runtime() -> None:
    # given a fresh interpreter: OpenMP reads its wait policy when loaded, so the CLI must not load it at import
    # (the environment is prepared later, before a command imports LightGBM)
    import subprocess
    import sys

    code = "import flows.cli; print(any('gomp' in line for line in open('/proc/self/maps')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
