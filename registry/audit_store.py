"""Where the audit trail is kept: the `governance` tables of the warehouse, opened briefly, and the digest chain.

`governance.audit_log` holds one row per event (`COLUMNS`), never updated or deleted; each row's digest is the
SHA-256 of the previous row's digest and its own values, so an edit, a removal or an insertion breaks the chain.
`governance.alias_state` holds the versions xsell last knew each alias role at. The warehouse allows one writer
process: `audit_warehouse` waits up to `LOCK_WAIT_SECONDS` for a lock another process holds.
`registry.audit` records and reads the events.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import duckdb

from ingest.pipeline import open_warehouse
from xsell.settings import Settings

__all__ = [
    "AUDIT_TABLE",
    "COLUMNS",
    "LOCK_WAIT_SECONDS",
    "SCHEMA",
    "STATE_TABLE",
    "audit_warehouse",
    "chain_digest",
    "ensure_tables",
    "has_tables",
    "quoted",
    "readable",
]

SCHEMA = "governance"
AUDIT_TABLE = f"{SCHEMA}.audit_log"
STATE_TABLE = f"{SCHEMA}.alias_state"
#: Opening the warehouse while another process writes it is retried for about this long.
LOCK_WAIT_SECONDS = 10.0
COLUMNS = (
    "seq",
    "event_id",
    "at",
    "actor",
    "action",
    "model_name",
    "from_version",
    "to_version",
    "reason",
    "evidence",
    "outcome",
    "digest",
)


@contextmanager
def audit_warehouse(settings: Settings, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse opened briefly; a lock held by another writer is waited for up to LOCK_WAIT_SECONDS."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.05
    while True:
        try:
            con = open_warehouse(settings, read_only=read_only)
            break
        except RuntimeError as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    try:
        yield con
    finally:
        con.close()


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the `governance` schema, the audit log and the alias-state table when missing."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
            seq BIGINT PRIMARY KEY, event_id VARCHAR NOT NULL, "at" TIMESTAMP NOT NULL, actor VARCHAR NOT NULL,
            action VARCHAR NOT NULL, model_name VARCHAR NOT NULL, from_version INTEGER, to_version INTEGER,
            reason VARCHAR, evidence VARCHAR, outcome VARCHAR, digest VARCHAR NOT NULL)"""
    )
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
            model_name VARCHAR NOT NULL, role VARCHAR NOT NULL, alias VARCHAR NOT NULL, version INTEGER,
            updated_at TIMESTAMP NOT NULL, event_id VARCHAR, PRIMARY KEY (model_name, role))"""
    )


def has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """True when both governance tables exist (reading never creates them)."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name IN ('audit_log', 'alias_state')",
        [SCHEMA],
    ).fetchall()
    return int(rows[0][0]) == 2


def chain_digest(previous: str, row: Sequence[Any]) -> str:
    """SHA-256 of the previous row's digest and this row's values (timestamps as ISO text)."""
    values = [v.isoformat() if isinstance(v, datetime) else v for v in row]
    payload = json.dumps([previous, *values], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def readable(settings: Settings) -> bool:
    """True when the warehouse exists (reading the audit trail must not create it)."""
    return settings.warehouse_path.is_file()


def quoted(column: str) -> str:
    """A column name quoted for SQL (`at` is a keyword)."""
    return f'"{column}"'
