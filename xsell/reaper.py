"""Nothing left running: a watchdog process that ends what an `xsell` process started once that process is gone.

Why a separate process. Prefect's temporary API server is a uvicorn subprocess that Prefect spawns itself (no
`preexec_fn` of ours, so no `PR_SET_PDEATHSIG`; and that signal fires when the *thread* that forked dies, while
Prefect starts the server from whichever thread first needs a client). After `kill -9` of its parent it was
seen alive 57-170 s later, one even ignoring SIGTERM for over 4 s. A thread of the parent dies with the parent,
so the watchdog is a tiny process of its own, in its own session (a Ctrl+C to the terminal does not reach it).

How it finds what to end. `arm()` puts a token unique to this process in the environment (`TOKEN_ENV`); every
descendant started afterwards inherits it (Prefect passes the whole environment to the server, so do
multiprocessing and `subprocess`). The watchdog sleeps on a pidfd of its parent (no polling, no CPU) and, once
the parent has exited for any reason, sends SIGTERM to every process of this session whose initial environment
holds the token, waits `GRACE_SECONDS`, sends SIGKILL to what remains and exits. Services started on purpose in
a session of their own (`xsell services start`) are left alone. Linux only (pidfd, /proc); elsewhere `arm` is a
no-op. This file imports only the standard library: the watchdog runs it as a script with `python -I`.
"""

from __future__ import annotations

import logging
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

#: Environment variable carrying the token that marks an xsell process's descendants.
TOKEN_ENV = "XSELL_PROCESS_TOKEN"
#: Seconds between SIGTERM and SIGKILL of a leftover process.
GRACE_SECONDS = 3.0
_PROC = Path("/proc")


def supported() -> bool:
    """True where the watchdog works: Linux with pidfd support and /proc."""
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and _PROC.is_dir()


def arm() -> subprocess.Popen[bytes] | None:
    """Mark this process's future descendants with a fresh token and start the watchdog; return its process."""
    if not supported():
        return None
    token = f"{os.getpid()}-{secrets.token_hex(8)}"
    try:
        watchdog = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve()), str(os.getpid()), token, str(os.getsid(0))],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:  # no process to spare: run unguarded rather than not at all
        logger.warning("could not start the watchdog (%s): what this command starts may outlive a kill -9", exc)
        return None
    os.environ[TOKEN_ENV] = token
    logger.debug("watchdog %d armed for pid %d", watchdog.pid, os.getpid())
    return watchdog


def process_started(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot, from /proc), so a reused pid is told apart; None if gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat; fields 1-2 end at the ')' of the name


def marked_processes(token: str, session: int, exclude: set[int]) -> list[int]:
    """Pids of the processes of `session` whose initial environment holds `token` (those not in `exclude`)."""
    needle = f"{TOKEN_ENV}={token}".encode()
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        pid = int(entry.name)
        try:
            environ = (entry / "environ").read_bytes()
            if needle not in environ.split(b"\0") or os.getsid(pid) != session:
                continue
        except (OSError, ProcessLookupError):  # gone, or not ours to read
            continue
        found.append(pid)
    return found


def end_processes(pids: list[int], grace: float = GRACE_SECONDS) -> list[int]:
    """SIGTERM `pids`, SIGKILL those still alive after `grace` seconds; return the pids that needed SIGKILL."""
    handles = {}
    for pid in pids:
        try:
            handles[pid] = os.pidfd_open(pid)
            signal.pidfd_send_signal(handles[pid], signal.SIGTERM)
        except (OSError, ProcessLookupError):
            handles.pop(pid, None)
    killed = []
    deadline = time.monotonic() + grace
    try:
        for pid, fd in handles.items():
            if not _wait_fd(fd, max(0.0, deadline - time.monotonic())):
                try:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
    finally:
        for fd in handles.values():
            os.close(fd)
    return killed


def _wait_fd(fd: int, timeout: float | None) -> bool:
    """Wait until the process behind pidfd `fd` has exited (`timeout` None: for as long as it takes)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else timeout * 1000))


def watch(parent: int, token: str, session: int) -> int:
    """Block until `parent` exits, then end its marked leftovers; return how many processes were ended."""
    try:
        fd = os.pidfd_open(parent)
    except ProcessLookupError:
        fd = None  # already gone: sweep at once
    if fd is not None:
        if os.getppid() == parent:  # still ours (not a reused pid): wait for it
            _wait_fd(fd, None)
        os.close(fd)
    ended = 0
    for _ in range(2):  # a second pass for anything started while the first one ran
        pids = marked_processes(token, session, exclude={os.getpid()})
        if not pids:
            break
        end_processes(pids)
        ended += len(pids)
    return ended


def main(argv: list[str]) -> int:
    """Entry point of the watchdog script: `reaper.py PARENT_PID TOKEN SESSION_ID`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    watch(int(argv[0]), argv[1], int(argv[2]))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as the watchdog process
    sys.exit(main(sys.argv[1:]))
