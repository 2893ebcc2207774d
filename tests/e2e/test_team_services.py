"""Team-mode services as an operator meets them: status, idempotent start, authentication, private secrets."""

from __future__ import annotations

import stat
from pathlib import Path

from deploy.team.processes import services_dir
from deploy.team.servers import start_services
from tests.e2e.team import TeamServices, xsell


def test_status_reports_every_service_healthy(team_services: TeamServices) -> None:
    statuses = xsell("services", "status", "--json", services=team_services, home=team_services.settings.home)
    assert isinstance(statuses, list)
    assert [(s["name"], s["healthy"]) for s in statuses] == [("postgres", True), ("mlflow", True), ("prefect", True)]
    assert all(s["pid"] for s in statuses)


def test_a_second_start_restarts_nothing(team_services: TeamServices) -> None:
    before = {s.name: s.pid for s in start_services(team_services.settings)}
    again = start_services(team_services.settings)
    assert {s.name: s.pid for s in again} == before
    assert [s.detail for s in again] == ["already running"] * 3


def test_anonymous_writes_are_refused_and_the_admin_may_write(team_services: TeamServices) -> None:
    # anonymous: no experiment is created, no model registered, nothing read
    status, _ = team_services.mlflow_post("/api/2.0/mlflow/experiments/create", {"name": "anon"}, auth=None)
    assert status == 401
    status, _ = team_services.mlflow_post("/api/2.0/mlflow/registered-models/create", {"name": "anon"}, auth=None)
    assert status == 401
    status, _ = team_services.mlflow_post(
        "/api/2.0/mlflow/experiments/create", {"name": "anon"}, auth=("admin", "wrong password")
    )
    assert status == 401
    # the generated admin credentials work
    status, body = team_services.mlflow_post("/api/2.0/mlflow/experiments/create", {"name": "e2e-admin-write"})
    assert status == 200 and body["experiment_id"]


def test_secrets_stay_in_private_files(team_services: TeamServices) -> None:
    root = services_dir(team_services.settings)
    for name in ("credentials.json", "team.env", "mlflow/basic_auth.ini"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    # the MLflow server's command line carries no database password (ps shows it to every user)
    pid = next(s.pid for s in start_services(team_services.settings, ["mlflow"]) if s.name == "mlflow")
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    assert team_services.credentials.db_password not in cmdline
