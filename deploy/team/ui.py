"""The MLflow and Prefect UIs on a home's own stores, as child processes of the `xsell ui` command that serves them.

MLflow: a server (`deploy.team.servers.mlflow_server`, job runners off) on the home's tracking store, the embedded
`HOME/mlflow.db` or the configured database, its artifacts read where the runs logged them (`HOME/mlflow-artifacts`
for the embedded store); when MLFLOW_TRACKING_URI names a tracking server, that server's own UI is the answer and
nothing is started. Prefect: when PREFECT_API_URL names a server, its UI; else, on request, a Prefect server on the
home's Prefect database (`PREFECT_HOME/prefect.db`, where every local flow run was recorded).

Started servers listen on loopback, each in a process group of its own in the caller's session (`spawn` with
`own_session=False`): `stop_ui` ends each whole group (uvicorn workers included), and `xsell.reaper` ends them if
the caller is killed. Logs and pid files live under `HOME/services/<name>-ui/`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deploy.team.processes import (
    ServiceError,
    alive,
    group_alive,
    http_get,
    log_file,
    pid_file,
    port_open,
    spawn,
    stop_group,
    tail,
    wait_until,
)
from deploy.team.servers import mlflow_server, prefect_server
from registry.client import is_local_sqlite, sqlite_path
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["UiPlan", "UiServer", "free_port", "plan_ui", "serve_until", "start_ui", "stop_ui"]

#: Ports tried first when none is given (MLflow's and Prefect's own defaults); a free one is picked when taken.
PREFERRED_PORTS = {"mlflow": 5000, "prefect": 4200}
#: The page each UI serves, polled until it answers 200, and the API call that proves the store behind it opened.
_CHECKS = {
    "mlflow": ("/", "/api/2.0/mlflow/experiments/search?max_results=1"),
    "prefect": ("/", "/api/health"),
}


@dataclass(frozen=True)
class UiServer:
    """One UI: its address and, when `xsell ui` started it, its process (group) and log."""

    name: str  # "mlflow" or "prefect"
    url: str
    store: str  # what it shows: a store URI, a database file, or the server it is
    pid: int | None = None  # None: a server this command did not start (only pointed at)
    log: Path | None = None

    @property
    def started(self) -> bool:
        """True when this command started the server (and stops it)."""
        return self.pid is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self) | {"log": str(self.log) if self.log else None}


@dataclass(frozen=True)
class UiPlan:
    """What `xsell ui` serves: each UI either started on a loopback port (`port` set) or an existing server's URL."""

    name: str
    store: str
    port: int | None = None  # a server to start on this port
    url: str | None = None  # an existing server to point at


def free_port(host: str) -> int:
    """A TCP port on `host` that nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_port(host: str, name: str, requested: int | None) -> int:
    """`requested` if free (ServiceError naming the port when taken), else the UI's usual port or any free one."""
    if requested is not None:
        if port_open(host, requested):
            raise ServiceError(
                f"{name} UI: port {requested} on {host} is taken by another process; choose another with "
                f"--{name}-port, or leave it out for a free one"
            )
        return requested
    preferred = PREFERRED_PORTS[name]
    return preferred if not port_open(host, preferred) else free_port(host)


def prefect_home(settings: Settings) -> Path:
    """The Prefect state folder of the home's commands (PREFECT_HOME, set under the home by the CLI)."""
    return Path(os.environ.get("PREFECT_HOME") or settings.home / "prefect").resolve()


def plan_ui(
    settings: Settings, *, mlflow_port: int | None = None, prefect: bool = False, prefect_port: int | None = None
) -> list[UiPlan]:
    """The UIs to serve for `settings`' home, checked before anything starts (ServiceError names what is missing)."""
    host = settings.services.host
    uri = settings.mlflow_uri
    plans: list[UiPlan] = []
    if uri.startswith(("http://", "https://")):
        plans.append(UiPlan("mlflow", uri, url=uri.rstrip("/")))
    else:
        if is_local_sqlite(uri) and not sqlite_path(uri).is_file():
            raise ServiceError(
                f"no MLflow store at {sqlite_path(uri)} yet: run `xsell demo` or `xsell train` with this home first"
            )
        plans.append(UiPlan("mlflow", _safe_uri(uri), port=choose_port(host, "mlflow", mlflow_port)))
    api_url = os.environ.get("PREFECT_API_URL")
    if api_url:
        plans.append(UiPlan("prefect", api_url, url=api_url.rstrip("/").removesuffix("/api")))
    elif prefect or prefect_port is not None:
        database = os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL") or str(prefect_home(settings) / "prefect.db")
        plans.append(UiPlan("prefect", _safe_uri(database), port=choose_port(host, "prefect", prefect_port)))
    return plans


