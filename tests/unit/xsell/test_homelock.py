"""The home lock: one writer at a time, the next waits then names the holder; a killed holder frees it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from xsell import homelock

ROOT = Path(__file__).resolve().parents[3]


def test_a_second_writer_gives_up_naming_the_holder(tmp_path: Path) -> None:
    # given a home held by `xsell train --trials 2`
    held = homelock.acquire(tmp_path, timeout=0, command="xsell train --trials 2")
    try:
        holder = homelock.read_holder(homelock.lock_path(tmp_path))
        assert holder.pid == os.getpid() and holder.command == "xsell train --trials 2" and holder.since
        # when another writer asks without waiting, then one line names the holder's pid and command
        with pytest.raises(homelock.HomeBusyError) as error:
            homelock.acquire(tmp_path, timeout=0.3, command="xsell score")
        message = str(error.value)
        assert f"PID {os.getpid()} (xsell train --trials 2)" in message
        assert "\n" not in message and "--wait-timeout" in message
    finally:
        held.release()
    # once released, the next writer takes it and is recorded
    again = homelock.acquire(tmp_path, timeout=0, command="xsell score")
    assert homelock.read_holder(homelock.lock_path(tmp_path)).command == "xsell score"
    again.release()


def test_a_waiting_writer_logs_the_holder_and_goes_on_when_it_is_released(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    held = homelock.acquire(tmp_path, timeout=0, command="xsell consolidate --raw r")
    threading.Timer(1.0, held.release).start()
    with caplog.at_level(logging.INFO, logger="xsell.homelock"):
        started = time.monotonic()
        second = homelock.acquire(tmp_path, timeout=30, command="xsell consolidate --raw r")
    try:
        assert 0.8 <= time.monotonic() - started < 10
        assert second.waited >= 0.8
        assert any(
            "waiting for home" in r.getMessage() and "xsell consolidate --raw r" in r.getMessage()
            for r in caplog.records
        )
    finally:
        second.release()


def test_kill_9_of_the_holder_frees_the_lock(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        sys.path.insert(0, sys.argv[1])
        from pathlib import Path
        from xsell import homelock
        homelock.acquire(Path(sys.argv[2]), timeout=0, command="xsell train")
        print("held", flush=True)
        time.sleep(300)
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(ROOT), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(homelock.HomeBusyError, match=f"PID {holder.pid} "):
        homelock.acquire(tmp_path, timeout=0)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    taken = homelock.acquire(tmp_path, timeout=5)
    taken.release()


def test_an_unreadable_lock_file_still_gives_a_clear_line(tmp_path: Path) -> None:
    held = homelock.acquire(tmp_path, timeout=0)
    homelock.lock_path(tmp_path).write_text("not json")
    try:
        with pytest.raises(homelock.HomeBusyError, match="another process"):
            homelock.acquire(tmp_path, timeout=0)
    finally:
        held.release()


def test_command_line_is_short_and_names_the_program() -> None:
    assert homelock.command_line(["/venv/bin/xsell", "train", "--trials", "2"]) == "xsell train --trials 2"
    assert len(homelock.command_line(["xsell", "x" * 500])) == 200
