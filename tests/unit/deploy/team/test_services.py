"""Team-mode service plumbing that needs no server: credentials, team.env, settings checks, start-up failures.

The servers themselves start in tests/e2e/ (marker e2e, `make e2e`).
"""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.team import services
from deploy.team.services import (
    ServiceError,
    load_credentials,
    service_status,
    start_services,
    stop_services,
    team_env,
    write_team_env,
)
from xsell.settings import Settings, SettingsError, load_settings


def _settings(tmp_path: Path, **more: object) -> Settings:
    return load_settings(home=tmp_path / "home", **more)  # type: ignore[arg-type]


def test_credentials_are_generated_once_and_private(tmp_path: Path, clean_env: None) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(ServiceError, match="xsell services start"):
        load_credentials(settings)
    first = load_credentials(settings, create=True)
    again = load_credentials(settings, create=True)
    assert first == again and len(first.mlflow_admin_password) >= 24
    path = settings.home.resolve() / "services" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_team_env_names_every_server_and_is_private(tmp_path: Path, clean_env: None) -> None:
    settings = _settings(tmp_path, **{"services.mlflow_port": 5111, "services.postgres_port": 5444})
    creds = load_credentials(settings, create=True)
    env = team_env(settings, creds)
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5111"
    assert env["MLFLOW_TRACKING_USERNAME"] == "admin"
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert env["XSELL_TRAINING__OPTUNA_STORAGE"].endswith("@127.0.0.1:5444/optuna")
    path = write_team_env(settings, creds)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the file is what a shell sources: each variable exported with its value
    printed = subprocess.run(
        ["bash", "-c", f". {path} && echo $MLFLOW_TRACKING_URI $XSELL_TRAINING__OPTUNA_STORAGE"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert printed == [env["MLFLOW_TRACKING_URI"], env["XSELL_TRAINING__OPTUNA_STORAGE"]]


def test_services_listen_on_loopback_only(clean_env: None) -> None:
    with pytest.raises(SettingsError, match=r"services\.host"):
        load_settings(**{"services.host": "0.0.0.0"})


def test_a_taken_port_is_named_before_anything_starts(tmp_path: Path, clean_env: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        settings = _settings(tmp_path, **{"services.postgres_port": port})
        with pytest.raises(ServiceError, match=f"postgres: port {port} on 127.0.0.1 is taken"):
            start_services(settings, ["postgres"])
    assert not (settings.home / "services" / "postgres" / "data").exists()


def test_missing_binaries_and_unknown_services_are_named(tmp_path: Path, clean_env: None) -> None:
    with pytest.raises(ServiceError, match="holds no pg_ctl"):
        services.postgres_bin_dir(_settings(tmp_path, **{"services.postgres_bin": str(tmp_path)}))
    with pytest.raises(ServiceError, match=r"unknown service\(s\) \['redis'\]"):
        start_services(_settings(tmp_path), ["redis"])


def test_status_and_stop_of_nothing_running(tmp_path: Path, clean_env: None) -> None:
    settings = _settings(tmp_path)
    assert [(s.name, s.pid, s.healthy, s.detail) for s in service_status(settings)] == [
        ("postgres", None, False, "not running"),
        ("mlflow", None, False, "not running"),
        ("prefect", None, False, "not running"),
    ]
    assert [s.detail for s in stop_services(settings)] == ["not running"] * 3


def test_a_server_that_dies_at_start_is_reported_with_its_log(tmp_path: Path, clean_env: None) -> None:
    # given a server command that prints and exits at once
    log_path, pid_path = tmp_path / "x.log", tmp_path / "x.pid"
    pid = services._spawn(
        [sys.executable, "-c", "print('bad config: no database'); raise SystemExit(3)"], {}, log_path, pid_path
    )
    # then waiting for it fails with its log's tail, not after the timeout
    started = time.monotonic()
    with pytest.raises(ServiceError, match=r"(?s)exited during start-up.*bad config: no database"):
        services._wait_until(lambda: False, timeout=60, what="mlflow", pid=pid, log_path=log_path)
    assert time.monotonic() - started < 30
    assert services._read_pid(pid_path) == pid


def test_stopping_a_group_ends_its_children(tmp_path: Path) -> None:
    # given a server whose process started a child (like uvicorn workers)
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); time.sleep(300)"
    pid = services._spawn([sys.executable, "-c", script], {}, tmp_path / "g.log", tmp_path / "g.pid")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_group(pid)) < 2:
        time.sleep(0.1)
    assert len(_group(pid)) == 2
    # when its group is stopped, then no process of it is left
    services._stop_group("demo", pid, timeout=10)
    assert not services._group_alive(pid)


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


def test_the_prefect_ui_is_told_its_servers_address(tmp_path: Path, clean_env: None) -> None:
    # the UI assumes port 4200 unless told; on another port it would show "Can't connect to Server API"
    settings = _settings(tmp_path, **{"services.prefect_port": 4311})
    argv, env = services._prefect_argv(settings, load_credentials(settings, create=True))
    assert argv[-2:] == ["--port", "4311"]
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4311/api"
