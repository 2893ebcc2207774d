"""Acting on a monitoring decision: retrain, roll back, defer while a challenger is in shadow, or nothing."""

from __future__ import annotations

import pytest

from monitoring.acting import Action, RegistryView, plan_action


def view(**over: object) -> RegistryView:
    base: dict[str, object] = {"champion": 2, "challenger": None, "previous_champion": 1}
    return RegistryView(**(base | over))  # type: ignore[arg-type]


def test_none_does_nothing() -> None:
    assert plan_action("none", view()) == Action("none", "none", "nothing to do")


def test_retrain_trains_when_no_challenger_waits() -> None:
    # given no challenger (or one that is the champion itself, as after the first training)
    for registry in (view(), view(challenger=2)):
        # then a retrain decision trains
        assert plan_action("retrain", registry).kind == "retrain"


def test_retrain_is_deferred_while_the_challenger_gathers_shadow_runs() -> None:
    # given a challenger shadow-scored once of the two runs the gates need
    action = plan_action("retrain", view(challenger=3, challenger_shadow_runs=1, min_shadow_runs=2))
    # then the retrain waits for the gates' verdict on it
    assert action.kind == "defer" and "v3" in action.reason and "1 of 2" in action.reason


def test_retrain_proceeds_once_the_challenger_was_judged_or_gates_are_off() -> None:
    judged = view(challenger=3, challenger_shadow_runs=2, min_shadow_runs=2)  # refused: it would have been promoted
    disabled = view(challenger=3, challenger_shadow_runs=0, gates_mode="disabled")  # never judged
    assert plan_action("retrain", judged).kind == "retrain"
    assert plan_action("retrain", disabled).kind == "retrain"


def test_rollback_goes_to_the_previous_champion() -> None:
    action = plan_action("rollback", view())
    assert action.kind == "rollback" and "v2 back to previous champion v1" in action.reason


def test_rollback_without_previous_champion_is_deferred() -> None:
    assert plan_action("rollback", view(previous_champion=None)).kind == "defer"
    assert plan_action("rollback", view(previous_champion=2)).kind == "defer"


def test_unknown_decision_fails() -> None:
    with pytest.raises(ValueError, match="unknown decision 'promote'"):
        plan_action("promote", view())
