"""Shared fixtures: a clean raw export, settings homed in tmp_path, an in-memory DuckDB. Nothing slow."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from factories import make_settings, write_raw

from xsell.duck import connect
from xsell.settings import ENV_PREFIX, Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No XSELL_* variable of the developer's shell leaks into the settings under test."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path, clean_env: None) -> Settings:
    """Default settings with home (warehouse, reports, scratch) in tmp_path."""
    return make_settings(tmp_path / "home")


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """A clean raw export of four accounts (see tests/factories.py)."""
    return write_raw(tmp_path / "raw")


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with the platform's session settings (UTC clock)."""
    con = connect(memory_limit="1GB", threads=2)
    try:
        yield con
    finally:
        con.close()
