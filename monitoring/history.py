"""The history of monitoring checks: one JSON line per as-of date under `HOME/reports/monitoring/checks.jsonl`."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from monitoring.errors import MonitoringError
from monitoring.policy import CheckRecord
from xsell.fileio import write_text_atomic

__all__ = ["read_history", "record_action", "record_check"]

logger = logging.getLogger(__name__)


def read_history(path: Path) -> list[CheckRecord]:
    """Every recorded check, oldest as-of first (empty when none was recorded)."""
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(CheckRecord.from_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise MonitoringError(f"{path}: line {number} is not a check record: {exc}") from None
    return sorted(records, key=lambda r: r.as_of)


def record_check(path: Path, record: CheckRecord) -> list[CheckRecord]:
    """Add `record`, replacing an earlier record of the same as-of date (a rerun counts once); rewritten atomically."""
    kept = [r for r in read_history(path) if r.as_of != record.as_of]
    records = sorted([*kept, record], key=lambda r: r.as_of)
    write_text_atomic(path, "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records))
    logger.debug("recorded check %s (%d in history)", record.as_of, len(records))
    return records


def record_action(path: Path, as_of: str, action: str) -> list[CheckRecord]:
    """Note what was done about the check of `as_of` (none, retrain, rollback, defer); rewritten atomically."""
    records = read_history(path)
    if not any(r.as_of == as_of for r in records):
        raise MonitoringError(f"{path}: no check recorded for {as_of}: cannot note its action {action!r}")
    records = [replace(r, action=action) if r.as_of == as_of else r for r in records]
    write_text_atomic(path, "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records))
    return records
