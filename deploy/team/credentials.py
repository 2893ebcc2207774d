"""The team-mode services' secrets and the environment that points xsell commands at them.

`credentials.json` (generated at first start, mode 0600) holds the database role's and the PostgreSQL superuser's
passwords, the MLflow admin's password and the Flask secret key; `team.env` (mode 0600) holds the `export` lines that
put a shell in team mode. Both live under `HOME/services/` and are never committed.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from deploy.team.processes import ServiceError, services_dir
from xsell.secret_files import write_private
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["Credentials", "load_credentials", "postgres_url", "team_env", "write_team_env"]


@dataclass(frozen=True)
class Credentials:
    """Secrets generated at first start and kept in HOME/services/credentials.json (0600), never committed."""

    db_user: str
    db_password: str
    superuser_password: str
    mlflow_admin: str
    mlflow_admin_password: str
    flask_secret_key: str


def load_credentials(settings: Settings, *, create: bool = False) -> Credentials:
    """The services' secrets from HOME/services/credentials.json; generated there first when `create`."""
    path = services_dir(settings) / "credentials.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return Credentials(**data)
    if not create:
        raise ServiceError(f"no credentials at {path}: run `xsell services start` first")
    cfg = settings.services
    creds = Credentials(
        db_user=cfg.db_user,
        db_password=secrets.token_urlsafe(24),
        superuser_password=secrets.token_urlsafe(24),
        mlflow_admin=cfg.mlflow_admin,
        mlflow_admin_password=secrets.token_urlsafe(24),
        flask_secret_key=secrets.token_hex(32),
    )
    write_private(path, json.dumps(asdict(creds), indent=2) + "\n")
    log.info("generated service credentials", extra={"path": str(path)})
    return creds


def postgres_url(settings: Settings, creds: Credentials, database: str, *, driver: str = "postgresql") -> str:
    """SQLAlchemy URL of one database as the services' role (`driver` e.g. `postgresql+asyncpg`)."""
    cfg = settings.services
    return f"{driver}://{creds.db_user}:{creds.db_password}@{cfg.host}:{cfg.postgres_port}/{database}"


def team_env(settings: Settings, creds: Credentials) -> dict[str, str]:
    """The environment that puts xsell commands in team mode against these services."""
    cfg = settings.services
    return {
        "MLFLOW_TRACKING_URI": f"http://{cfg.host}:{cfg.mlflow_port}",
        "MLFLOW_TRACKING_USERNAME": creds.mlflow_admin,
        "MLFLOW_TRACKING_PASSWORD": creds.mlflow_admin_password,
        "PREFECT_API_URL": f"http://{cfg.host}:{cfg.prefect_port}/api",
        "XSELL_TRAINING__OPTUNA_STORAGE": postgres_url(settings, creds, "optuna"),
        # so that `xsell services status|stop` in that shell finds these servers
        "XSELL_SERVICES__POSTGRES_PORT": str(cfg.postgres_port),
        "XSELL_SERVICES__MLFLOW_PORT": str(cfg.mlflow_port),
        "XSELL_SERVICES__PREFECT_PORT": str(cfg.prefect_port),
    }


def write_team_env(settings: Settings, creds: Credentials) -> Path:
    """Write HOME/services/team.env (0600): `export NAME=value` lines to source in a shell."""
    path = services_dir(settings) / "team.env"
    lines = ["# xsell team mode: `. " + str(path) + "` (secrets: keep this file private)"]
    lines += [f"export {key}={value}" for key, value in team_env(settings, creds).items()]
    write_private(path, "\n".join(lines) + "\n")
    return path
