"""Supervision of the team-mode servers as child processes: where their state lives, spawning, health polling, stopping.

Every service keeps its pid file and log under `HOME/services/<name>/`. A server is spawned in its own session (so
its process group holds every child it forks), its output appended to its log; start-up is polled until a health
check passes, and a process that dies or a timeout raises `ServiceError` with the log's last lines. Stopping sends
SIGTERM to the whole group, then SIGKILL to what is left. Liveness is read from /proc, so zombies count as ended.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xsell.errors import XsellError
from xsell.fileio import write_text_atomic
from xsell.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "ServiceError",
    "ServiceStatus",
    "alive",
    "group_alive",
    "http_get",
    "log_file",
    "pid_file",
    "port_open",
    "read_pid",
    "services_dir",
    "spawn",
    "stop_group",
    "tail",
    "wait_until",
]

_LOG_TAIL_LINES = 25


class ServiceError(XsellError, RuntimeError):
    """A service could not be started, checked or stopped; the message names the service and the cause."""


@dataclass(frozen=True)
class ServiceStatus:
    """One service as `status` reports it."""

    name: str
    pid: int | None
    url: str
    healthy: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def services_dir(settings: Settings) -> Path:
    """HOME/services: data, logs, pid files, credentials and team.env of every service."""
    return (settings.home / "services").resolve()


def pid_file(settings: Settings, name: str) -> Path:
    """HOME/services/<name>/<name>.pid: the pid (and process group) of a spawned server."""
    return services_dir(settings) / name / f"{name}.pid"


def log_file(settings: Settings, name: str) -> Path:
    """HOME/services/<name>/<name>.log: a spawned server's output."""
    return services_dir(settings) / name / f"{name}.log"


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie child is reaped and counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False
    if state in ("Z", "X"):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def group_alive(pgid: int) -> bool:
    """True while any process of the group runs (zombies reaped)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError, ProcessLookupError, PermissionError):
            continue
        if int(fields[2]) == pgid:
            members.append(int(entry.name))
    return any(alive(pid) for pid in members)


def read_pid(path: Path) -> int | None:
    """The pid written first in `path`; None when the file is missing or holds no number."""
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log (a note when there is no log)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def http_get(url: str, *, auth: tuple[str, str] | None = None, timeout: float = 3.0) -> tuple[int, str]:
    """Status code and body of a GET (connection errors raise OSError)."""
    request = urllib.request.Request(url)
    if auth is not None:
        token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, pid: int | None, log_path: Path) -> float:
    """Poll `check` until it is true; ServiceError with the log's tail when the process dies or time runs out."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except OSError:
            pass
        if pid is not None and not alive(pid):
            raise ServiceError(f"{what} exited during start-up; last lines of {log_path}:\n{tail(log_path)}")
        if time.monotonic() - started > timeout:
            raise ServiceError(
                f"{what} not healthy after {timeout:.0f} s (services.start_timeout_seconds); "
                f"last lines of {log_path}:\n{tail(log_path)}"
            )
        time.sleep(0.5)


def spawn(argv: Sequence[str], env: dict[str, str], log_path: Path, pid_path: Path, *, own_session: bool = True) -> int:
    """Start a server in its own process group, output appended to its log; write its pid file.

    `own_session` (team mode's services) detaches it from this process: it outlives the command that started it.
    Otherwise (`xsell ui`) it stays in this process's session, in a group of its own: a Ctrl+C at the terminal
    reaches only this process, which stops the group, and `xsell.reaper` ends it if this process is killed."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    session: dict[str, Any] = {"start_new_session": True} if own_session else {"process_group": 0}
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            list(argv), env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **session
        )
    write_text_atomic(pid_path, f"{process.pid}\n")
    return process.pid


def stop_group(name: str, pid: int, timeout: float) -> None:
    """SIGTERM the process group of `pid`, SIGKILL what is left after `timeout` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_alive(pid):
                return
            time.sleep(0.2)
        if sig == signal.SIGTERM:
            log.warning("service did not stop on SIGTERM; killing it", extra={"service": name, "pid": pid})
    raise ServiceError(f"{name} (process group {pid}) still running after SIGKILL")
