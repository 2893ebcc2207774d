"""Where the feature and scoring flows run their parallel tasks, chosen by the `compute.*` settings alone.

`local` (the default): one task at a time in the flow's process. `dask`: a Prefect `DaskTaskRunner`, either on an
existing scheduler (`compute.dask_address`) or on a `distributed.LocalCluster` started for the flow run and torn down
after it. The flows' code is the same in both modes: `on_compute(flow, settings)` only swaps the task runner.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, TypeVar
from urllib.parse import urlsplit

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from xsell.errors import XsellError
from xsell.settings import Settings

log = logging.getLogger(__name__)

F = TypeVar("F")


class ComputeError(XsellError, RuntimeError):
    """The configured compute backend cannot be used; the message names the setting and what failed."""

    exit_code = 1


def check_scheduler(address: str, timeout_seconds: float) -> None:
    """Refuse a Dask scheduler address where nothing accepts a connection (ComputeError naming the address)."""
    parts = urlsplit(address)
    if not parts.hostname or parts.port is None:
        raise ComputeError(f"compute.dask_address {address!r}: expected tcp://HOST:PORT")
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout_seconds):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ComputeError(
            f"compute.dask_address {address}: no Dask scheduler answers ({reason} within {timeout_seconds:g} s);"
            " start one with `dask scheduler` or correct the address"
        ) from None


def prefect_api_url() -> str | None:
    """The Prefect API this process reports to (PREFECT_API_URL or the active profile); None: a temporary one."""
    from prefect.settings import get_current_settings

    return os.environ.get("PREFECT_API_URL") or get_current_settings().api.url


def local_cluster_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of the `distributed.LocalCluster` a flow run starts when no scheduler address is set."""
    compute = settings.compute
    return {
        "n_workers": compute.n_workers,
        "threads_per_worker": compute.threads_per_worker,
        "processes": compute.processes,
        "memory_limit": compute.memory_limit,
        "dashboard_address": ":0",  # the scheduler's HTTP server (health, dashboard) on a free port
        "local_directory": str(settings.tmp_dir / "dask"),
    }


def task_runner(settings: Settings) -> TaskRunner[Any]:
    """The task runner of `settings.compute`: a one-thread pool (local) or a DaskTaskRunner (address or LocalCluster)."""
    compute = settings.compute
    if compute.backend == "local":
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if compute.dask_address:
        check_scheduler(compute.dask_address, compute.connect_timeout_seconds)
        if not prefect_api_url():
            raise ComputeError(
                f"compute.dask_address {compute.dask_address}: task runs on the Dask workers report to the Prefect"
                " API, and the temporary one of a plain command lives in this process only: set PREFECT_API_URL to"
                " a Prefect server that the workers reach"
            )
        log.info("tasks run on the Dask scheduler at %s", compute.dask_address)
        return DaskTaskRunner(address=compute.dask_address)
    if compute.processes and not prefect_api_url():
        raise ComputeError(
            "compute.processes: worker processes report their task runs to the Prefect API, and the temporary one"
            " of a plain command lives in this process only: set PREFECT_API_URL to a running Prefect server, or"
            " set compute.processes to false"
        )
    kwargs = local_cluster_kwargs(settings)
    log.info("tasks run on a Dask LocalCluster", extra={k: v for k, v in kwargs.items() if v is not None})
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=kwargs)


def on_compute(flow: F, settings: Settings) -> F:
    """The same flow with the task runner of `settings.compute`."""
    return flow.with_options(task_runner=task_runner(settings))  # type: ignore[attr-defined,no-any-return]
