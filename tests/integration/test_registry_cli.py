"""`xsell registry` end to end on a real MLflow store and warehouse (no training: three versions of one small
logged model): status and history as JSON, a refusal, a forced promotion, a rollback, a move made in MLflow,
and one-line errors with exit code 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from flows.cli import app
from tests.unit.registry.conftest import mlflow_env
from tests.unit.registry.factories import DATES, TinyPropensityModel, make_feature_rows, make_training_result
from tests.unit.registry.governance import client_of, copy_home, register_three_versions
from xsell.settings import Settings, load_settings

runner = CliRunner()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose registry holds v1 (champion) to v3 (challenger) of one small logged model."""
    rows = make_feature_rows()
    model = TinyPropensityModel(random_state=0).fit(rows[rows["as_of"].isin(DATES[:-2])])
    home = tmp_path_factory.mktemp("registry-cli") / "home"
    home.mkdir()
    with mlflow_env():
        register_three_versions(load_settings(home=home), make_training_result(model, rows))
    return home


@pytest.fixture
def governed(tmp_path: Path, template: Path) -> Iterator[Settings]:
    """A copy of the template's registry and warehouse per test."""
    with mlflow_env():
        yield copy_home(template, tmp_path / "home")


def xsell(home: Path, *args: str) -> Result:
    return runner.invoke(app, ["--home", str(home), "--no-progress", "registry", *args])


def as_json(result: Result) -> Any:
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_status_promote_refusal_rollback_and_history(governed: Settings) -> None:
    home = governed.home
    # status: integer versions, null when unset
    status = as_json(xsell(home, "status", "--json"))
    assert (status["champion"], status["challenger"], status["previous_champion"]) == (1, 3, None)
    assert all(type(status[k]) is int for k in ("champion", "challenger"))
    assert [v["version"] for v in status["versions"]] == [3, 2, 1]
    # promote with enabled gates but nothing to evaluate on: refused, recorded, exit 1
    refused = xsell(home, "promote", "--reason", "looks good")
    assert refused.exit_code == 1 and "refused" in refused.stderr
    assert as_json(refused)["promoted"] is False
    # forced: v3 serves, v1 is the previous champion
    forced = xsell(home, "promote", "--reason", "hotfix", "--force")
    assert forced.exit_code == 0, forced.output
    assert as_json(forced)["event"]["to_version"] == 3
    status = as_json(xsell(home, "status", "--json"))
    assert (status["champion"], status["challenger"], status["previous_champion"]) == (3, None, 1)
    # rollback: v1 serves again
    back = xsell(home, "rollback", "--reason", "v3 converts worse")
    assert back.exit_code == 0 and as_json(back)["to_version"] == 1
    # history: every decision, oldest first, with the agreed keys
    history = as_json(xsell(home, "history", "--json"))
    assert [e["action"] for e in history] == ["register", "register", "register", "refuse", "promote", "rollback"]
    assert all({"at", "action", "from_version", "to_version", "reason"} <= set(e) for e in history)
    assert (history[-1]["from_version"], history[-1]["to_version"], history[-1]["reason"]) == (
        3,
        1,
        "v3 converts worse",
    )
    text = xsell(home, "history")
    assert text.exit_code == 0 and "rollback" in text.stdout


def test_a_move_in_mlflow_shows_in_status_and_history(governed: Settings) -> None:
    client_of(governed).set_registered_model_alias(governed.registry.model_name, "champion", "2")
    shown = xsell(governed.home, "status")
    assert shown.exit_code == 0, shown.output
    assert "recorded:" in shown.stderr and "alias_moved_externally" in shown.stderr
    assert "champion           v2" in shown.stdout and "previous champion  v1" in shown.stdout
    last = as_json(xsell(governed.home, "history", "--json", "--limit", "1"))
    assert [(e["action"], e["from_version"], e["to_version"]) for e in last] == [("alias_moved_externally", 1, 2)]


def test_errors_are_one_line_with_exit_code_2(governed: Settings) -> None:
    cases = {
        ("rollback",): "has no previous champion",
        ("promote", "--version", "42"): "has no version 42",
        ("promote", "--version", "1"): "version 1 is already the champion",
    }
    for args, message in cases.items():
        result = xsell(governed.home, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert "Traceback" not in result.output
    client_of(governed).delete_registered_model_alias(governed.registry.model_name, "challenger")
    result = xsell(governed.home, "promote")
    assert result.exit_code == 2 and "has no challenger" in result.stderr
