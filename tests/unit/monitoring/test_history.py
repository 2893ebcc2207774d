"""The checks history: one line per as-of date, reruns replace, atomic rewrite, bad lines named."""

from __future__ import annotations

from dataclasses import replace
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


def test_realised_metrics_read_back_as_written(tmp_path: Path) -> None:
    # given a check with the champion's realised ROC-AUC, its interval and one product's, measured out of sample
    path = tmp_path / "checks.jsonl"
    written = replace(
        record("2025-06-30", False, realised_roc_auc=0.88, realised_positives=90, products={"analytics": (0.8, 40)}),
        realised_roc_auc_ci=(0.85, 0.91),
    )
    # when it is recorded and read back from JSON: then it is the same record (the interval a tuple again)
    record_check(path, written)
    assert read_history(path) == [written]
    # and a line written before these fields existed reads with no baseline information (legacy: not known)
    path.write_text('{"as_of": "2025-05-31", "champion_version": 1, "drifted": false, "drift_share": 0.0, '
                    '"prediction_drift": null, "decision": "none"}\n')  # fmt: skip
    legacy = read_history(path)[0]
    assert (
        legacy.realised_out_of_sample is None and legacy.realised_products == {} and legacy.realised_roc_auc_ci is None
    )
