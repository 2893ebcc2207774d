"""`xsell ui` for real: the MLflow UI on a home's store (and the Prefect UI on its database) answers on loopback,
serves the runs' artifacts, and a SIGTERM or Ctrl+C leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from factories import make_settings

from deploy.team.processes import port_open
from deploy.team.ui import free_port
from tests.unit.registry.factories import QUIET
from xsell.runtime import prepare_environment

pytestmark = pytest.mark.slow


def _store_with_a_run(home: Path) -> str:
    """The home's MLflow store made the way training makes it, holding one run with a file artifact; its run id."""
    from registry.client import registry_client
    from registry.tracking import configure_tracking

    settings = make_settings(home)
    experiment = configure_tracking(settings)
    client = registry_client(settings)
    run = client.create_run(experiment)
    note = home / "note.txt"
    note.write_text("served from the home's artifact root\n")
    client.log_artifact(run.info.run_id, str(note))
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


def _session(sid: int) -> list[str]:
    """The processes of session `sid` (zombies included), as 'pid state command'."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                found.append(f"{entry.name} {fields[0]} {stat.split('(', 1)[1].split(')', 1)[0]}")
    return found


@pytest.mark.parametrize(("stop_signal", "prefect"), [(signal.SIGTERM, True), (signal.SIGINT, False)])
def test_ui_serves_the_homes_store_until_stopped_and_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None, stop_signal: int, prefect: bool
) -> None:
    # given a home whose MLflow store holds a run with an artifact, and no tracking or Prefect server configured
    for key, value in QUIET.items():
        monkeypatch.setenv(key, value)
    for key in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "PREFECT_HOME", "PREFECT_API_DATABASE_CONNECTION_URL"):
        monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    env = dict(os.environ)
    prepare_environment(home)  # this process's own MLflow use, like a command's
    run_id = _store_with_a_run(home)
    mlflow_port, prefect_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    args = ["--mlflow-port", str(mlflow_port)] + (["--prefect-port", str(prefect_port)] if prefect else [])

    # when `xsell ui` runs (its own session, like a terminal's foreground job) until it prints "ready"
    process = subprocess.Popen(
        [sys.executable, "-c", "from flows.cli import run; run()", "--home", str(home), "--no-progress", "ui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if line.startswith("ready"):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(600), "".join(lines)
        text = "".join(lines)
        # then it names each address, and the MLflow REST API and UI page answer on the home's store and artifacts
        assert f"http://127.0.0.1:{mlflow_port}" in text and str(home.resolve() / "mlflow.db") in text
        status, body = _get(f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/experiments/search?max_results=10")
        assert status == 200 and "xsell" in [e["name"] for e in json.loads(body)["experiments"]]
        status, page = _get(f"http://127.0.0.1:{mlflow_port}/")
        assert status == 200 and "<html" in page.lower()
        status, note = _get(f"http://127.0.0.1:{mlflow_port}/get-artifact?path=note.txt&run_uuid={run_id}")
        assert status == 200 and note == "served from the home's artifact root\n"
        if prefect:
            assert f"http://127.0.0.1:{prefect_port}" in text
            assert _get(f"http://127.0.0.1:{prefect_port}/api/health") == (200, "true")
            assert _get(f"http://127.0.0.1:{prefect_port}/")[0] == 200
        running = _session(process.pid)
        assert len(running) >= (4 if prefect else 3), running  # xsell, mlflow server + its uvicorn worker, prefect

        # when it is sent the stop signal
        process.send_signal(stop_signal)
        assert process.wait(timeout=120) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(timeout=10)
    # then it said so, and no process of its session is left (server workers included), nor a listening port
    assert "".join(lines).rstrip().endswith("stopped")
    deadline = time.monotonic() + 10
    while _session(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)  # a zombie reparented to init is reaped by it
    assert _session(process.pid) == []
    assert not port_open("127.0.0.1", mlflow_port) and not port_open("127.0.0.1", prefect_port)
    assert not list((home / "services").glob("*/*.pid"))
