"""The append-only audit trail of the registry: every registration, alias move, promotion, refusal and rollback.

Events live in the warehouse table `governance.audit_log` (one row per event, never updated or deleted; each
row carries a SHA-256 digest chained to the previous row, so an edit is detectable with `verify_audit_log`) and
are copied as `audit.NNNNNN` tags onto the model versions they concern. `governance.alias_state` holds the
champion/challenger/previous-champion versions xsell last knew of, so that alias moves made elsewhere (the
MLflow UI) can be told apart. The warehouse is opened briefly per write (DuckDB allows one writer process); the
tables, the lock wait and the digest chain are in `registry.audit_store`.
"""

from __future__ import annotations

import getpass
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from registry.audit_store import (
    AUDIT_TABLE,
    COLUMNS,
    STATE_TABLE,
    audit_warehouse,
    chain_digest,
    ensure_tables,
    has_tables,
    quoted,
    readable,
)
from registry.client import existing_registry_client
from registry.models import RegisteredModel
from xsell.settings import Settings

__all__ = [
    "ROLES",
    "AuditEvent",
    "EventDraft",
    "alias_names",
    "read_alias_state",
    "read_events",
    "record",
    "record_events",
    "record_registration",
    "resolve_actor",
    "verify_audit_log",
]

logger = logging.getLogger(__name__)

#: The alias roles xsell tracks; their alias names come from `settings.registry`.
ROLES = ("champion", "challenger", "previous_champion")
_TAG_LIMIT = 4900


@dataclass(frozen=True)
class AuditEvent:
    """One row of the audit log: when, who, what, from -> to, why, evidence, outcome."""

    seq: int
    event_id: str
    at: datetime  # UTC
    actor: str
    action: str  # register, promote, refuse, rollback, alias_moved_externally, alias_repaired, gate_dry_run,
    # access_denied, stale_version_deleted, ...
    model_name: str
    from_version: int | None
    to_version: int | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""
    digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, `at` as an ISO timestamp with offset."""
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "model_name": self.model_name,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "reason": self.reason,
            "evidence": self.evidence,
            "outcome": self.outcome,
        }

    def summary(self) -> str:
        """One line for a tag or a terminal: `AT ACTION vA -> vB by WHO: REASON [OUTCOME]`."""
        moved = f"v{self.from_version or '-'} -> v{self.to_version or '-'}"
        text = f"{self.at:%Y-%m-%dT%H:%M:%SZ} {self.action} {moved} by {self.actor}: {self.reason}"
        return text + (f" [{self.outcome}]" if self.outcome else "")


@dataclass(frozen=True)
class EventDraft:
    """An event not yet recorded (`record_events` writes several in one transaction)."""

    action: str
    from_version: int | None = None
    to_version: int | None = None
    reason: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    outcome: str = ""


def resolve_actor(settings: Settings, actor: str | None = None) -> str:
    """Who acts: `actor` when given, else `registry.actor` (YAML or XSELL_REGISTRY__ACTOR), else the OS user."""
    if actor:
        return actor
    if settings.registry.actor:
        return settings.registry.actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    return json.dumps(evidence, sort_keys=True, default=str, allow_nan=False, separators=(",", ":"))


def _clean(value: Any) -> Any:
    """`value` with non-finite floats as None, so evidence is strict JSON."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def record_events(
    settings: Settings,
    drafts: Sequence[EventDraft],
    *,
    actor: str | None = None,
    state: Mapping[str, int | None] | None = None,
    tag: bool = True,
) -> list[AuditEvent]:
    """Append `drafts` as events, and set the alias state of the roles in `state`, in one transaction; then
    copy each event as a tag onto the versions it names (best effort: the warehouse row is the record)."""
    name = settings.registry.model_name
    who = resolve_actor(settings, actor)
    aliases = alias_names(settings)
    events: list[AuditEvent] = []
    with audit_warehouse(settings, read_only=False) as con:
        ensure_tables(con)
        con.execute("BEGIN TRANSACTION")
        try:
            last = con.execute(f"SELECT seq, digest FROM {AUDIT_TABLE} ORDER BY seq DESC LIMIT 1").fetchall()
            seq, previous = (int(last[0][0]), str(last[0][1])) if last else (0, "")
            now = datetime.now(UTC).replace(tzinfo=None)
            for item in drafts:
                seq += 1
                evidence = _clean(dict(item.evidence))
                row = [
                    seq,
                    uuid.uuid4().hex,
                    now,
                    who,
                    item.action,
                    name,
                    item.from_version,
                    item.to_version,
                    item.reason,
                    _evidence_text(evidence),
                    item.outcome,
                ]
                previous = chain_digest(previous, row)
                con.execute(f"INSERT INTO {AUDIT_TABLE} VALUES ({', '.join('?' * len(COLUMNS))})", [*row, previous])
                events.append(_event(tuple([*row, previous])))
            for role, version in (state or {}).items():
                con.execute(f"DELETE FROM {STATE_TABLE} WHERE model_name = ? AND role = ?", [name, role])
                con.execute(
                    f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                    [name, role, aliases[role], version, now, events[-1].event_id if events else None],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    for event in events:
        logger.info("audit: %s", event.summary())
        if tag:
            _tag_versions(settings, event)
    return events


def record(
    settings: Settings,
    action: str,
    *,
    from_version: int | None = None,
    to_version: int | None = None,
    reason: str = "",
    evidence: Mapping[str, Any] | None = None,
    outcome: str = "",
    actor: str | None = None,
    state: Mapping[str, int | None] | None = None,
) -> AuditEvent:
    """Append one event to `governance.audit_log` (and set the alias state of the roles in `state`); tag it onto
    `from_version` and `to_version`. Returns the event as stored."""
    event = EventDraft(action, from_version, to_version, reason, evidence or {}, outcome)
    return record_events(settings, [event], actor=actor, state=state)[0]


def record_registration(settings: Settings, registered: RegisteredModel, reason: str) -> AuditEvent:
    """Record a `register` event for a version `log_training` just registered, and the aliases it set (the
    challenger, plus the champion for a model's first version), so they do not count as outside moves."""
    known = read_alias_state(settings) or {}
    names = alias_names(settings)
    roles = {role for role, alias in names.items() if alias in registered.aliases}
    evidence = {
        "run_id": registered.run_id,
        "model_uri": registered.model_uri,
        "aliases": list(registered.aliases),
        "metrics": registered.metrics,
    }
    return record(
        settings,
        "register",
        from_version=known.get("challenger"),
        to_version=registered.version,
        reason=reason,
        evidence=evidence,
        outcome="registered as " + ", ".join(registered.aliases),
        state={role: registered.version for role in roles},
    )


def alias_names(settings: Settings) -> dict[str, str]:
    """role -> the alias name configured for it."""
    registry = settings.registry
    return {
        "champion": registry.champion_alias,
        "challenger": registry.challenger_alias,
        "previous_champion": registry.previous_champion_alias,
    }


def _event(row: Sequence[Any]) -> AuditEvent:
    values = dict(zip(COLUMNS, row, strict=True))
    at = values["at"]
    return AuditEvent(
        seq=int(values["seq"]),
        event_id=str(values["event_id"]),
        at=at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC),
        actor=str(values["actor"]),
        action=str(values["action"]),
        model_name=str(values["model_name"]),
        from_version=None if values["from_version"] is None else int(values["from_version"]),
        to_version=None if values["to_version"] is None else int(values["to_version"]),
        reason=values["reason"] or "",
        evidence=json.loads(values["evidence"]) if values["evidence"] else {},
        outcome=values["outcome"] or "",
        digest=str(values["digest"]),
    )


