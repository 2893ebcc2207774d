"""Benchmark children that train and register the models a benchmark then measures.

    python -m bench.champions scoring HOME TRIALS            (champion and challenger with their tier policy)
    python -m bench.champions monitoring HOME TRIALS AS_OF   (one champion trained as of AS_OF)

A module of its own so that the measured children of `bench.scoring` and `bench.monitoring` import only what they
time (training and MLflow logging are imported here, at the top). Each prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from typing import Any

import pandas as pd

from bench.measure import bench_settings, run_child_kind
from features.store import connect_warehouse
from registry.audit import record_registration
from registry.log_training import log_training
from serving.model_artifacts import serving_artifacts
from training.dataset import load_training_frame
from training.pipeline import train_propensity


def _training_frame(settings: Any, as_of: date | None) -> pd.DataFrame:
    """The labelled snapshots matured by `as_of` (all when None)."""
    con = connect_warehouse(settings)
    try:
        return load_training_frame(con, settings, as_of)
    finally:
        con.close()


def _child_scoring(home: str, trials: str) -> None:
    """Train once and register the model twice with its tier policy (champion, then challenger)."""
    settings = bench_settings(home)
    started = time.perf_counter()
    frame = _training_frame(settings, None)
    result = train_propensity(frame, settings, trials=int(trials))
    extra = serving_artifacts(result, settings)
    versions = [
        log_training(result, settings, reason=f"bench {i}", trial_runs=False, extra=extra).version for i in (1, 2)
    ]
    print(json.dumps({"rows": len(frame), "versions": versions, "seconds": time.perf_counter() - started}))


def _child_monitoring(home: str, trials: str, as_of: str) -> None:
    """Train as of `as_of` and register the champion (with its audit event)."""
    settings = bench_settings(home)
    started = time.perf_counter()
    frame = _training_frame(settings, date.fromisoformat(as_of))
    result = train_propensity(frame, settings, trials=int(trials))
    registered = log_training(result, settings, reason="bench monitoring", trial_runs=False)
    record_registration(settings, registered, "bench monitoring")
    print(json.dumps({"rows": len(frame), "version": registered.version, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    run_child_kind(sys.argv[1:], {"scoring": _child_scoring, "monitoring": _child_monitoring})
