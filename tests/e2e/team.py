"""Helpers of the end-to-end tests: the team-mode services' handle, the CLI runner and the full-cycle record.

Fixtures using them are in tests/e2e/conftest.py; import the types from here (`from tests.e2e.team import ...`).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.team.credentials import Credentials, postgres_url
from xsell.settings import ENV_PREFIX, Settings

OUTPUT = Path(__file__).parent / "output"
ACCOUNTS = 300
DATA_END = "2026-06-30"  # the generator's default end month
CHAMPION_AS_OF = "2026-03-31"
TRIALS = 3
WORKER_TRIALS = 6


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(
    method: str, url: str, body: Any = None, auth: tuple[str, str] | None = None, timeout: float = 60
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read().decode()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode(errors="replace")
        try:
            return exc.code, json.loads(raw)
        except json.JSONDecodeError:
            return exc.code, raw


@dataclass
class TeamServices:
    """Running team-mode services and how to reach them."""

    settings: Settings
    credentials: Credentials
    env: dict[str, str]
    root: Path  # temporary folder holding the services' home

    @property
    def mlflow_url(self) -> str:
        """MLflow tracking server (basic-auth)."""
        return self.env["MLFLOW_TRACKING_URI"]

    @property
    def prefect_url(self) -> str:
        """Prefect server (UI at this URL, API under /api)."""
        return self.env["PREFECT_API_URL"].removesuffix("/api")

    @property
    def optuna_url(self) -> str:
        """SQLAlchemy URL of the Optuna database."""
        return postgres_url(self.settings, self.credentials, "optuna")

    @property
    def admin(self) -> tuple[str, str]:
        """MLflow admin user and password."""
        return self.credentials.mlflow_admin, self.credentials.mlflow_admin_password

    def mlflow_get(self, path: str, auth: tuple[str, str] | bool | None = True) -> tuple[int, Any]:
        """GET an MLflow REST path (`/api/2.0/mlflow/...`) as admin (auth=True), anonymously (None) or as a user."""
        return _request("GET", self.mlflow_url + path, auth=self.admin if auth is True else auth or None)

    def mlflow_post(self, path: str, body: Any, auth: tuple[str, str] | bool | None = True) -> tuple[int, Any]:
        """POST to an MLflow REST path as admin (auth=True), anonymously (None) or as a user."""
        return _request("POST", self.mlflow_url + path, body, auth=self.admin if auth is True else auth or None)

    def prefect_post(self, path: str, body: Any) -> tuple[int, Any]:
        """POST to the Prefect server's API (`/flow_runs/filter`, ...)."""
        return _request("POST", self.env["PREFECT_API_URL"] + path, body)


def _run(
    args: tuple[str, ...], services: TeamServices, home: Path, timeout: float, env: dict[str, str] | None
) -> tuple[subprocess.CompletedProcess[str], float]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    full_env.update(services.env)
    full_env.update(env or {})
    full_env["XSELL_LOG_LEVEL"] = "WARNING"
    command = [sys.executable, "-c", "from flows.cli import run; run()", "--home", str(home), "--no-progress", *args]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=full_env)
    took = time.monotonic() - started
    print(f"xsell {' '.join(args)}: {took:.0f} s")  # shown with -s or on failure
    return done, took


def xsell_failure(
    *args: str, services: TeamServices, home: Path, timeout: float = 900, env: dict[str, str] | None = None
) -> str:
    """Run the CLI in team mode expecting a one-line error (exit 2); its stderr."""
    done, _ = _run(args, services, home, timeout, env)
    assert done.returncode == 2, f"xsell {' '.join(args)} exited {done.returncode}\nstderr:\n{done.stderr[-3000:]}"
    return " ".join(done.stderr.split())


def xsell(
    *args: str, services: TeamServices, home: Path, timeout: float = 900, env: dict[str, str] | None = None
) -> dict[str, Any] | list[Any] | None:
    """Run the real `xsell` CLI in team mode; its JSON output (stdout), or None when it printed none.

    AssertionError with the command and its output's tail when it fails.
    """
    done, took = _run(args, services, home, timeout, env)
    assert done.returncode == 0, (
        f"xsell {' '.join(args)} exited {done.returncode} after {took:.0f} s\nstdout:\n{done.stdout[-3000:]}\n"
        f"stderr:\n{done.stderr[-5000:]}"
    )
    text = done.stdout.strip()
    if not text:
        return None
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    return json.loads(text[start:]) if start >= 0 else None


@dataclass
class TeamCycle:
    """One full cycle run against the team services through the CLI."""

    home: Path
    raw: Path
    data_end: str
    champion_as_of: str
    champion: dict[str, Any]
    challenger: dict[str, Any]
    scored: dict[str, Any]
    monitored: dict[str, Any]
    report: dict[str, Any]
    workers_study: str
    versions_before_workers: int
    seconds: dict[str, float] = field(default_factory=dict)


def _versions(services: TeamServices, name: str) -> int:
    status, body = services.mlflow_get(f"/api/2.0/mlflow/model-versions/search?filter=name%3D%27{name}%27")
    assert status == 200, body
    return len(body.get("model_versions", []))


def model_versions(services: TeamServices, name: str) -> int:
    """How many versions of registered model `name` the MLflow server holds."""
    status, body = services.mlflow_get(f"/api/2.0/mlflow/model-versions/search?filter=name%3D%27{name}%27")
    assert status == 200, body
    return len(body.get("model_versions", []))


def still_running(pids: list[int], wait: float = 15.0) -> list[int]:
    """The pids among `pids` that still run (zombies count as ended) after waiting up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        left = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if state not in ("Z", "X"):
                left.append(pid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)
