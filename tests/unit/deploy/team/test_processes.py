"""Process supervision without a real server: a server that dies at start, a process group that is stopped."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from deploy.team.processes import ServiceError, group_alive, read_pid, spawn, stop_group, wait_until


def test_a_server_that_dies_at_start_is_reported_with_its_log(tmp_path: Path, clean_env: None) -> None:
    # given a server command that prints and exits at once
    log_path, pid_path = tmp_path / "x.log", tmp_path / "x.pid"
    pid = spawn([sys.executable, "-c", "print('bad config: no database'); raise SystemExit(3)"], {}, log_path, pid_path)
    # then waiting for it fails with its log's tail, not after the timeout
    started = time.monotonic()
    with pytest.raises(ServiceError, match=r"(?s)exited during start-up.*bad config: no database"):
        wait_until(lambda: False, timeout=60, what="mlflow", pid=pid, log_path=log_path)
    assert time.monotonic() - started < 30
    assert read_pid(pid_path) == pid


def test_stopping_a_group_ends_its_children(tmp_path: Path) -> None:
    # given a server whose process started a child (like uvicorn workers)
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); time.sleep(300)"
    pid = spawn([sys.executable, "-c", script], {}, tmp_path / "g.log", tmp_path / "g.pid")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_group(pid)) < 2:
        time.sleep(0.1)
    assert len(_group(pid)) == 2
    # when its group is stopped, then no process of it is left
    stop_group("demo", pid, timeout=10)
    assert not group_alive(pid)


def _group(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                out.append(int(entry.name))
    return out
