"""Alias moves on a real MLflow store: promote and rollback move champion, challenger and previous champion and
are recorded (warehouse and version tags); a move made directly in MLflow is honoured and recorded; a promote
or rollback failing half-way leaves the old champion serving, and reconcile repairs what it left behind."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from mlflow import MlflowClient

from registry.aliases import AliasState, current_aliases, promote, reconcile, rollback
from registry.audit import read_alias_state, read_events, verify_audit_log
from registry.errors import RegistryError
from registry.gates import maybe_promote, promote_version
from serving.shadow import shadow_run_count
from tests.unit.registry.governance import client_of
from xsell.settings import Settings, load_settings


def actions(settings: Settings) -> list[str]:
    return [e.action for e in read_events(settings)]


def fail_alias_writes(monkeypatch: pytest.MonkeyPatch, *, alias: str, then_all: bool = False) -> None:
    """Make MLflow refuse to set `alias` (a crash at that step); with `then_all`, every alias write after it too."""
    real_set = MlflowClient.set_registered_model_alias
    real_delete = MlflowClient.delete_registered_model_alias
    broken = {"on": False}

    def set_alias(self: Any, name: str, target: str, version: str) -> None:
        if target == alias or broken["on"]:
            broken["on"] = then_all
            raise OSError(f"connection lost while setting {target}")
        real_set(self, name, target, version)

    def delete_alias(self: Any, name: str, target: str) -> None:
        if broken["on"]:
            raise OSError(f"connection lost while deleting {target}")
        real_delete(self, name, target)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", set_alias)
    monkeypatch.setattr(MlflowClient, "delete_registered_model_alias", delete_alias)


def test_registrations_were_recorded_with_the_aliases_they_set(governed: Settings) -> None:
    assert current_aliases(governed) == AliasState(champion=1, challenger=3, previous_champion=None)
    assert actions(governed) == ["register", "register", "register"]
    assert read_alias_state(governed) == {"champion": 1, "challenger": 3}
    assert reconcile(governed) == []  # nothing moved outside xsell


def test_promote_moves_champion_keeps_the_previous_and_clears_the_challenger(governed: Settings) -> None:
    event = promote(governed, 3, "better on recent data", "alice")
    assert current_aliases(governed) == AliasState(champion=3, challenger=None, previous_champion=1)
    assert (event.action, event.from_version, event.to_version, event.actor) == ("promote", 1, 3, "alice")
    assert event.evidence["aliases_before"] == {"champion": 1, "challenger": 3, "previous_champion": None}
    assert read_alias_state(governed) == {"champion": 3, "challenger": None, "previous_champion": 1}
    tags = client_of(governed).get_model_version(governed.registry.model_name, "3").tags
    assert tags[f"audit.{event.seq:06d}"] == event.summary()
    assert verify_audit_log(governed) == []


def test_rollback_returns_to_the_previous_champion(governed: Settings) -> None:
    promote(governed, 3, "try v3")
    event = rollback(governed, "v3 converts worse", "bob")
    assert current_aliases(governed) == AliasState(champion=1, challenger=None, previous_champion=None)
    assert (event.action, event.from_version, event.to_version) == ("rollback", 3, 1)
    assert actions(governed)[-2:] == ["promote", "rollback"]


def test_errors_name_what_is_missing(governed: Settings) -> None:
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(governed, "nothing to go back to")
    with pytest.raises(RegistryError, match="has no version 42"):
        promote(governed, 42, "typo")
    with pytest.raises(RegistryError, match="version 1 is already the champion"):
        promote(governed, 1, "again")
    client_of(governed).delete_registered_model_alias(governed.registry.model_name, governed.registry.challenger_alias)
    with pytest.raises(RegistryError, match="has no challenger"):
        promote_version(governed, shadow_runs=partial(shadow_run_count, governed))
    assert current_aliases(governed).champion == 1


def test_a_champion_moved_in_mlflow_is_honoured_and_recorded(governed: Settings) -> None:
    # given someone moves the champion to v2 in the MLflow UI
    client_of(governed).set_registered_model_alias(governed.registry.model_name, "champion", "2")
    # when xsell next looks
    events = reconcile(governed)
    # then the move stands, is recorded once, and v1 becomes the previous champion to roll back to
    assert [(e.action, e.from_version, e.to_version) for e in events] == [("alias_moved_externally", 1, 2)]
    assert events[0].actor.startswith("outside xsell") and events[0].outcome.startswith("honoured: v2 serves")
    assert current_aliases(governed) == AliasState(champion=2, challenger=3, previous_champion=1)
    assert reconcile(governed) == []
    assert rollback(governed, "undo the UI move").to_version == 1


def test_an_interrupted_promote_leaves_the_old_champion_serving(
    governed: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given v2 was promoted once (previous champion v1), and the champion write will fail
    promote(governed, 2, "first promotion")
    fail_alias_writes(monkeypatch, alias="champion")
    # when v3 is promoted
    with pytest.raises(OSError, match="setting champion"):
        promote(governed, 3, "second promotion")
    # then v2 still serves, the previous champion is v1 again, and the failure is recorded
    assert current_aliases(governed) == AliasState(champion=2, challenger=3, previous_champion=1)
    failed = read_events(governed)[-1]
    assert (failed.action, failed.from_version, failed.to_version) == ("promote_failed", 2, 3)
    assert "v2 still serves" in failed.outcome and "OSError" in failed.evidence["error"]


def test_reconcile_repairs_a_promote_killed_after_its_first_write(
    governed: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given v2 champion, v1 previous; a promote of v3 dies at the champion write and nothing after it runs
    promote(governed, 2, "first promotion")
    with monkeypatch.context() as patch:
        fail_alias_writes(patch, alias="champion", then_all=True)
        with pytest.raises(OSError):
            promote(governed, 3, "dies half-way")
    assert current_aliases(governed) == AliasState(champion=2, challenger=3, previous_champion=2)
    # when xsell next looks, the old champion still serves and the previous champion is put back
    events = reconcile(governed)
    assert [(e.action, e.to_version) for e in events] == [("alias_repaired", 1)]
    assert current_aliases(governed) == AliasState(champion=2, challenger=3, previous_champion=1)


def test_an_interrupted_rollback_leaves_the_current_champion_serving(
    governed: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    promote(governed, 3, "try v3")
    with monkeypatch.context() as patch:
        fail_alias_writes(patch, alias="champion")
        with pytest.raises(OSError):
            rollback(governed, "dies before the champion write")
    assert current_aliases(governed) == AliasState(champion=3, challenger=None, previous_champion=1)
    assert actions(governed)[-1] == "rollback_failed"
    # a rollback that moved the champion but could not clear the previous-champion alias is tidied by reconcile
    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "delete_registered_model_alias", _refuse_delete)
        event = rollback(governed, "champion moves, clearing fails")
    assert event.action == "rollback" and "not cleared" in event.outcome
    assert current_aliases(governed) == AliasState(champion=1, challenger=None, previous_champion=1)
    assert [e.action for e in reconcile(governed)] == ["alias_repaired"]
    assert current_aliases(governed) == AliasState(champion=1, challenger=None, previous_champion=None)


def _refuse_delete(self: Any, name: str, alias: str) -> None:
    raise OSError(f"connection lost while deleting {alias}")


def test_promote_version_by_mode(governed: Settings) -> None:
    # enabled (default): no warehouse to evaluate on, so the gates cannot pass: refused and recorded
    refused = promote_version(governed, reason="no evidence", shadow_runs=partial(shadow_run_count, governed))
    assert not refused.promoted and refused.event.action == "refuse"
    assert "could not be evaluated" in refused.event.outcome and current_aliases(governed).champion == 1
    # forced: promoted, the missing evaluation on record
    forced = promote_version(governed, reason="hotfix", force=True, shadow_runs=partial(shadow_run_count, governed))
    assert forced.promoted and forced.event.outcome == "promoted by force; gates not evaluated"
    assert "gates_error" in forced.event.evidence
    # disabled: promoted without evaluation
    disabled = load_settings(home=governed.home, **{"registry.gates.mode": "disabled"})
    assert (
        promote_version(disabled, 2, "gates off", shadow_runs=partial(shadow_run_count, disabled)).event.outcome
        == "promoted (gates disabled)"
    )
    assert current_aliases(governed) == AliasState(champion=2, challenger=None, previous_champion=3)


def test_maybe_promote_waits_for_mode_and_shadow_runs(governed: Settings) -> None:
    disabled = load_settings(home=governed.home, **{"registry.gates.mode": "disabled"})
    assert maybe_promote(disabled, "shadow run 2025-08-31", partial(shadow_run_count, disabled)) is None
    assert (
        maybe_promote(governed, "shadow run 2025-08-31", partial(shadow_run_count, governed)) is None
    )  # v3 has no shadow run yet
    assert actions(governed) == ["register", "register", "register"]
    assert current_aliases(governed).champion == 1
