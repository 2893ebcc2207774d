"""xsell.cores: the cores a process may use (affinity, cgroup quota) and thread counts capped to them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from xsell.cores import ThreadPlan, _warned, available_cores, cap_threads, cgroup_cpu_limit, thread_plan


def _files(tmp_path: Path, v2: str | None = None, quota: str | None = None, period: str | None = None) -> dict:
    paths = {"v2_max": tmp_path / "cpu.max", "v1_quota": tmp_path / "quota", "v1_period": tmp_path / "period"}
    for key, text in (("v2_max", v2), ("v1_quota", quota), ("v1_period", period)):
        if text is not None:
            paths[key].write_text(text + "\n")
    return paths


def test_cgroup_v2_quota_is_quota_over_period(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(**_files(tmp_path, v2="150000 100000")) == 1.5
    assert cgroup_cpu_limit(**_files(tmp_path, v2="max 100000")) is None


def test_cgroup_v1_quota_and_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(**_files(tmp_path, quota="100000", period="100000")) == 1.0
    (tmp_path / "quota").write_text("-1\n")
    assert cgroup_cpu_limit(**_files(tmp_path)) is None


def test_missing_or_garbled_cgroup_files_mean_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(**_files(tmp_path)) is None
    assert cgroup_cpu_limit(**_files(tmp_path, v2="lots 100000")) is None
    (tmp_path / "cpu.max").unlink()
    assert cgroup_cpu_limit(**_files(tmp_path, quota="x", period="100000")) is None


def test_available_cores_is_the_least_of_affinity_quota_and_machine(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    # no quota: the affinity mask (never above the machine)
    assert available_cores(**_files(tmp_path)) == min(affinity, os.cpu_count() or 1)
    # a quota of half a core rounds up to one core; a quota above the mask leaves the mask
    assert available_cores(**_files(tmp_path, v2="50000 100000")) == 1
    assert available_cores(**_files(tmp_path, v2="6400000 100000")) == min(affinity, os.cpu_count() or 1)


def test_available_cores_follows_the_affinity_mask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert available_cores(**_files(tmp_path)) == 1


def test_thread_plan_keeps_what_fits(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert thread_plan(2, 1, 2) == ThreadPlan(2, 1)
        assert thread_plan(1, 4, 8) == ThreadPlan(1, 4)
    assert not caplog.records


def test_thread_plan_caps_threads_then_workers_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    _warned.clear()
    with caplog.at_level(logging.WARNING):
        assert thread_plan(2, 2, 2, what="training") == ThreadPlan(2, 1)
        assert thread_plan(4, 1, 2) == ThreadPlan(2, 1)
        assert thread_plan(3, 3, 1) == ThreadPlan(1, 1)
        assert cap_threads(8, 2) == 2
        assert thread_plan(2, 2, 2, what="training") == ThreadPlan(2, 1)  # the same cap again: no new warning
    assert len(caplog.records) == 4 and "capped" in caplog.records[0].getMessage()
