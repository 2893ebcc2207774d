"""Access control on a real MLflow store (embedded mode): only `registry.access.champion_movers` may promote or roll
back, others are refused with an audit entry; a champion moved outside xsell is reported, or reverted, per policy.
The identity here is `registry.actor` (team mode asks the MLflow server: tests/e2e/test_access_control.py)."""

from __future__ import annotations

import getpass
from functools import partial

import pytest

from registry.access import AccessDenied, Identity, acting_identity, is_champion_mover, ui_move_authorised
from registry.aliases import AliasState, current_aliases, promote, reconcile, rollback
from registry.audit import read_alias_state, read_events, verify_audit_log
from registry.gates import promote_version
from serving.shadow import shadow_run_count
from tests.unit.registry.governance import client_of
from xsell.settings import Settings, load_settings


def as_user(settings: Settings, actor: str, **access: object) -> Settings:
    """The same home acting as `actor`, with `registry.access.*` overrides."""
    overrides = {f"registry.access.{key}": value for key, value in access.items()}
    return load_settings(home=settings.home, **{"registry.actor": actor, **overrides})


def test_identity_is_the_configured_actor_else_the_os_user(governed: Settings) -> None:
    assert acting_identity(as_user(governed, "carol")) == Identity("carol", "settings")
    assert acting_identity(governed) == Identity(getpass.getuser(), "os")


def test_membership_by_name_or_mlflow_role() -> None:
    settings = load_settings(home="unused", **{"registry.access.champion_movers": ["alice", "role:release-managers"]})
    assert is_champion_mover(settings, Identity("alice", "mlflow"))
    assert is_champion_mover(settings, Identity("bob", "mlflow", ("release-managers",)))
    assert not is_champion_mover(settings, Identity("bob", "mlflow", ("analysts",)))
    assert not is_champion_mover(settings, Identity("release-managers", "os"))  # a role is not a user name
    assert is_champion_mover(load_settings(home="unused"), Identity("anyone", "os"))  # unrestricted by default


def test_champion_movers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XSELL_REGISTRY__ACCESS__CHAMPION_MOVERS", '["alice", "role:movers"]')
    monkeypatch.setenv("XSELL_REGISTRY__ACCESS__UI_MOVE_POLICY", "revert")
    access = load_settings(home="unused").registry.access
    assert access.champion_movers == ("alice", "role:movers") and access.ui_move_policy == "revert"
    with pytest.raises(ValueError, match="ui_move_policy"):
        load_settings(home="unused", **{"registry.access.ui_move_policy": "ignore"})


def test_a_member_promotes_and_is_the_recorded_actor(governed: Settings) -> None:
    alice = as_user(governed, "alice", champion_movers=["alice"])
    event = promote(alice, 3, "better on recent data")
    assert (event.action, event.actor, event.evidence["identity"]) == ("promote", "alice", "alice")
    assert current_aliases(governed).champion == 3


def test_others_are_refused_with_an_audit_entry(governed: Settings) -> None:
    # given alice (a member) promoted v2, so there is a previous champion to roll back to
    promote(as_user(governed, "alice", champion_movers=["alice"]), 2, "v2 first")
    bob = as_user(governed, "bob", champion_movers=["alice", "role:release-managers"])
    # promote through the gates' entry point: refused before any gate runs
    with pytest.raises(AccessDenied, match=r"bob \(registry.actor\) is not in registry.access.champion_movers"):
        promote_version(bob, 3, "I think it is better", force=True, shadow_runs=partial(shadow_run_count, bob))
    # and the lower-level moves, as an automatic caller labelled differently
    with pytest.raises(AccessDenied, match="rollback"):
        rollback(bob, "undo", "xsell monitor")
    with pytest.raises(AccessDenied):
        promote(bob, 1, "sneaky")
    denied = [e for e in read_events(governed) if e.action == "access_denied"]
    assert [(e.from_version, e.to_version, e.evidence["requested"]) for e in denied] == [
        (2, 3, "promote"),
        (2, 1, "rollback"),
        (2, 1, "promote"),
    ]
    assert denied[0].actor == "bob" and denied[1].actor == "xsell monitor (as bob)"
    assert all(e.outcome == "refused: bob (registry.actor) may not move the champion" for e in denied)
    assert current_aliases(governed) == AliasState(champion=2, challenger=3, previous_champion=1)
    assert verify_audit_log(governed) == []


def test_ui_moves_are_honoured_without_a_group(governed: Settings) -> None:
    assert ui_move_authorised(governed)
    restricted = as_user(governed, "alice", champion_movers=["alice"])
    assert not ui_move_authorised(restricted)
    assert ui_move_authorised(as_user(governed, "alice", champion_movers=["alice"], ui_moves_allowed=True))


def test_an_unauthorised_ui_move_is_reported_and_stands_under_report(governed: Settings) -> None:
    # given only alice may move the champion, and someone moves it to v2 in the MLflow UI
    alice = as_user(governed, "alice", champion_movers=["alice"])
    client_of(governed).set_registered_model_alias(governed.registry.model_name, "champion", "2")
    # when xsell next looks
    events = reconcile(alice)
    # then the move is recorded as unauthorised, honoured (policy report), and v1 is kept to roll back to
    assert [(e.action, e.from_version, e.to_version) for e in events] == [("alias_moved_externally", 1, 2)]
    assert events[0].outcome.startswith("unauthorised: reported (ui_move_policy report); honoured: v2 serves")
    assert events[0].evidence["mover"].startswith("unknown") and events[0].evidence["champion_movers"] == ["alice"]
    assert current_aliases(governed) == AliasState(champion=2, challenger=3, previous_champion=1)
    assert reconcile(alice) == []  # recorded once
    assert rollback(alice, "undo the UI move").to_version == 1


def test_an_unauthorised_ui_move_is_reverted_under_revert(governed: Settings) -> None:
    alice = as_user(governed, "alice", champion_movers=["alice"], ui_move_policy="revert")
    client_of(governed).set_registered_model_alias(governed.registry.model_name, "champion", "2")
    events = reconcile(alice)
    assert [(e.action, e.from_version, e.to_version) for e in events] == [
        ("alias_moved_externally", 1, 2),
        ("alias_reverted", 2, 1),
    ]
    assert events[0].outcome == "unauthorised: reverted, v1 serves again"
    assert current_aliases(governed) == AliasState(champion=1, challenger=3, previous_champion=None)
    assert read_alias_state(governed) == {"champion": 1, "challenger": 3, "previous_champion": None}
    assert reconcile(alice) == [] and verify_audit_log(governed) == []


def test_a_removed_champion_alias_is_put_back_under_revert(governed: Settings) -> None:
    alice = as_user(governed, "alice", champion_movers=["alice"], ui_move_policy="revert")
    client_of(governed).delete_registered_model_alias(governed.registry.model_name, "champion")
    events = reconcile(alice)
    assert [(e.action, e.from_version, e.to_version) for e in events] == [
        ("alias_moved_externally", 1, None),
        ("alias_reverted", None, 1),
    ]
    assert current_aliases(governed).champion == 1
