"""Fixtures of the end-to-end tests (marker `e2e`, run by `make e2e`): real team-mode services and one full cycle.

Session fixtures, shared by every e2e test (services start once, ~1-2 minutes; the cycle runs once, ~6-10 minutes):

- `team_services` -> `TeamServices`: PostgreSQL, the MLflow server (basic-auth) and the Prefect server started by
  `deploy.team.servers.start_services` on free loopback ports, homed in a temporary folder; stopped at the end of the
  session (the teardown fails when a process of theirs is left). Gives `settings`, `credentials` (MLflow admin and
  database passwords), `env` (the team-mode variables of `HOME/services/team.env`), `mlflow_url`, `prefect_url`,
  `optuna_url`, and helpers `mlflow_get/mlflow_post` (authenticated REST calls) and `prefect_post`.
- `team_cycle` -> `TeamCycle`: one full cycle run through the real `xsell` CLI in team mode against those services:
  generate (300 accounts) -> consolidate -> train a champion as of `champion_as_of` -> train a challenger at the
  data end with `--workers 2` (two tuning processes on one study in PostgreSQL) -> score -> monitor -> report.
  Gives the home, the as-of dates, the commands' JSON outputs and `workers_study` (the distributed study's name).
  The registered model then has `champion` (v1) and `challenger` (v2) aliases, model cards and plots in MLflow,
  flow runs on the Prefect server, a drift report and the governance site under `home/reports/`.
- `e2e_output` -> Path: `tests/e2e/output/` (gitignored), where screenshots and other test outputs go.

Function fixtures: `team_mode` puts this process's environment in team mode (monkeypatched, restored after).
Helpers: `xsell(*args, services, home, timeout)` runs the CLI in a subprocess with the team environment.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.team.credentials import load_credentials, team_env
from deploy.team.servers import service_status, start_services, stop_services
from tests.e2e.team import (
    ACCOUNTS,
    CHAMPION_AS_OF,
    DATA_END,
    OUTPUT,
    TRIALS,
    WORKER_TRIALS,
    TeamCycle,
    TeamServices,
    free_port,
    model_versions,
    still_running,
    xsell,
)
from xsell.settings import ENV_PREFIX, load_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e/ carries the `e2e` marker (deselected by `make test`, run by `make e2e`)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def e2e_output() -> Path:
    """tests/e2e/output/ (gitignored): screenshots and other outputs of the e2e tests."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def team_services() -> Iterator[TeamServices]:
    """PostgreSQL, MLflow (basic-auth) and Prefect servers on free loopback ports for the whole session."""
    # PostgreSQL runs as the OS user `postgres` when we are root: its home must be enterable (pytest's tmp is 0700)
    root = Path(tempfile.mkdtemp(prefix="xsell-e2e-"))
    root.chmod(0o755)
    settings = load_settings(
        home=root / "home",
        **{
            "services.postgres_port": free_port(),
            "services.mlflow_port": free_port(),
            "services.prefect_port": free_port(),
            "services.start_timeout_seconds": 420.0,
        },
    )
    try:
        started = time.monotonic()
        statuses = start_services(settings)
        print(f"services started in {time.monotonic() - started:.0f} s: {[s.to_dict() for s in statuses]}")
        assert all(s.healthy for s in statuses), statuses
        creds = load_credentials(settings)
        yield TeamServices(settings, creds, team_env(settings, creds), root)
    finally:
        pids = [s.pid for s in service_status(settings) if s.pid]
        stop_services(settings)
        left = still_running(pids)
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"service processes left after stop: {left}"


@pytest.fixture
def team_mode(team_services: TeamServices, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's environment in team mode (MLflow server + credentials, Prefect API, Optuna on PostgreSQL)."""
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for key, value in team_services.env.items():
        monkeypatch.setenv(key, value)
    return team_services.env


@pytest.fixture(scope="session")
def team_cycle(team_services: TeamServices) -> TeamCycle:
    """generate -> consolidate -> train champion -> train challenger with 2 tuning workers -> score -> monitor ->
    report, through the CLI in team mode; the distributed training's study name is read from its MLflow run."""
    home = team_services.root / "cycle-home"
    raw = team_services.root / "raw"
    seconds: dict[str, float] = {}

    def step(label: str, *args: str, **kwargs: Any) -> Any:
        started = time.monotonic()
        out = xsell(*args, services=team_services, home=home, **kwargs)
        seconds[label] = round(time.monotonic() - started, 1)
        return out

    step("generate", "generate", "--out", str(raw), "--accounts", str(ACCOUNTS), "--seed", "5")
    step("consolidate", "consolidate", "--raw", str(raw))
    champion = step("train_champion", "train", "--as-of", CHAMPION_AS_OF, "--trials", str(TRIALS))
    model = champion["name"]
    before = model_versions(team_services, model)
    challenger = step(
        "train_workers",
        "train",
        "--trials",
        str(WORKER_TRIALS),
        "--workers",
        "2",
        env={"XSELL_TRAINING__N_JOBS": "1", "XSELL_TRAINING__NUM_THREADS": "1"},
    )
    scored = step("score", "score", "--as-of", DATA_END, "--out", str(home / "scores" / f"scores-{DATA_END}.csv"))
    monitored = step("monitor", "monitor", "--as-of", DATA_END, "--no-act")
    report = step("report", "report")
    status, run = team_services.mlflow_get(f"/api/2.0/mlflow/runs/get?run_id={challenger['run_id']}")
    assert status == 200, run
    params = {p["key"]: p["value"] for p in run["run"]["data"].get("params", [])}
    study = params.get("optuna.study_name")
    assert study, f"no optuna.study_name among the run's params: {sorted(params)}"
    print(f"team cycle step seconds: {seconds}")
    return TeamCycle(
        home=home,
        raw=raw,
        data_end=DATA_END,
        champion_as_of=CHAMPION_AS_OF,
        champion=champion,
        challenger=challenger,
        scored=scored,
        monitored=monitored,
        report=report,
        workers_study=study,
        versions_before_workers=before,
        seconds=seconds,
    )