def _safe_uri(uri: str) -> str:
    """`uri` without a password (it is printed)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    return uri.replace(f":{parts.password}@", ":***@", 1)


def _launch(settings: Settings, plan: UiPlan) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of the server a plan starts."""
    host, port = settings.services.host, int(plan.port or 0)
    if plan.name == "mlflow":
        artifacts = settings.mlflow_artifacts_dir.resolve()
        options = ["--default-artifact-root", artifacts.as_uri(), "--no-serve-artifacts"]
        return mlflow_server(host, port, 1, settings.mlflow_uri, options, {})
    return prefect_server(host, port, prefect_home(settings), {})


def _url(settings: Settings, plan: UiPlan) -> str:
    return plan.url or f"http://{settings.services.host}:{plan.port}"


def answers(url: str, name: str, auth: tuple[str, str] | None = None) -> bool:
    """True when the UI page and the API behind it both answer 200 at `url`."""
    return all(http_get(url + path, auth=auth, timeout=5.0)[0] == 200 for path in _CHECKS[name])


def _client_auth(name: str) -> tuple[str, str] | None:
    """The basic-auth credentials this process's MLflow client uses (team mode's server asks for them)."""
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    return (user, password) if name == "mlflow" and user and password else None


def start_ui(settings: Settings, plans: Sequence[UiPlan]) -> list[UiServer]:
    """Start the servers the plans ask for (at once), wait until each UI answers 200; a failure stops them all.

    Existing servers are checked, not started: ServiceError when one does not answer."""
    started = time.monotonic()
    servers: list[UiServer] = []
    try:
        for plan in plans:
            url = _url(settings, plan)
            if plan.port is None:
                servers.append(UiServer(plan.name, url, plan.store))
                continue
            name = f"{plan.name}-ui"
            argv, env = _launch(settings, plan)
            pid = spawn(argv, env, log_file(settings, name), pid_file(settings, name), own_session=False)
            servers.append(UiServer(plan.name, url, plan.store, pid, log_file(settings, name)))
        for server in servers:
            _await(settings, server)
    except BaseException:
        stop_ui(settings, servers)
        raise
    log.debug("UI ready", extra={"urls": [s.url for s in servers], "s": round(time.monotonic() - started, 1)})
    return servers


def _await(settings: Settings, server: UiServer) -> None:
    what = f"{server.name} UI"
    if server.started:
        assert server.log is not None
        timeout = settings.services.start_timeout_seconds
        wait_until(
            lambda: answers(server.url, server.name), timeout=timeout, what=what, pid=server.pid, log_path=server.log
        )
        return
    try:
        ok = answers(server.url, server.name, _client_auth(server.name))
    except OSError as exc:
        ok, why = False, str(exc)
    else:
        why = "not 200"
    if not ok:
        raise ServiceError(
            f"{what} at {server.url} does not answer ({why}); in team mode, `xsell services start` starts it"
        )


def serve_until(stop: threading.Event, servers: Sequence[UiServer], poll: float = 0.5) -> None:
    """Block until `stop` is set; ServiceError with its log's tail when a started server exits before that."""
    while not stop.wait(poll):
        for server in servers:
            if server.pid is not None and not alive(server.pid):
                assert server.log is not None
                raise ServiceError(f"{server.name} UI exited; last lines of {server.log}:\n{tail(server.log)}")


def stop_ui(settings: Settings, servers: Sequence[UiServer]) -> None:
    """Stop every server this command started: its whole process group, then its pid file."""
    for server in servers:
        if server.pid is None:
            continue
        if alive(server.pid) or group_alive(server.pid):
            with contextlib.suppress(ServiceError):  # the next one is still stopped; a leftover is logged
                stop_group(f"{server.name} UI", server.pid, settings.services.stop_timeout_seconds)
        if group_alive(server.pid):
            log.error("UI server still running", extra={"ui": server.name, "pid": server.pid})
        pid_file(settings, f"{server.name}-ui").unlink(missing_ok=True)
