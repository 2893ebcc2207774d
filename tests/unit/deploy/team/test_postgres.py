"""The PostgreSQL cluster's checks that need no server: missing binaries are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.team.postgres import postgres_bin_dir
from deploy.team.processes import ServiceError
from xsell.settings import Settings, load_settings


def _settings(tmp_path: Path, **more: object) -> Settings:
    return load_settings(home=tmp_path / "home", **more)  # type: ignore[arg-type]


def test_missing_binaries_are_named(tmp_path: Path, clean_env: None) -> None:
    with pytest.raises(ServiceError, match="holds no pg_ctl"):
        postgres_bin_dir(_settings(tmp_path, **{"services.postgres_bin": str(tmp_path)}))