def read_events(settings: Settings, *, limit: int | None = None, all_models: bool = False) -> list[AuditEvent]:
    """Events of the configured model (every model with `all_models`), oldest first; the latest `limit` only
    when given. Empty when nothing was recorded yet (the warehouse is not created by reading)."""
    if not readable(settings):
        return []
    with audit_warehouse(settings, read_only=True) as con:
        if not has_tables(con):
            return []
        where = "" if all_models else "WHERE model_name = ?"
        params: list[Any] = [] if all_models else [settings.registry.model_name]
        sql = f"SELECT {', '.join(quoted(c) for c in COLUMNS)} FROM {AUDIT_TABLE} {where} ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = con.execute(sql, params).fetchall()
    return [_event(row) for row in reversed(rows)]


def read_alias_state(settings: Settings) -> dict[str, int | None] | None:
    """The versions xsell last recorded per alias role (a role never recorded is absent); None before the
    first record."""
    if not readable(settings):
        return None
    with audit_warehouse(settings, read_only=True) as con:
        if not has_tables(con):
            return None
        rows = con.execute(
            f"SELECT role, version FROM {STATE_TABLE} WHERE model_name = ?", [settings.registry.model_name]
        ).fetchall()
    if not rows:
        return None
    return {str(role): None if version is None else int(version) for role, version in rows}


def verify_audit_log(settings: Settings) -> list[str]:
    """Problems of the audit log's digest chain (a row changed, removed or inserted out of order); empty when
    the log is intact."""
    if not readable(settings):
        return []
    with audit_warehouse(settings, read_only=True) as con:
        if not has_tables(con):
            return []
        rows = con.execute(f"SELECT {', '.join(quoted(c) for c in COLUMNS)} FROM {AUDIT_TABLE} ORDER BY seq").fetchall()
    problems = []
    previous = ""
    for expected_seq, row in enumerate(rows, start=1):
        seq, digest = int(row[0]), str(row[-1])
        if seq != expected_seq:
            problems.append(f"event {seq}: expected sequence number {expected_seq} (a row was removed)")
        if chain_digest(previous, row[:-1]) != digest:
            problems.append(f"event {seq}: digest does not match its content and the previous event")
        previous = digest
    return problems


def _tag_versions(settings: Settings, event: AuditEvent) -> None:
    """Copy the event onto the model versions it names as tag `audit.NNNNNN` (a failure is logged, not raised)."""
    versions = {v for v in (event.from_version, event.to_version) if v is not None}
    if not versions:
        return
    try:
        client = existing_registry_client(settings)
        if client is None:
            return
        for version in sorted(versions):
            client.set_model_version_tag(
                event.model_name, str(version), f"audit.{event.seq:06d}", event.summary()[:_TAG_LIMIT]
            )
    except Exception:
        logger.warning("could not tag audit event %d onto its model versions", event.seq, exc_info=True)
