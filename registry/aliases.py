"""Moving the registry's aliases: promote, roll back, and reconcile with moves made outside xsell.

The champion alias is what serves (scoring resolves it at run time), so every move writes it exactly once, as
its commit point: a promote first points `previous_champion` at the serving champion, then moves `champion`,
then clears `challenger`; a rollback moves `champion` back, then clears `previous_champion`. A promote or
rollback that stops before the champion write leaves the old champion serving (and puts `previous_champion`
back when it can); one that stops after it has served the new champion all along. Every move, failed or not,
is recorded in the audit trail (`registry.audit`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.access import access_evidence, require_champion_mover, ui_move_authorised
from registry.audit import (
    ROLES,
    AuditEvent,
    EventDraft,
    alias_names,
    read_alias_state,
    record,
    record_events,
    resolve_actor,
)
from registry.client import existing_registry_client
from registry.errors import RegistryError
from registry.models import resolve_version
from xsell.faults import fault_point
from xsell.settings import Settings

__all__ = ["AliasState", "current_aliases", "promote", "reconcile", "require_version", "rollback"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AliasState:
    """Versions the champion, challenger and previous-champion aliases point at (None when unset)."""

    champion: int | None = None
    challenger: int | None = None
    previous_champion: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        """role -> version."""
        return {"champion": self.champion, "challenger": self.challenger, "previous_champion": self.previous_champion}


def _client(settings: Settings) -> Any:
    """A registry client, or RegistryError when nothing has been registered in the store yet."""
    client = existing_registry_client(settings)
    if client is None:
        raise RegistryError(
            f"model {settings.registry.model_name!r}: no MLflow store at {settings.mlflow_uri}; run `xsell train`"
        )
    return client


def _registered_aliases(client: Any, name: str) -> dict[str, int] | None:
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return {alias: int(version) for alias, version in (registered.aliases or {}).items()}


def current_aliases(settings: Settings) -> AliasState:
    """The versions the aliases point at in MLflow now (all None when the model was never registered)."""
    client = existing_registry_client(settings)
    aliases = _registered_aliases(client, settings.registry.model_name) if client is not None else None
    aliases = aliases or {}
    return AliasState(**{role: aliases.get(alias) for role, alias in alias_names(settings).items()})


def require_version(settings: Settings, version: int) -> None:
    """RegistryError naming the model and version when `version` is not registered."""
    resolve_version(f"models:/{settings.registry.model_name}/{int(version)}", settings)


def _set(client: Any, settings: Settings, role: str, version: int | None) -> None:
    """Point the alias of `role` at `version`, or delete it for None."""
    name, alias = settings.registry.model_name, alias_names(settings)[role]
    if version is None:
        from mlflow.exceptions import MlflowException

        try:
            client.delete_registered_model_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    else:
        client.set_registered_model_alias(name, alias, str(version))


def promote(
    settings: Settings,
    version: int,
    reason: str,
    actor: str | None = None,
    *,
    evidence: Mapping[str, Any] | None = None,
    outcome: str = "promoted",
) -> AuditEvent:
    """Make `version` the champion (the serving one becomes the previous champion; the challenger alias is cleared
    when it pointed at `version`) and record a `promote` event. No gates here: see `registry.gates`.

    RegistryError when the version does not exist or already is the champion. A failure before the champion
    write leaves the old champion serving, records `promote_failed` and re-raises.
    """
    reconcile(settings)
    require_version(settings, version)
    before = current_aliases(settings)
    if before.champion == version:
        raise RegistryError(f"model {settings.registry.model_name!r}: version {version} is already the champion")
    prepare = {"previous_champion": before.champion} if before.champion is not None else {}
    tidy = {"challenger": None} if before.challenger == version else {}
    return _move_champion(settings, "promote", before, version, reason, actor, evidence, outcome, prepare, tidy)


def rollback(
    settings: Settings, reason: str, actor: str | None = None, *, evidence: Mapping[str, Any] | None = None
) -> AuditEvent:
    """Move the champion back to the previous champion (whose alias is then cleared) and record a `rollback`
    (with `evidence`, e.g. the monitoring decision that asked for it).

    RegistryError when there is no previous champion. A failure before the champion write leaves the current
    champion serving, records `rollback_failed` and re-raises.
    """
    reconcile(settings)
    before = current_aliases(settings)
    name = settings.registry.model_name
    if before.previous_champion is None:
        raise RegistryError(
            f"model {name!r} has no previous champion (alias {settings.registry.previous_champion_alias!r}) "
            "to roll back to"
        )
    target = before.previous_champion
    tidy = {"previous_champion": None}
    return _move_champion(settings, "rollback", before, target, reason, actor, evidence, "rolled back", {}, tidy)


def _move_champion(
    settings: Settings,
    action: str,
    before: AliasState,
    target: int,
    reason: str,
    actor: str | None,
    evidence: Mapping[str, Any] | None,
    outcome: str,
    prepare: Mapping[str, int | None],
    tidy: Mapping[str, int | None],
) -> AuditEvent:
    """Check that the acting identity may move the champion (`registry.access`), write the `prepare` aliases, then
    the champion (the commit point), then the `tidy` ones, and record `action`.

    A failure before the commit point restores the `prepare` aliases, records `<action>_failed` and re-raises;
    a failure while tidying is logged and noted in the outcome (`reconcile` repairs what it left).
    """
    identity = require_champion_mover(settings, action, before.champion, target, reason, actor)
    actor = actor or identity.name
    client = _client(settings)
    details = dict(evidence or {}) | {"aliases_before": before.to_dict()} | access_evidence(identity)
    try:
        for role, version in prepare.items():
            _set(client, settings, role, version)
        fault_point("promote.moving")
        _set(client, settings, "champion", target)  # the commit point: from here on `target` serves
    except BaseException as exc:
        _restore(client, settings, before, prepare)
        _record_failure(settings, f"{action}_failed", before, target, reason, details, exc, actor)
        raise
    notes = []
    for role, version in tidy.items():
        try:
            _set(client, settings, role, version)
        except Exception as exc:  # the champion moved; a stale alias beside it is repaired by `reconcile`
            logger.warning("%s to version %d done but the %s alias was not updated: %s", action, target, role, exc)
            notes.append(f"{alias_names(settings)[role]} alias not cleared: {exc}")
    after = current_aliases(settings)
    fault_point("promote.recording")
    return record(
        settings,
        action,
        from_version=before.champion,
        to_version=target,
        reason=reason,
        evidence=details | {"aliases_after": after.to_dict()},
        outcome="; ".join([outcome, *notes]),
        actor=actor,
        state=after.to_dict(),
    )


def _restore(client: Any, settings: Settings, before: AliasState, roles: Mapping[str, int | None]) -> None:
    """Best effort: put the aliases of `roles` back as they were before a failed move."""
    for role in roles:
        try:
            _set(client, settings, role, getattr(before, role))
        except Exception:
            logger.error("could not restore the %s alias; `reconcile` will repair it", role, exc_info=True)


def _record_failure(
    settings: Settings,
    action: str,
    before: AliasState,
    to_version: int,
    reason: str,
    evidence: dict[str, Any],
    exc: BaseException,
    actor: str | None,
) -> None:
    """Best effort: record a failed move, keeping `before` as the known state (so `reconcile` can repair a
    half-written previous-champion alias); never masks the original error."""
    try:
        after = current_aliases(settings)
        if after.champion == before.champion:
            outcome = f"failed before the champion alias moved; v{after.champion} still serves"
        else:  # the write failed on the way back but took effect: the next reconcile records the move
            outcome = f"failed, but the champion alias now points at v{after.champion}"
        record(
            settings,
            action,
            from_version=before.champion,
            to_version=to_version,
            reason=reason,
            evidence=evidence | {"aliases_after": after.to_dict(), "error": f"{type(exc).__name__}: {exc}"},
            outcome=outcome,
            actor=actor,
            state=before.to_dict(),
        )
    except Exception:
        logger.error("could not record the failed %s", action, exc_info=True)


def reconcile(settings: Settings) -> list[AuditEvent]:
    """Compare the aliases in MLflow with the state xsell last recorded and record what moved without xsell.

    A champion moved in the MLflow UI (or by `MlflowClient.set_registered_model_alias`) is honoured: it is
    recorded as `alias_moved_externally` and, unless the previous-champion alias moved too, the champion it
    replaced becomes the previous champion, so `rollback` returns to it. With `registry.access.champion_movers`
    set and UI moves not allowed, the move is recorded as unauthorised, and undone with `ui_move_policy: revert`. A previous-champion alias left on the
    unmoved champion by an interrupted promote or rollback is repaired (`alias_repaired`). Roles never recorded
    are adopted silently. Returns the events recorded (empty when nothing moved).
    """
    client = existing_registry_client(settings)
    if client is None or _registered_aliases(client, settings.registry.model_name) is None:
        return []
    names = alias_names(settings)
    known = read_alias_state(settings) or {}
    actual = current_aliases(settings)
    events: list[AuditEvent] = []
    unmoved_champion = known.get("champion", actual.champion) == actual.champion
    if unmoved_champion and actual.previous_champion is not None and actual.previous_champion == actual.champion:
        recorded = known.get("previous_champion")
        target = recorded if recorded != actual.champion else None
        _set(client, settings, "previous_champion", target)
        repaired = EventDraft(
            "alias_repaired",
            actual.previous_champion,
            target,
            reason=f"{names['previous_champion']} alias pointed at the champion (an interrupted promote or rollback)",
            evidence={"alias": names["previous_champion"], "aliases_before": actual.to_dict()},
            outcome="restored" if target is not None else "cleared",
        )
        actual = current_aliases(settings)
        events += record_events(settings, [repaired], state={"previous_champion": actual.previous_champion})
        if known:
            known = {**known, "previous_champion": actual.previous_champion}
    moved = {role for role in names if role in known and getattr(actual, role) != known[role]}
    champion_before = known.get("champion")
    unauthorised = "champion" in moved and not ui_move_authorised(settings)
    reverting = unauthorised and settings.registry.access.ui_move_policy == "revert" and champion_before is not None
    if (
        "champion" in moved
        and not reverting
        and "previous_champion" not in moved
        and None not in (champion_before, actual.champion)
        and actual.previous_champion != champion_before
    ):
        _set(client, settings, "previous_champion", champion_before)
        actual = current_aliases(settings)
    if unauthorised:
        events += _unauthorised_move(settings, client, known, actual, revert=reverting)
        actual = current_aliases(settings)
        moved.discard("champion")
    drafts = [
        EventDraft(
            "alias_moved_externally",
            known[role],
            getattr(actual, role),
            reason=f"{names[role]} alias moved outside xsell (MLflow UI or API)",
            evidence={"alias": names[role], "role": role, "recorded": known, "found": actual.to_dict()},
            outcome=_honoured(role, actual),
        )
        for role in ROLES
        if role in moved and not (role == "previous_champion" and "champion" in moved)
    ]
    if drafts or set(names) - set(known):
        actor = f"outside xsell (noticed by {resolve_actor(settings)})"
        events += record_events(settings, drafts, actor=actor, state=actual.to_dict())
    return events


def _unauthorised_move(
    settings: Settings, client: Any, known: Mapping[str, int | None], actual: AliasState, *, revert: bool
) -> list[AuditEvent]:
    """Record a champion move made outside xsell while `registry.access.champion_movers` is set and UI moves are not
    allowed (MLflow does not record who moved an alias); with `revert`, point the champion back at the recorded
    one first. The alias state recorded is what serves afterwards."""
    names = alias_names(settings)
    policy = settings.registry.access.ui_move_policy
    recorded = known.get("champion")
    evidence = {
        "alias": names["champion"],
        "role": "champion",
        "recorded": dict(known),
        "found": actual.to_dict(),
        "champion_movers": list(settings.registry.access.champion_movers or ()),
        "ui_move_policy": policy,
        "mover": "unknown: MLflow records no author for an alias change",
    }
    if revert and recorded is not None:
        _set(client, settings, "champion", recorded)
        outcome = f"unauthorised: reverted, v{recorded} serves again"
    else:
        outcome = f"unauthorised: reported (ui_move_policy {policy}); {_honoured('champion', actual)}"
    draft = EventDraft(
        "alias_moved_externally",
        recorded,
        actual.champion,
        reason=(
            f"{names['champion']} alias moved outside xsell (MLflow UI or API) by an unknown user; only "
            "registry.access.champion_movers may move it (registry.access.ui_moves_allowed is false)"
        ),
        evidence=evidence,
        outcome=outcome,
    )
    drafts = [draft]
    if revert:
        drafts.append(
            EventDraft(
                "alias_reverted",
                actual.champion,
                recorded,
                reason=f"unauthorised move of the {names['champion']} alias undone (registry.access.ui_move_policy)",
                evidence={"alias": names["champion"], "reverted_from": actual.champion},
                outcome=f"v{recorded} serves",
            )
        )
    after = current_aliases(settings)
    logger.warning("unauthorised move of the %s alias to v%s: %s", names["champion"], actual.champion, outcome)
    actor = f"outside xsell (noticed by {resolve_actor(settings)})"
    return record_events(settings, drafts, actor=actor, state=after.to_dict())


def _honoured(role: str, actual: AliasState) -> str:
    if role != "champion":
        return "recorded"
    if actual.champion is None:
        return "champion alias removed: scoring has no champion until one is promoted"
    previous = f"; previous champion v{actual.previous_champion}" if actual.previous_champion is not None else ""
    return f"honoured: v{actual.champion} serves{previous}"
