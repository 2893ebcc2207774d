"""Two real trainings in a row on a generated export, then the whole promotion story through `xsell registry`:
a dry-run verdict after shadow runs, a refusal by a gate, a promotion that passes the gates on recent labelled
snapshots, a rollback; all of it in `history --json`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from factories import generated_home
from typer.testing import CliRunner

from features.store import connect_warehouse
from flows.cli import app
from registry.aliases import AliasState, current_aliases
from registry.gates import maybe_promote
from serving.shadow import shadow_run_count
from tasks.training_tasks import log_and_register_task
from tests.unit.registry.governance import client_of, insert_shadow_runs
from training.dataset import labelled_snapshot_dates, load_training_frame
from training.pipeline import train_propensity
from xsell.settings import Settings, load_settings

pytestmark = pytest.mark.slow

runner = CliRunner()
LENIENT = {
    "XSELL_REGISTRY__GATES__MIN_RELATIVE_GAIN": "-1",
    "XSELL_REGISTRY__GATES__ECE_TOLERANCE": "1",
    "XSELL_REGISTRY__GATES__PRODUCT_TOLERANCE": "1",
    "XSELL_REGISTRY__GATES__PARITY_TOLERANCE": "1",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    # given a small generated export, consolidated, trained on twice (3 trials each) through the registering task
    overrides = {
        "training.trials": 3,
        "training.n_jobs": 1,
        "training.num_threads": 2,
        "registry.gates.min_segment_rows": 20,
    }
    with generated_home(tmp_path_factory.mktemp("registry-promotion"), **overrides) as settings:
        con = connect_warehouse(settings)
        try:
            frame = load_training_frame(con, settings)
        finally:
            con.close()
        for run in ("first", "second"):
            log_and_register_task.fn(train_propensity(frame, settings), settings, f"integration: {run}")
        yield settings


def xsell(settings: Settings, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run `xsell --home HOME registry ARGS` with the test's settings variables, plus `env`."""
    variables = {"XSELL_TRAINING__N_JOBS": "1", "XSELL_REGISTRY__GATES__MIN_SEGMENT_ROWS": "20", **(env or {})}
    result = runner.invoke(app, ["--home", str(settings.home), "--no-progress", "registry", *args], env=variables)
    assert result.exit_code in (0, 1), result.output
    return result


def test_two_trainings_then_dry_run_refusal_promotion_and_rollback(trained: Settings) -> None:
    settings = trained
    # two trainings leave champion v1 and challenger v2
    assert current_aliases(settings) == AliasState(champion=1, challenger=2, previous_champion=None)
    status = json.loads(xsell(settings, "status", "--json").stdout)
    assert (status["champion"], status["challenger"], status["previous_champion"]) == (1, 2, None)
    # the challenger was shadow-scored on two as-of dates; in dry_run the verdict is recorded, nothing moves
    con = connect_warehouse(settings, read_only=True)
    try:
        days = labelled_snapshot_dates(con, settings)[-2:]
    finally:
        con.close()
    insert_shadow_runs(settings, challenger=2, champion=1, days=days)
    dry = load_settings(home=settings.home, **{"registry.gates.mode": "dry_run"})
    verdict = maybe_promote(dry, "integration shadow run", partial(shadow_run_count, dry))
    assert verdict is not None and verdict.challenger_version == 2 and current_aliases(settings).champion == 1
    assert (
        verdict.evidence["rows"] > 0 and len(verdict.evidence["eval_dates"]) == settings.registry.gates.eval_snapshots
    )
    # a margin no model can beat: refused, exit 1, v1 still serves
    refused = xsell(
        settings, "promote", "--reason", "too ambitious", env={"XSELL_REGISTRY__GATES__MIN_RELATIVE_GAIN": "10"}
    )
    assert refused.exit_code == 1 and json.loads(refused.stdout)["gates"]["failed"] == ["pr_auc_gain"]
    assert current_aliases(settings).champion == 1
    # lenient gates on recent labelled snapshots: every gate passes and v2 serves
    promoted = xsell(settings, "promote", "--reason", "passes the gates", env=LENIENT)
    result = json.loads(promoted.stdout)
    assert promoted.exit_code == 0 and result["promoted"] and result["gates"]["passed"], result["gates"]
    assert Path(result["gates"]["report_path"]).is_file()
    assert current_aliases(settings) == AliasState(champion=2, challenger=None, previous_champion=1)
    # rollback: v1 serves again
    assert xsell(settings, "rollback", "--reason", "converts worse").exit_code == 0
    assert current_aliases(settings).champion == 1
    # v2 made challenger again in the MLflow UI; in enabled mode the next shadow run promotes it automatically
    client_of(settings).set_registered_model_alias(settings.registry.model_name, "challenger", "2")
    lenient = load_settings(
        home=settings.home, **{k.removeprefix("XSELL_").lower().replace("__", "."): v for k, v in LENIENT.items()}
    )
    automatic = maybe_promote(lenient, "integration shadow run", partial(shadow_run_count, lenient))
    assert automatic is not None and automatic.passed and current_aliases(settings).champion == 2
    history = json.loads(xsell(settings, "history", "--json").stdout)
    assert [e["action"] for e in history] == [
        "register",
        "register",
        "gate_dry_run",
        "refuse",
        "promote",
        "rollback",
        "alias_moved_externally",
        "promote",
    ]
    assert [(e["from_version"], e["to_version"]) for e in history[3:6]] == [(1, 2), (1, 2), (2, 1)]
    assert history[3]["evidence"]["gates"]["checks"][0]["name"] == "pr_auc_gain"
    assert history[-1]["outcome"] == "promoted automatically: all gates passed"
