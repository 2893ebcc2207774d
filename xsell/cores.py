"""The CPU cores this process may actually use, and thread counts that never ask for more.

`os.cpu_count()` counts the machine's cores, not this process's share: a CPU affinity mask (`taskset`, a
Kubernetes cpuset) or a cgroup CPU quota (`docker run --cpus 2`, a Kubernetes CPU limit, a CI runner) grants
fewer. LightGBM's OpenMP threads beyond that share do not run in parallel; they spin at barriers against
descheduled peers and a 2-thread fit on shared cores runs 5-13x slower than quiet (issue 15). So thread counts
are derived from `available_cores` and capped to it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
_warned: set[tuple[str, int, int, int]] = set()  # (setting, workers, threads, cores) already warned about

__all__ = ["ThreadPlan", "available_cores", "cap_threads", "cgroup_cpu_limit", "thread_plan"]

#: cgroup v2's CPU limit (`max 100000` or `200000 100000`) of the process's own cgroup, read through /proc.
CGROUP_V2_MAX = Path("/sys/fs/cgroup/cpu.max")
#: cgroup v1's quota and period (microseconds; a quota of -1 means none).
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(
    v2_max: Path = CGROUP_V2_MAX, v1_quota: Path = CGROUP_V1_QUOTA, v1_period: Path = CGROUP_V1_PERIOD
) -> float | None:
    """Cores granted by the cgroup CPU quota (quota / period, e.g. 1.5), or None when there is no quota."""
    text = _read(v2_max)
    if text:
        parts = text.split()
        if len(parts) == 2 and parts[0] != "max":
            try:
                quota, period = int(parts[0]), int(parts[1])
            except ValueError:
                return None
            return quota / period if quota > 0 and period > 0 else None
        return None
    quota_text, period_text = _read(v1_quota), _read(v1_period)
    if quota_text is None or period_text is None:
        return None
    try:
        quota, period = int(quota_text), int(period_text)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cores(
    v2_max: Path = CGROUP_V2_MAX, v1_quota: Path = CGROUP_V1_QUOTA, v1_period: Path = CGROUP_V1_PERIOD
) -> int:
    """Whole cores this process may use: the least of its affinity mask, its cgroup quota (rounded up) and the
    machine's count; at least 1."""
    counts = [os.cpu_count() or 1]
    if hasattr(os, "sched_getaffinity"):
        counts.append(len(os.sched_getaffinity(0)))
    quota = cgroup_cpu_limit(v2_max, v1_quota, v1_period)
    if quota is not None:
        counts.append(math.ceil(quota))
    return max(1, min(counts))


@dataclass(frozen=True)
class ThreadPlan:
    """Parallel workers and the threads of each, whose product fits the available cores."""

    workers: int
    threads: int  # threads per worker


def thread_plan(workers: int, threads: int, cores: int, *, what: str = "threads") -> ThreadPlan:
    """`workers` x `threads` capped so the product is at most `cores` (threads shrink first, then workers); a
    warning names `what` when a setting was capped (once per process and value)."""
    cores = max(1, cores)
    capped_threads = max(1, min(threads, cores // max(1, workers)))
    capped_workers = max(1, min(workers, cores // capped_threads))
    if (capped_workers, capped_threads) != (workers, threads) and (what, workers, threads, cores) not in _warned:
        _warned.add((what, workers, threads, cores))
        log.warning(
            "thread settings above the available cores: capped",
            extra={"setting": what, "asked": f"{workers}x{threads}", "used": f"{capped_workers}x{capped_threads}",
                   "cores": cores},
        )  # fmt: skip
    return ThreadPlan(capped_workers, capped_threads)


def cap_threads(threads: int, cores: int, *, what: str = "threads") -> int:
    """`threads` capped to `cores` (a warning names `what` when capped)."""
    return thread_plan(1, threads, cores, what=what).threads
