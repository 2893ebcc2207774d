"""The MLflow tracking server (basic-auth) and the Prefect server, and the commands over the whole set of services.

Both servers run as child processes (`python -m mlflow server`, `python -m prefect server start`; nothing here
imports MLflow or Prefect) on loopback, with PostgreSQL (`deploy.team.postgres`) as their store. The MLflow server
serves artifacts from `HOME/services/mlflow/artifacts` and needs credentials for every request (`--app-name
basic-auth`; anonymous calls get 401). Secrets reach the servers through their environment, never their argv.

`start_services` is idempotent (a running service is reported, never restarted), starts PostgreSQL first, launches
both servers at once and waits until each answers healthy; a failed start stops what this call spawned.
`stop_services` ends every process of each service's group, PostgreSQL last; `service_status` reports each one.
"""

from __future__ import annotations

import configparser
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deploy.team.credentials import Credentials, load_credentials, postgres_url, write_team_env
from deploy.team.postgres import postgres_address, postgres_healthy, postgres_pid, start_postgres, stop_postgres
from deploy.team.processes import (
    ServiceError,
    ServiceStatus,
    alive,
    group_alive,
    http_get,
    log_file,
    pid_file,
    port_open,
    read_pid,
    services_dir,
    spawn,
    stop_group,
    wait_until,
)
from xsell.secret_files import write_private
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["SERVICES", "mlflow_server", "prefect_server", "service_status", "start_services", "stop_services"]

SERVICES = ("postgres", "mlflow", "prefect")


def _server_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without team-mode client variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "PREFECT_API_URL"))}
    env.update({"DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def _mlflow_url(settings: Settings) -> str:
    return f"http://{settings.services.host}:{settings.services.mlflow_port}"


def _prefect_url(settings: Settings) -> str:
    return f"http://{settings.services.host}:{settings.services.prefect_port}"


def _mlflow_healthy(settings: Settings, creds: Credentials) -> bool:
    """The server answers an authenticated API call (its /health alone does not prove the auth app loaded)."""
    status, _ = http_get(
        _mlflow_url(settings) + "/api/2.0/mlflow/experiments/search?max_results=1",
        auth=(creds.mlflow_admin, creds.mlflow_admin_password),
    )
    return status == 200


def _prefect_healthy(settings: Settings, creds: Credentials) -> bool:
    status, body = http_get(_prefect_url(settings) + "/api/health")
    return status == 200 and body.strip() == "true"


def mlflow_argv(settings: Settings, creds: Credentials) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of the MLflow server (writes its basic-auth config, mode 0600)."""
    cfg = settings.services
    root = services_dir(settings) / "mlflow"
    artifacts = root / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    auth_ini = root / "basic_auth.ini"
    parser = configparser.ConfigParser()
    parser["mlflow"] = {
        "default_permission": "READ",
        "database_uri": postgres_url(settings, creds, "mlflow_auth"),
        "admin_username": creds.mlflow_admin,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        # a password check is a PBKDF2 hash (~1 s per request on 2 busy cores) unless cached; one server worker
        "auth_cache_ttl_seconds": "300",
    }
    lines: list[str] = []
    for section in parser.sections():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in parser[section].items()]
    write_private(auth_ini, "\n".join(lines) + "\n")
    store = ["--artifacts-destination", str(artifacts), "--serve-artifacts", "--app-name", "basic-auth"]
    return mlflow_server(
        cfg.host,
        cfg.mlflow_port,
        cfg.mlflow_workers,
        postgres_url(settings, creds, "mlflow"),
        store,
        {
            "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
            "MLFLOW_AUTH_ADMIN_USERNAME": creds.mlflow_admin,
            "MLFLOW_AUTH_ADMIN_PASSWORD": creds.mlflow_admin_password,  # used once, when the user store is empty
            "MLFLOW_FLASK_SERVER_SECRET_KEY": creds.flask_secret_key,
        },
    )


def mlflow_server(
    host: str, port: int, workers: int, backend_store_uri: str, options: Sequence[str], extra_env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of an MLflow server on `backend_store_uri` (team mode's and `xsell ui`'s).

    The store URI goes in the environment, not argv (ps shows argv; a database URL may hold a password); no job
    runner processes are started, so stopping the server's process group leaves nothing behind."""
    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--host", host, "--port", str(port), "--workers", str(workers), *options,
    ]  # fmt: skip
    env = _server_env(
        {
            "MLFLOW_BACKEND_STORE_URI": backend_store_uri,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no huey job workers left behind
            "MLFLOW_DISABLE_TELEMETRY": "true",
            **extra_env,
        }
    )
    return argv, env


def prefect_argv(settings: Settings, creds: Credentials) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of the Prefect server (its home under HOME/services/prefect)."""
    cfg = settings.services
    home = services_dir(settings) / "prefect" / "home"
    home.mkdir(parents=True, exist_ok=True)
    database = postgres_url(settings, creds, "prefect", driver="postgresql+asyncpg")
    return prefect_server(cfg.host, cfg.prefect_port, home, {"PREFECT_API_DATABASE_CONNECTION_URL": database})


def prefect_server(host: str, port: int, home: Path, extra_env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of a Prefect server with its UI, state under `home` (its database there unless
    `extra_env` names one): team mode's and `xsell ui --prefect`'s."""
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    env = _server_env(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true",
            "PREFECT_SERVER_UI_ENABLED": "true",
            # the UI calls the API at this address; without it, it assumes port 4200 whatever the server's port
            "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            **extra_env,
        }
    )
    return argv, env


