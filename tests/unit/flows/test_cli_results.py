"""The flows' results are frozen dataclasses whose `to_dict` keeps the JSON the CLI has always printed."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from flows.cycle import Acted
from flows.features import FeatureBuild
from flows.score import Scored
from flows.simulate import Simulation
from flows.train import Trained
from monitoring.acting import Action
from monitoring.replay import TimelineRow

REGISTERED = {
    "name": "xsell-propensity",
    "version": 3,
    "run_id": "r1",
    "model_uri": "models:/xsell-propensity/3",
    "aliases": ["challenger"],
    "metrics": {"pr_auc": 0.4},
    "experiment_id": "1",
}

PUBLISHED: dict[str, Any] = {
    "run_id": "s1",
    "as_of": "2025-06-30",
    "out": "/s.csv",
    "crm": "/s.crm.jsonl",
    "alerts": "/s.alerts.csv",
    "adoption_path": "/a.md",
    "rows": 10,
    "accounts": 4,
    "tiers": {"ready_now": 1, "building": 2, "not_ready": 7},
    "alert_rows": 1,
    "previous_as_of": None,
    "model_name": "xsell-propensity",
    "model_version": 2,
    "model_uri": "models:/xsell-propensity@champion",
    "tier_policy": "model",
    "seconds": {"total": 1.0},
}


def test_a_training_reads_by_attribute_and_prints_the_registration_then_the_plan() -> None:
    trained = Trained(**{**REGISTERED, "aliases": ("challenger",)}, plan="3 folds")
    assert trained.version == 3 and trained.aliases == ("challenger",)
    assert trained.registration() == REGISTERED
    assert list(trained.to_dict()) == [*REGISTERED, "plan"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        trained.version = 4  # type: ignore[misc]


def test_a_scoring_keeps_the_published_keys_then_shadow_realised_gates() -> None:
    scored = Scored(**PUBLISHED)
    assert list(scored.to_dict()) == [*PUBLISHED, "shadow", "realised", "gates"]
    shadowed = dataclasses.replace(scored, shadow={"psi": 0.1}, realised=[], gates=None)
    assert shadowed.to_dict()["shadow"] == {"psi": 0.1} and shadowed.rows == 10
    # and a publication summary with a key the result does not know is refused, not dropped
    with pytest.raises(TypeError):
        Scored(**PUBLISHED, unknown=1)


def test_a_feature_build_prints_its_records_as_a_list() -> None:
    built = FeatureBuild("/w.duckdb", "/c.md", ({"as_of": date(2025, 6, 30), "rows": 5},), 5, 4, 1)
    assert built.to_dict() == {
        "warehouse": "/w.duckdb",
        "catalog": "/c.md",
        "snapshots": [{"as_of": date(2025, 6, 30), "rows": 5}],
        "rows": 5,
        "labelled_rows": 4,
        "positives": 1,
    }


def test_an_action_prints_the_planned_action_then_event_and_training() -> None:
    acted = Acted(Action("defer", "rollback", "no previous champion"), event={"action": "rollback_deferred"})
    assert (acted.kind, acted.reason) == ("defer", "no previous champion")
    assert acted.to_dict() == {
        "kind": "defer",
        "decision": "rollback",
        "reason": "no previous champion",
        "event": {"action": "rollback_deferred"},
        "trained": None,
    }


def test_a_simulation_summary_leaves_the_rows_out() -> None:
    row = TimelineRow(**{f.name: None for f in dataclasses.fields(TimelineRow)})
    simulation = Simulation("/t.csv", "/t.png", "/t.html", "/sim", ("2025-06-30",), (row,))
    assert list(simulation.summary()) == ["timeline", "plot", "html", "simulation_home", "months_run"]
    assert simulation.to_dict()["rows"] == [row.to_dict()] and simulation.to_dict()["months_run"] == ["2025-06-30"]
