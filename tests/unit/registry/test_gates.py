"""The verdict on registered models: both re-scored on the same labelled rows, the report written, a missing
version named (the gate maths on small frames: test_gate_checks.py)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from registry.errors import RegistryError
from registry.gates import evaluate_gates
from serving.shadow import shadow_run_count
from tests.unit.registry.governance import insert_shadow_runs
from xsell.settings import Settings, load_settings


def test_evaluate_gates_rescores_both_registered_models_and_writes_a_report(
    governed: Settings, feature_rows: pd.DataFrame
) -> None:
    # given v1 champion and v3 challenger (the same logged model) and two shadow runs of v3
    insert_shadow_runs(governed, challenger=3, champion=1, days=[pd.Timestamp("2025-07-31").date()] * 2)
    rows = feature_rows[feature_rows["as_of"] == feature_rows["as_of"].max()]
    # when the gates are evaluated on recent labelled rows
    decision = evaluate_gates(governed, frame=rows, shadow_runs=partial(shadow_run_count, governed))
    # then both were scored on the same rows: no gain, so the margin fails; one distinct as-of is one shadow run
    assert (decision.champion_version, decision.challenger_version) == (1, 3)
    assert set(decision.failed) >= {"pr_auc_gain", "shadow_runs"}
    metrics = decision.evidence["metrics"]
    assert metrics["champion"]["overall"] == metrics["challenger"]["overall"]
    assert metrics["champion"]["overall"]["rows"] == len(rows)
    report = json.loads(Path(decision.report_path or "").read_text())
    assert report["failed"] == decision.failed and report["challenger_version"] == 3


def test_evaluate_gates_passes_with_lenient_thresholds(governed: Settings, feature_rows: pd.DataFrame) -> None:
    lenient = load_settings(
        home=governed.home,
        **{
            "registry.gates.min_relative_gain": 0.0,
            "registry.gates.parity_tolerance": 1.0,
            "registry.gates.min_shadow_runs": 0,
        },
    )
    decision = evaluate_gates(lenient, 2, frame=feature_rows, shadow_runs=partial(shadow_run_count, lenient))
    assert decision.passed and decision.challenger_version == 2


def test_evaluate_gates_names_a_missing_version(governed: Settings, feature_rows: pd.DataFrame) -> None:
    with pytest.raises(RegistryError, match="has no version 9"):
        evaluate_gates(governed, 9, frame=feature_rows, shadow_runs=partial(shadow_run_count, governed))
