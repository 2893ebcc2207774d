"""Team-mode secrets and team.env: generated once, private, naming every server."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from deploy.team.credentials import load_credentials, team_env, write_team_env
from deploy.team.processes import ServiceError
from xsell.settings import Settings, load_settings


def _settings(tmp_path: Path, **more: object) -> Settings:
    return load_settings(home=tmp_path / "home", **more)  # type: ignore[arg-type]


def test_credentials_are_generated_once_and_private(tmp_path: Path, clean_env: None) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(ServiceError, match="xsell services start"):
        load_credentials(settings)
    first = load_credentials(settings, create=True)
    again = load_credentials(settings, create=True)
    assert first == again and len(first.mlflow_admin_password) >= 24
    path = settings.home.resolve() / "services" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_team_env_names_every_server_and_is_private(tmp_path: Path, clean_env: None) -> None:
    settings = _settings(tmp_path, **{"services.mlflow_port": 5111, "services.postgres_port": 5444})
    creds = load_credentials(settings, create=True)
    env = team_env(settings, creds)
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5111"
    assert env["MLFLOW_TRACKING_USERNAME"] == "admin"
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert env["XSELL_TRAINING__OPTUNA_STORAGE"].endswith("@127.0.0.1:5444/optuna")
    path = write_team_env(settings, creds)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the file is what a shell sources: each variable exported with its value
    printed = subprocess.run(
        ["bash", "-c", f". {path} && echo $MLFLOW_TRACKING_URI $XSELL_TRAINING__OPTUNA_STORAGE"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert printed == [env["MLFLOW_TRACKING_URI"], env["XSELL_TRAINING__OPTUNA_STORAGE"]]
