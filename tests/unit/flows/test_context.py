"""Settings start-up of a command: below DEBUG and without a Prefect server of its own, the temporary server's root
logger is silenced (its SQLAlchemy pool logs a CancelledError traceback as it stops)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.context import SERVER_ROOT_LEVEL_ENV

runner = CliRunner()


@pytest.mark.parametrize(
    ("level", "api_url", "silenced"),
    [("INFO", None, True), ("DEBUG", None, False), ("INFO", "http://127.0.0.1:4200/api", False)],
)
def test_the_temporary_servers_root_logger_is_silenced_below_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str, api_url: str | None, silenced: bool
) -> None:
    # given no root level for Prefect's server, with or without a server URL of one's own
    for name in (SERVER_ROOT_LEVEL_ENV, "PREFECT_API_URL"):
        monkeypatch.setenv(name, "recorded, so that teardown restores the variable")
        monkeypatch.delenv(name)
    if api_url:
        monkeypatch.setenv("PREFECT_API_URL", api_url)
    # when a command starts (and is refused on its own input)
    args = ["--home", str(tmp_path / "home"), "--log-level", level, "predict", "--table", str(tmp_path / "no.csv")]
    result = runner.invoke(app, [*args, "--model", "models:/m/1", "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "feature table not found" in result.output
    # then the temporary server's root level is CRITICAL only below DEBUG and when that server would run
    assert (os.environ.get(SERVER_ROOT_LEVEL_ENV) == "CRITICAL") is silenced