_SERVERS: dict[str, tuple[Callable[..., tuple[list[str], dict[str, str]]], Callable[..., bool], Callable[..., str]]] = {
    "mlflow": (mlflow_argv, _mlflow_healthy, _mlflow_url),
    "prefect": (prefect_argv, _prefect_healthy, _prefect_url),
}


def _port_of(settings: Settings, name: str) -> int:
    return int(getattr(settings.services, f"{name}_port"))


def _launch_server(settings: Settings, creds: Credentials, name: str) -> ServiceStatus | int:
    """Spawn server `name` and return its pid, or its status when it already runs (never restarted)."""
    build, healthy, url_of = _SERVERS[name]
    cfg = settings.services
    pid = read_pid(pid_file(settings, name))
    if pid is not None and alive(pid):
        return ServiceStatus(name, pid, url_of(settings), _safe(healthy, settings, creds), "already running")
    port = _port_of(settings, name)
    if port_open(cfg.host, port):
        raise ServiceError(f"{name}: port {port} on {cfg.host} is taken by another process (set services.{name}_port)")
    argv, env = build(settings, creds)
    return spawn(argv, env, log_file(settings, name), pid_file(settings, name))


def _await_server(settings: Settings, creds: Credentials, name: str, pid: int, started: float) -> ServiceStatus:
    """Wait until a spawned server answers healthy (ServiceError with its log's tail otherwise)."""
    _, healthy, url_of = _SERVERS[name]
    log_path = log_file(settings, name)
    wait_until(
        lambda: healthy(settings, creds),
        timeout=settings.services.start_timeout_seconds, what=name, pid=pid, log_path=log_path,
    )  # fmt: skip
    seconds = time.monotonic() - started
    log.info(f"{name} started", extra={"pid": pid, "url": url_of(settings), "s": round(seconds, 1)})
    return ServiceStatus(name, pid, url_of(settings), True, f"started in {seconds:.1f} s")


def _stop_server(settings: Settings, name: str) -> ServiceStatus:
    url = _SERVERS[name][2](settings)
    pid_path = pid_file(settings, name)
    pid = read_pid(pid_path)
    if pid is None or not (alive(pid) or group_alive(pid)):
        pid_path.unlink(missing_ok=True)
        return ServiceStatus(name, None, url, False, "not running")
    stop_group(name, pid, settings.services.stop_timeout_seconds)
    pid_path.unlink(missing_ok=True)
    return ServiceStatus(name, pid, url, False, "stopped")


def _safe(check: Callable[..., bool], *args: Any) -> bool:
    try:
        return bool(check(*args))
    except OSError:
        return False


# ---- the commands over the whole set ----------------------------------------------------------------------------------


def _selected(names: Sequence[str] | None) -> list[str]:
    chosen = list(names) if names else list(SERVICES)
    unknown = [n for n in chosen if n not in SERVICES]
    if unknown:
        raise ServiceError(f"unknown service(s) {unknown}: choose from {list(SERVICES)}")
    return [n for n in SERVICES if n in chosen]


def start_services(settings: Settings, names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """Start PostgreSQL, then the MLflow and Prefect servers (or `names`); running ones are reported, not restarted.

    The MLflow and Prefect servers need PostgreSQL, so it is started whenever either is. Writes team.env.
    """
    chosen = _selected(names)
    if any(n in chosen for n in ("mlflow", "prefect")) and "postgres" not in chosen:
        chosen = ["postgres", *chosen]
    services_dir(settings).mkdir(parents=True, exist_ok=True)
    services_dir(settings).chmod(0o711)
    creds = load_credentials(settings, create=True)
    statuses: dict[str, ServiceStatus] = {}
    if "postgres" in chosen:
        statuses["postgres"] = start_postgres(settings, creds)
    started = time.monotonic()
    spawned: dict[str, int] = {}
    try:
        for name in (n for n in chosen if n != "postgres"):  # both servers start at once, then are awaited
            launched = _launch_server(settings, creds, name)
            if isinstance(launched, ServiceStatus):
                statuses[name] = launched
            else:
                spawned[name] = launched
        for name, pid in spawned.items():
            statuses[name] = _await_server(settings, creds, name, pid, started)
    except ServiceError:
        for name in spawned:  # a half-started set is not left behind: what this call spawned is stopped
            with contextlib.suppress(ServiceError):
                _stop_server(settings, name)
        raise
    write_team_env(settings, creds)
    return [statuses[n] for n in chosen]


def stop_services(settings: Settings, names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """Stop the servers (or `names`), PostgreSQL last; a service that is not running is reported as such."""
    chosen = _selected(names)
    return [stop_postgres(settings) if n == "postgres" else _stop_server(settings, n) for n in reversed(chosen)][::-1]


def service_status(settings: Settings) -> list[ServiceStatus]:
    """Each service: pid (when running), URL, and whether it answers healthy now."""
    try:
        creds: Credentials | None = load_credentials(settings)
    except ServiceError:
        creds = None
    out = []
    pid = postgres_pid(settings)
    healthy = creds is not None and pid is not None and postgres_healthy(settings, creds)
    out.append(ServiceStatus("postgres", pid, postgres_address(settings), healthy, _detail(pid, healthy)))
    for name, (_, check, url_of) in _SERVERS.items():
        pid = read_pid(pid_file(settings, name))
        pid = pid if pid is not None and alive(pid) else None
        healthy = creds is not None and pid is not None and _safe(check, settings, creds)
        out.append(ServiceStatus(name, pid, url_of(settings), healthy, _detail(pid, healthy)))
    return out


def _detail(pid: int | None, healthy: bool) -> str:
    if pid is None:
        return "not running"
    return "running" if healthy else "running, not answering"
