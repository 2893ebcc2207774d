"""The watchdog: what an xsell process started ends with it, `kill -9` included; nothing else is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from xsell import reaper

pytestmark = pytest.mark.skipif(not reaper.supported(), reason="needs Linux pidfd and /proc")

ROOT = Path(__file__).resolve().parents[3]

# A parent that arms the watchdog, then starts children: one plain, one ignoring SIGTERM, one in a session of its
# own (a service started on purpose); prints their pids and sleeps until killed.
PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    from xsell import reaper
    watchdog = reaper.arm()
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    stubborn = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"]
    kids = [subprocess.Popen(sleeper), subprocess.Popen(stubborn), subprocess.Popen(sleeper, start_new_session=True)]
    print(watchdog.pid, *(k.pid for k in kids), flush=True)
    time.sleep(0.5 if sys.argv[2] == "exit" else 300)
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _start_parent(mode: str) -> tuple[subprocess.Popen[str], list[int]]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(ROOT), mode], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    return parent, pids


def test_kill_9_of_the_parent_ends_its_children_even_one_ignoring_sigterm() -> None:
    # given a parent with the watchdog armed and three children
    parent, (watchdog, plain, stubborn, detached) = _start_parent("hold")
    try:
        time.sleep(0.5)
        # when the parent is killed with SIGKILL
        parent.kill()
        parent.wait()
        # then its children in its session end (SIGTERM, then SIGKILL after the grace), the watchdog exits
        assert _wait_gone([plain], 3.0) == []
        assert _wait_gone([stubborn, watchdog], reaper.GRACE_SECONDS + 5.0) == []
        # and a process started in a session of its own (a service) is left alone
        assert _alive(detached)
    finally:
        for pid in (plain, stubborn, detached):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_parent_that_exits_normally_leaves_nothing_behind() -> None:
    parent, (watchdog, plain, stubborn, detached) = _start_parent("exit")
    try:
        parent.wait(timeout=30)
        assert _wait_gone([plain, stubborn, watchdog], reaper.GRACE_SECONDS + 5.0) == []
    finally:
        for pid in (plain, stubborn, detached):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_only_processes_of_the_session_holding_the_token_are_marked() -> None:
    # given two children, one with the token in its environment and one without
    token = "test-" + os.urandom(4).hex()
    env = os.environ | {reaper.TOKEN_ENV: token}
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    marked = subprocess.Popen(sleeper, env=env)
    unmarked = subprocess.Popen(sleeper, env={k: v for k, v in env.items() if k != reaper.TOKEN_ENV})
    try:
        time.sleep(0.3)
        found = reaper.marked_processes(token, os.getsid(0), exclude=set())
        # then only the marked one is found; another session finds nothing; an unknown token finds nothing
        assert found == [marked.pid]
        assert reaper.marked_processes(token, os.getsid(0) + 1, exclude=set()) == []
        assert reaper.marked_processes("no-such-token", os.getsid(0), exclude=set()) == []
    finally:
        for child in (marked, unmarked):
            child.kill()
            child.wait()


def test_end_processes_escalates_to_sigkill_and_ignores_vanished_pids() -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None
    stubborn.stdout.readline()  # SIGTERM is ignored from here on
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    killed = reaper.end_processes([stubborn.pid, gone.pid], grace=0.5)
    assert killed == [stubborn.pid]
    assert stubborn.wait(timeout=5) == -signal.SIGKILL


def test_process_started_tells_a_living_pid_from_a_gone_one() -> None:
    assert reaper.process_started(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert reaper.process_started(child.pid) is None


def test_arm_without_a_process_to_spare_runs_unguarded(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork(*args: object, **kwargs: object) -> None:
        raise BlockingIOError("Resource temporarily unavailable")

    monkeypatch.delenv(reaper.TOKEN_ENV, raising=False)
    monkeypatch.setattr(reaper.subprocess, "Popen", no_fork)
    assert reaper.arm() is None
    assert reaper.TOKEN_ENV not in os.environ
