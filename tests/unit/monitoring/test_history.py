"""The checks history: one line per as-of date, reruns replace, atomic rewrite, bad lines named."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.errors import MonitoringError
from monitoring.history import read_history, record_action, record_check
from tests.unit.monitoring.factories import record


def test_records_are_sorted_and_reruns_replace(tmp_path: Path) -> None:
    path = tmp_path / "monitoring" / "checks.jsonl"
    assert read_history(path) == []
    record_check(path, record("2025-06-30", True))
    record_check(path, record("2025-05-31", False))
    record_check(path, record("2025-06-30", False, decision="none"))  # rerun of the same date
    history = read_history(path)
    assert [(r.as_of, r.drifted) for r in history] == [("2025-05-31", False), ("2025-06-30", False)]
    assert len(path.read_text().splitlines()) == 2


def test_a_corrupt_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "checks.jsonl"
    path.write_text('{"as_of": "2025-05-31"}\nnot json\n')
    with pytest.raises(MonitoringError, match="line 1"):
        read_history(path)


def test_the_action_is_noted_on_its_check(tmp_path: Path) -> None:
    path = tmp_path / "checks.jsonl"
    record_check(path, record("2025-05-31", True, decision="retrain", action="pending"))
    record_check(path, record("2025-06-30", False))
    record_action(path, "2025-05-31", "defer")
    history = read_history(path)
    assert [(r.as_of, r.action) for r in history] == [("2025-05-31", "defer"), ("2025-06-30", "")]
    assert not history[0].retrained
    with pytest.raises(MonitoringError, match="no check recorded for 2025-07-31"):
        record_action(path, "2025-07-31", "none")
