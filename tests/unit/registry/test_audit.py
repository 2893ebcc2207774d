"""The audit log: appended in order, one transaction per batch, never rewritten (a digest chain shows edits),
actor from argument, settings or OS user; reading never creates the warehouse."""

from __future__ import annotations

import getpass
import math
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from ingest.pipeline import open_warehouse
from registry.audit import (
    EventDraft,
    read_alias_state,
    read_events,
    record,
    record_events,
    resolve_actor,
    verify_audit_log,
)
from registry.audit_store import AUDIT_TABLE
from tests.unit.registry.conftest import mlflow_env
from xsell.settings import Settings, load_settings


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Settings]:
    """Settings homed in tmp_path, no MLflow store (events are not tagged anywhere)."""
    with mlflow_env():
        yield load_settings(home=tmp_path / "home", **{"registry.actor": "tester"})


def test_events_are_appended_in_order_with_their_fields(home: Settings) -> None:
    # given three recorded events, one with a NaN metric in its evidence
    first = record(home, "register", to_version=1, reason="first", outcome="registered as champion, challenger")
    second = record(
        home, "promote", from_version=1, to_version=2, reason="better", evidence={"metrics": {"pr_auc": 0.3}}
    )
    third = record(home, "refuse", from_version=2, to_version=3, evidence={"ece": math.nan}, actor="alice")
    # when read back
    events = read_events(home)
    # then they come oldest first, numbered, with what was recorded
    assert [e.seq for e in events] == [1, 2, 3] == [first.seq, second.seq, third.seq]
    assert [e.action for e in events] == ["register", "promote", "refuse"]
    assert events[0].at <= events[1].at <= events[2].at and events[0].at.utcoffset().total_seconds() == 0
    assert (events[1].from_version, events[1].to_version, events[1].reason) == (1, 2, "better")
    assert events[1].evidence == {"metrics": {"pr_auc": 0.3}}
    assert events[2].evidence == {"ece": None}  # strict JSON: NaN stored as null
    assert [e.actor for e in events] == ["tester", "tester", "alice"]
    assert events[1].to_dict()["at"].endswith("+00:00")
    assert [e.seq for e in read_events(home, limit=2)] == [2, 3]


def test_a_batch_is_one_transaction(home: Settings) -> None:
    # given one recorded event
    record(home, "register", to_version=1, reason="first", state={"champion": 1, "challenger": 1})
    # when a batch fails half-way (an event without an action breaks the NOT NULL constraint)
    with pytest.raises(duckdb.ConstraintException):
        record_events(
            home,
            [EventDraft("promote", 1, 2), EventDraft(None, 2, 3)],  # type: ignore[arg-type]
            state={"champion": 2},
        )
    # then neither event nor the state change was written
    assert [e.action for e in read_events(home)] == ["register"]
    assert read_alias_state(home) == {"champion": 1, "challenger": 1}
    assert verify_audit_log(home) == []


def test_alias_state_keeps_roles_not_written(home: Settings) -> None:
    record(home, "register", to_version=1, state={"champion": 1, "challenger": 1})
    record(home, "register", to_version=2, state={"challenger": 2})
    assert read_alias_state(home) == {"champion": 1, "challenger": 2}


def test_the_digest_chain_reveals_an_edited_or_removed_row(home: Settings) -> None:
    # given an intact log of three events
    for version in (1, 2, 3):
        record(home, "register", to_version=version, reason=f"v{version}")
    assert verify_audit_log(home) == []
    # when someone rewrites a reason and deletes a row behind xsell's back
    con = open_warehouse(home)
    try:
        con.execute(f"UPDATE {AUDIT_TABLE} SET reason = 'nothing to see' WHERE seq = 1")
        con.execute(f"DELETE FROM {AUDIT_TABLE} WHERE seq = 2")
    finally:
        con.close()
    # then both are reported
    problems = verify_audit_log(home)
    assert any(p.startswith("event 1: digest") for p in problems)
    assert any("event 3: expected sequence number 2" in p for p in problems)


def test_reading_before_anything_was_recorded_creates_nothing(home: Settings) -> None:
    assert read_events(home) == [] and read_alias_state(home) is None and verify_audit_log(home) == []
    assert not home.warehouse_path.exists()


def test_actor_comes_from_argument_then_settings_then_os_user(tmp_path: Path) -> None:
    with mlflow_env():
        plain = load_settings(home=tmp_path)
        named = load_settings(home=tmp_path, **{"registry.actor": "ci-bot"})
    assert resolve_actor(named, "alice") == "alice"
    assert resolve_actor(named) == "ci-bot"
    assert resolve_actor(plain) == getpass.getuser()
