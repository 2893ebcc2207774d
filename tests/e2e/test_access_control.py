"""Access control in team mode, against the real MLflow server (basic-auth) and the team cycle's registry: anonymous
calls are refused; only `registry.access.champion_movers` (here an MLflow role) may move the champion through xsell,
the identity being the user the server authenticated (a claimed `registry.actor` changes nothing); a refusal exits
non-zero with the user named and is in the audit trail; a member promotes and rolls back. Users, passwords and the
role are made by the test through the server's admin API; no secret is stored in the repository."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import UI_TIMEOUT_MS, chromium, shot
from tests.e2e.team import TeamCycle, TeamServices, xsell
from xsell.settings import ENV_PREFIX

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "xsell-propensity"
ROLE = "release-managers"
GUARDED = {"XSELL_REGISTRY__ACCESS__CHAMPION_MOVERS": f'["role:{ROLE}"]'}


def run_cli(*args: str, services: TeamServices, home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real `xsell` CLI in team mode with `env` on top (e.g. another MLflow user); not checked."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)} | services.env | env
    command = [sys.executable, "-c", "from flows.cli import run; run()", "--home", str(home), "--no-progress", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=full)


def as_user(user: tuple[str, str]) -> dict[str, str]:
    """The environment of an MLflow user."""
    return {"MLFLOW_TRACKING_USERNAME": user[0], "MLFLOW_TRACKING_PASSWORD": user[1]}


@pytest.fixture(scope="module")
def users(team_services: TeamServices) -> dict[str, tuple[str, str]]:
    """bob (no role) and carol (role release-managers, MANAGE on the model: alias deletes need it), fresh passwords."""
    made = {}
    for name in ("bob", "carol"):
        password = secrets.token_urlsafe(18)
        status, body = team_services.mlflow_post(
            "/api/2.0/mlflow/users/create", {"username": name, "password": password}
        )
        assert status == 200, body
        made[name] = (name, password)
    status, body = team_services.mlflow_post("/api/3.0/mlflow/roles/create", {"workspace": "default", "name": ROLE})
    assert status == 200, body
    role_id = body["role"]["id"]
    status, body = team_services.mlflow_post("/api/3.0/mlflow/roles/assign", {"username": "carol", "role_id": role_id})
    assert status == 200, body
    grant = {"username": "carol", "resource_type": "registered_model", "resource_id": MODEL, "permission": "MANAGE"}
    status, body = team_services.mlflow_post("/api/3.0/mlflow/users/permissions/grant", grant)
    assert status == 200, body
    return made


def test_anonymous_calls_are_refused(team_services: TeamServices, team_cycle: TeamCycle) -> None:
    writes = {
        "/api/2.0/mlflow/experiments/create": {"name": "anonymous"},
        "/api/2.0/mlflow/registered-models/alias": {"name": MODEL, "alias": "champion", "version": "2"},
        "/api/2.0/mlflow/users/create": {"username": "mallory", "password": "x" * 16},
    }
    for path, body in writes.items():
        status, answer = team_services.mlflow_post(path, body, auth=None)
        assert status == 401, f"anonymous POST {path}: {status} {answer}"
        status, answer = team_services.mlflow_post(path, body, auth=("admin", "wrong-password"))
        assert status == 401, f"POST {path} with a wrong password: {status} {answer}"
    status, _ = team_services.mlflow_get(f"/api/2.0/mlflow/registered-models/get?name={MODEL}", auth=None)
    assert status == 401  # reads too
    status, body = team_services.mlflow_get(f"/api/2.0/mlflow/registered-models/get?name={MODEL}")
    assert status == 200 and body["registered_model"]["name"] == MODEL  # the admin is let in
    # and the UI asks a browser without credentials to log in: the page is not shown (headless Chromium cannot
    # answer the basic-auth challenge and gives up), the server's answer is 401 with a Basic challenge
    from playwright.sync_api import Error as PlaywrightError

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1200, "height": 700})
        context.set_default_timeout(UI_TIMEOUT_MS)
        page = context.new_page()
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            page.goto(team_services.mlflow_url + "/")
        shot(page, "20-mlflow-ui-anonymous-refused")
        answer = context.request.get(team_services.mlflow_url + "/")
        assert answer.status == 401 and answer.headers["www-authenticate"].lower().startswith("basic")
        context.close()


def test_a_user_without_edit_permission_cannot_move_an_alias_on_the_server(
    team_services: TeamServices, team_cycle: TeamCycle, users: dict[str, tuple[str, str]]
) -> None:
    body = {"name": MODEL, "alias": "champion", "version": "2"}
    status, answer = team_services.mlflow_post("/api/2.0/mlflow/registered-models/alias", body, auth=users["bob"])
    assert status == 403, answer  # default permission READ: authenticated, not allowed to write


def events(services: TeamServices, home: Path) -> list[dict[str, Any]]:
    """`xsell registry history --json` as the admin."""
    found = xsell("registry", "history", "--json", services=services, home=home)
    assert isinstance(found, list)
    return found


@pytest.fixture
def restore_aliases(team_services: TeamServices, team_cycle: TeamCycle) -> Iterator[None]:
    """Afterwards v1 is champion and v2 challenger again, as the cycle left them, for the other e2e tests."""
    yield
    body = {"name": MODEL, "alias": "champion", "version": "1"}
    assert team_services.mlflow_post("/api/2.0/mlflow/registered-models/alias", body)[0] == 200
    body = {"name": MODEL, "alias": "challenger", "version": "2"}
    assert team_services.mlflow_post("/api/2.0/mlflow/registered-models/alias", body)[0] == 200
    xsell("registry", "status", "--json", services=team_services, home=team_cycle.home)


def test_only_the_configured_group_moves_the_champion_through_xsell(
    team_services: TeamServices,
    team_cycle: TeamCycle,
    users: dict[str, tuple[str, str]],
    restore_aliases: None,
) -> None:
    home = team_cycle.home
    # bob is not in the role; claiming to be carol through registry.actor changes nothing (the server says who he is)
    env = (
        GUARDED | as_user(users["bob"]) | {"XSELL_REGISTRY__ACTOR": "carol", "XSELL_REGISTRY__GATES__MODE": "disabled"}
    )
    refused = run_cli(
        "registry", "promote", "--version", "2", "--reason", "bob tries", services=team_services, home=home, env=env
    )
    assert refused.returncode != 0
    assert "bob (MLflow user) is not in registry.access.champion_movers (role:release-managers)" in refused.stderr
    denied = events(team_services, home)[-1]
    assert (denied["action"], denied["from_version"], denied["to_version"]) == ("access_denied", 1, 2)
    assert denied["evidence"]["identity"] == "bob" and denied["evidence"]["source"] == "mlflow"
    status, body = team_services.mlflow_get(f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion")
    assert status == 200 and body["model_version"]["version"] == "1"  # nothing moved

    # carol is in the role: she promotes v2 (gates off here: they are tested elsewhere) and rolls back
    env = GUARDED | as_user(users["carol"]) | {"XSELL_REGISTRY__GATES__MODE": "disabled"}
    promoted = run_cli(
        "registry",
        "promote",
        "--version",
        "2",
        "--reason",
        "carol promotes",
        services=team_services,
        home=home,
        env=env,
    )
    assert promoted.returncode == 0, promoted.stderr[-3000:]
    rolled = run_cli("registry", "rollback", "--reason", "carol rolls back", services=team_services, home=home, env=env)
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    moves = [e for e in events(team_services, home) if e["action"] in ("promote", "rollback")][-2:]
    assert [(e["action"], e["to_version"], e["actor"]) for e in moves] == [
        ("promote", 2, "carol"),
        ("rollback", 1, "carol"),
    ]
    assert moves[0]["evidence"]["identity_roles"] == [ROLE]
    assert all(e["outcome"] in ("promoted (gates disabled)", "rolled back") for e in moves), moves
