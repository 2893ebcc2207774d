"""Team-mode services without a real server: settings checks, start-up refusals, status and stop of nothing,
the servers' command lines.

The servers themselves start in tests/e2e/ (marker e2e, `make e2e`).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deploy.team.credentials import load_credentials
from deploy.team.processes import ServiceError
from deploy.team.servers import prefect_argv, service_status, start_services, stop_services
from xsell.settings import Settings, SettingsError, load_settings


def _settings(tmp_path: Path, **more: object) -> Settings:
    return load_settings(home=tmp_path / "home", **more)  # type: ignore[arg-type]


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


def test_unknown_services_are_named(tmp_path: Path, clean_env: None) -> None:
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


def test_the_prefect_ui_is_told_its_servers_address(tmp_path: Path, clean_env: None) -> None:
    # the UI assumes port 4200 unless told; on another port it would show "Can't connect to Server API"
    settings = _settings(tmp_path, **{"services.prefect_port": 4311})
    argv, env = prefect_argv(settings, load_credentials(settings, create=True))
    assert argv[-2:] == ["--port", "4311"]
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4311/api"
