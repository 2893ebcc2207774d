"""Settings -> task runner: local runs one task at a time in the flow's process; dask either starts a LocalCluster per
flow run or connects to a scheduler address, which must answer; wrong values are named."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from flows.compute import ComputeError, check_scheduler, on_compute, task_runner
from xsell.settings import Settings, SettingsError, load_settings


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port where something accepts connections (stands where a scheduler would)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def closed_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_default_is_local_one_task_at_a_time(settings: Settings) -> None:
    runner = task_runner(settings)
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 1


def test_dask_without_address_starts_a_local_cluster_from_settings(tmp_path: Path, clean_env: None) -> None:
    # given dask settings from the environment-style dotted keys
    settings = load_settings(
        home=tmp_path,
        **{"compute.backend": "dask", "compute.n_workers": 3, "compute.threads_per_worker": 2},
        **{"compute.memory_limit": "2GB"},
    )
    # when the runner is chosen
    runner = task_runner(settings)
    # then it is a DaskTaskRunner that will start a LocalCluster of that shape under the home's scratch folder
    assert isinstance(runner, DaskTaskRunner) and runner.address is None
    assert runner.cluster_class == "distributed.LocalCluster"
    assert runner.cluster_kwargs == {
        "n_workers": 3,
        "threads_per_worker": 2,
        "processes": False,
        "memory_limit": "2GB",
        "dashboard_address": ":0",
        "local_directory": str(tmp_path / "tmp" / "dask"),
    }


def test_env_selects_a_running_scheduler(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch, listening_port: int
) -> None:
    # given the backend and address set through XSELL_* variables
    address = f"tcp://127.0.0.1:{listening_port}"
    monkeypatch.setenv("XSELL_COMPUTE__BACKEND", "dask")
    monkeypatch.setenv("XSELL_COMPUTE__DASK_ADDRESS", address)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    # when a flow is put on compute
    from flows.features import build_features_flow

    flow = on_compute(build_features_flow, load_settings(home=tmp_path))
    # then the flow is the same one, on a DaskTaskRunner connecting to that address
    assert flow.name == build_features_flow.name and flow.fn is build_features_flow.fn
    assert isinstance(flow.task_runner, DaskTaskRunner) and flow.task_runner.address == address
    assert isinstance(build_features_flow.task_runner, ThreadPoolTaskRunner)  # the module's flow is untouched


def test_unreachable_scheduler_is_named(tmp_path: Path, clean_env: None) -> None:
    address = f"tcp://127.0.0.1:{closed_port()}"
    settings = load_settings(home=tmp_path, **{"compute.backend": "dask", "compute.dask_address": address})
    with pytest.raises(ComputeError, match=rf"compute\.dask_address {address}: no Dask scheduler answers"):
        task_runner(settings)


def test_scheduler_check_accepts_a_listening_port(listening_port: int) -> None:
    check_scheduler(f"tcp://127.0.0.1:{listening_port}", timeout_seconds=2)


def test_malformed_address_fails_at_start_naming_the_key(tmp_path: Path, clean_env: None) -> None:
    with pytest.raises(SettingsError, match=r"compute\.dask_address"):
        load_settings(home=tmp_path, **{"compute.dask_address": "localhost:8786"})


def test_a_scheduler_without_a_prefect_server_is_refused(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch, listening_port: int
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    address = f"tcp://127.0.0.1:{listening_port}"
    settings = load_settings(home=tmp_path, **{"compute.backend": "dask", "compute.dask_address": address})
    with pytest.raises(ComputeError, match=rf"compute\.dask_address {address}: .*set PREFECT_API_URL"):
        task_runner(settings)


def test_worker_processes_without_a_prefect_server_are_refused(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    settings = load_settings(home=tmp_path, **{"compute.backend": "dask", "compute.processes": True})
    with pytest.raises(ComputeError, match="PREFECT_API_URL"):
        task_runner(settings)
