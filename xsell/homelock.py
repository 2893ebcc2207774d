"""One writer per home: an advisory lock on HOME/xsell.lock, held until the process ends (`kill -9` included).

A second writer waits its turn (logging who holds the home) up to a timeout, then fails with one line naming
the holder's PID and command. The lock is `fcntl.flock` on an open file: the kernel drops it when the holder's
last descriptor closes, so a killed holder never leaves a stale lock. The file itself is never deleted (deleting
a flock file lets two processes lock two different files); the holder writes its pid, host, command and start
time in it for the waiters to read.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from xsell.errors import XsellError

logger = logging.getLogger(__name__)

LOCK_NAME = "xsell.lock"
#: Seconds between tries while waiting, and between "still waiting" log lines.
POLL_SECONDS = 0.5
REPORT_SECONDS = 30.0


class HomeBusyError(XsellError, RuntimeError):
    """Another process held the home's writer lock for longer than the wait timeout."""

    exit_code = 1


@dataclass(frozen=True)
class Holder:
    """Who holds a home's lock, as written in the lock file."""

    pid: int | None
    host: str
    command: str
    since: str

    def describe(self) -> str:
        """One phrase: `PID 123 (xsell train --trials 2) since 2026-12-07T19:00:00Z`."""
        who = f"PID {self.pid}" if self.pid is not None else "another process"
        where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        return f"{who}{where} ({self.command or 'unknown command'}) since {self.since or '?'}"


@dataclass
class HomeLock:
    """A held lock: keep it referenced for as long as the process writes to the home."""

    path: Path
    fd: int
    waited: float

    def release(self) -> None:
        """Drop the lock now (the process exiting drops it too)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def lock_path(home: Path) -> Path:
    """The lock file of a home."""
    return home / LOCK_NAME


def read_holder(path: Path) -> Holder:
    """The holder recorded in a lock file (fields empty when it is unreadable or being rewritten)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    pid = data.get("pid")
    return Holder(
        pid=pid if isinstance(pid, int) else None,
        host=str(data.get("host", "")),
        command=str(data.get("command", "")),
        since=str(data.get("since", "")),
    )


def command_line(argv: list[str] | None = None) -> str:
    """The running command as a short line: `xsell train --trials 2`."""
    args = list(sys.argv if argv is None else argv)
    if args:
        args[0] = Path(args[0]).name
    text = " ".join(args)
    return text if len(text) <= 200 else text[:197] + "..."


def acquire(home: Path, timeout: float | None, command: str | None = None) -> HomeLock:
    """Take the home's writer lock, waiting up to `timeout` seconds (None: no limit; 0: do not wait).

    Raises HomeBusyError naming the holder when the time is up.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = lock_path(home)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    started = time.monotonic()
    reported = -REPORT_SECONDS
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            waited = time.monotonic() - started
            holder = read_holder(path)
            if timeout is not None and waited >= timeout:
                raise HomeBusyError(
                    f"home {home} is busy: {holder.describe()} holds {path}; gave up after {waited:.0f} s "
                    f"(--wait-timeout / runtime.lock_timeout)"
                )
            if waited - reported >= REPORT_SECONDS:
                limit = "no time limit" if timeout is None else f"up to {timeout:.0f} s"
                logger.warning("waiting for home %s: held by %s (waiting %s)", home, holder.describe(), limit)
                reported = waited
            time.sleep(POLL_SECONDS if timeout is None else min(POLL_SECONDS, max(0.01, timeout - waited)))
    except BaseException:
        os.close(fd)
        raise
    _write_holder(fd, command if command is not None else command_line())
    waited = time.monotonic() - started
    if waited >= POLL_SECONDS:
        logger.info("took the lock of home %s after waiting %.0f s", home, waited)
    return HomeLock(path=path, fd=fd, waited=waited)


def _write_holder(fd: int, command: str) -> None:
    """Record this process as the holder in the (locked) lock file."""
    payload = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(payload).encode("utf-8"), 0)
