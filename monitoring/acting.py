"""What to do about a monitoring decision, as a pure function: retrain, roll back, defer, or nothing.

- `retrain` is carried out unless a challenger is still gathering its shadow runs (fewer than
  `registry.gates.min_shadow_runs`, gates not disabled): that challenger is judged first, so drift that persists
  while it is in shadow does not stack up one training per check. A challenger the gates already refused does not
  hold a retrain back.
- `rollback` is carried out when a previous champion exists; otherwise it is deferred (nothing to return to).
- `none` does nothing.

The flows (`flows/cycle.py`) run the action and record it in the audit trail with `decision.json` as evidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["ACTIONS", "Action", "RegistryView", "plan_action"]

ActionKind = Literal["none", "retrain", "rollback", "defer"]
ACTIONS: tuple[str, ...] = ("none", "retrain", "rollback", "defer")


@dataclass(frozen=True)
class RegistryView:
    """The registry as acting needs it: the aliases, the challenger's shadow runs and the gates' mode."""

    champion: int | None
    challenger: int | None
    previous_champion: int | None
    challenger_shadow_runs: int = 0
    min_shadow_runs: int = 2
    gates_mode: str = "enabled"


@dataclass(frozen=True)
class Action:
    """The action a decision leads to, and why."""

    kind: ActionKind
    decision: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return asdict(self)


def plan_action(decision: str, registry: RegistryView) -> Action:
    """The action for `decision` (`none`, `retrain` or `rollback`) given the registry's state; pure."""
    if decision == "none":
        return Action("none", decision, "nothing to do")
    if decision == "rollback":
        if registry.previous_champion is None or registry.previous_champion == registry.champion:
            return Action("defer", decision, "no previous champion to roll back to")
        return Action(
            "rollback",
            decision,
            f"roll champion v{registry.champion} back to previous champion v{registry.previous_champion}",
        )
    if decision == "retrain":
        pending = (
            registry.challenger is not None
            and registry.challenger != registry.champion
            and registry.gates_mode != "disabled"
            and registry.challenger_shadow_runs < registry.min_shadow_runs
        )
        if pending:
            return Action(
                "defer",
                decision,
                f"challenger v{registry.challenger} is still in shadow ({registry.challenger_shadow_runs} of "
                f"{registry.min_shadow_runs} runs): the gates judge it first",
            )
        return Action("retrain", decision, "train a challenger on the data known now")
    raise ValueError(f"unknown decision {decision!r}: expected none, retrain or rollback")
