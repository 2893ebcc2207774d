"""`xsell ui`'s servers without starting MLflow or Prefect: what is planned for a home, refusals before anything
starts, a server that dies while serving, and stopping a process group kept in the caller's session."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import make_settings

from deploy.team import ui
from deploy.team.processes import ServiceError, group_alive, log_file, pid_file, spawn
from deploy.team.ui import UiPlan, UiServer, choose_port, plan_ui, serve_until, start_ui, stop_ui
from xsell.settings import Settings


@pytest.fixture
def no_servers(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    """No tracking server or Prefect server configured in the developer's shell."""
    for name in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "PREFECT_API_DATABASE_CONNECTION_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _with_store(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path / "home")
    settings.home.mkdir(parents=True)
    (settings.home / "mlflow.db").write_bytes(b"")  # plan_ui only looks for the file
    return settings


def test_a_home_without_an_mlflow_store_is_refused_in_one_line(tmp_path: Path, no_servers: None) -> None:
    settings = make_settings(tmp_path / "home")
    with pytest.raises(ServiceError, match=r"no MLflow store at .*mlflow\.db yet: run `xsell demo` or `xsell train`"):
        plan_ui(settings)


def test_a_taken_port_is_named(tmp_path: Path, no_servers: None, listening: int) -> None:
    with pytest.raises(ServiceError, match=f"mlflow UI: port {listening} on 127.0.0.1 is taken.*--mlflow-port"):
        plan_ui(_with_store(tmp_path), mlflow_port=listening)
    with pytest.raises(ServiceError, match=f"prefect UI: port {listening} on 127.0.0.1 is taken.*--prefect-port"):
        plan_ui(_with_store(tmp_path / "other"), prefect_port=listening)


def test_the_usual_port_is_used_unless_taken(monkeypatch: pytest.MonkeyPatch, listening: int) -> None:
    monkeypatch.setitem(ui.PREFERRED_PORTS, "mlflow", listening)
    chosen = choose_port("127.0.0.1", "mlflow", None)
    assert chosen != listening and 1024 <= chosen <= 65535
    free = ui.free_port("127.0.0.1")
    monkeypatch.setitem(ui.PREFERRED_PORTS, "mlflow", free)
    assert choose_port("127.0.0.1", "mlflow", None) == free


def test_the_embedded_store_is_served_and_prefect_only_on_request(
    tmp_path: Path, no_servers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _with_store(tmp_path)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "ph"))  # what the CLI sets under the home
    (mlflow,) = plan_ui(settings, mlflow_port=ui.free_port("127.0.0.1"))
    assert mlflow.name == "mlflow" and mlflow.url is None and mlflow.port is not None
    assert mlflow.store == f"sqlite:///{(settings.home / 'mlflow.db').resolve()}"
    prefect = plan_ui(settings, prefect=True)[1]
    assert prefect.name == "prefect" and prefect.port is not None
    assert prefect.store == str((tmp_path / "ph" / "prefect.db").resolve())


def test_running_servers_are_pointed_at_not_started(
    tmp_path: Path, no_servers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given team mode: a tracking server and a Prefect server named in the environment (no local store needed)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999/")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4999/api")
    plans = plan_ui(make_settings(tmp_path / "home"), prefect=True)
    assert plans == [
        UiPlan("mlflow", "http://127.0.0.1:5999/", url="http://127.0.0.1:5999"),
        UiPlan("prefect", "http://127.0.0.1:4999/api", url="http://127.0.0.1:4999"),
    ]
    # when nothing answers there, then the error names the address and how to start it
    with pytest.raises(ServiceError, match=r"mlflow UI at http://127\.0\.0\.1:5999 does not answer .*services start"):
        start_ui(make_settings(tmp_path / "home"), plans)


def test_a_database_password_is_not_printed(tmp_path: Path, no_servers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://xsell:s3cret@127.0.0.1:5433/mlflow")
    (plan,) = plan_ui(make_settings(tmp_path / "home"), mlflow_port=ui.free_port("127.0.0.1"))
    assert "s3cret" not in plan.store and plan.store == "postgresql://xsell:***@127.0.0.1:5433/mlflow"


def _spawn(settings: Settings, name: str, script: str) -> UiServer:
    log = log_file(settings, f"{name}-ui")
    pid = spawn(
        [sys.executable, "-c", script], dict(os.environ), log, pid_file(settings, f"{name}-ui"), own_session=False
    )
    return UiServer(name, "http://127.0.0.1:1", "test", pid, log)


def test_a_server_that_dies_while_serving_is_reported_with_its_log(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    server = _spawn(settings, "mlflow", "import time; print('database is locked', flush=True); time.sleep(1)")
    started = time.monotonic()
    with pytest.raises(ServiceError, match=r"(?s)mlflow UI exited; last lines of .*database is locked"):
        serve_until(threading.Event(), [server], poll=0.1)
    assert time.monotonic() - started < 30


def test_stopping_ends_each_group_in_this_session_and_its_pid_file(tmp_path: Path) -> None:
    # given two servers in this session, each in a group of its own, one with a child (like uvicorn's worker)
    settings = make_settings(tmp_path / "home")
    child = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])"
    servers = [
        _spawn(settings, "mlflow", f"{child}; time.sleep(300)"),
        _spawn(settings, "prefect", "import time; time.sleep(300)"),
    ]
    for server in servers:
        assert server.pid is not None
        assert os.getsid(server.pid) == os.getsid(0) and os.getpgid(server.pid) == server.pid
    # when serving is asked to stop, then it returns; and stopping leaves no process of either group, nor pid files
    stop = threading.Event()
    stop.set()
    serve_until(stop, servers)
    stop_ui(settings, servers)
    assert not any(group_alive(server.pid) for server in servers if server.pid is not None)
    assert not pid_file(settings, "mlflow-ui").exists() and not pid_file(settings, "prefect-ui").exists()
