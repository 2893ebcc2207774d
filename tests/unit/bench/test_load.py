"""bench.load: background LightGBM jobs start, burn CPU while the block runs, and are gone after it."""

from __future__ import annotations

import os
import resource
import time

import pytest

from bench.load import busy_machine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_busy_machine_runs_jobs_and_stops_them() -> None:
    with busy_machine(jobs=2, threads=1) as pids:
        assert len(pids) == 2
        assert all(_alive(pid) for pid in pids)
        time.sleep(1.0)
    time.sleep(0.2)
    for pid in pids:
        assert not _alive(pid)  # stopped and reaped
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert children.ru_utime > 0.1  # the jobs did work (CPU seconds of reaped children)


def test_busy_machine_stops_jobs_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), busy_machine(jobs=1, threads=1) as pids:
        raise RuntimeError("boom")
    assert not _alive(pids[0])
