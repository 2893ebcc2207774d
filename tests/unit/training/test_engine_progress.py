"""The training engine reports progress for each stage and logs each stage's seconds when it ends."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.training.conftest import fast_settings
from training.engine import STAGES
from training.pipeline import train_propensity
from xsell import progress


class Recorder:
    """A progress sink that records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float | None]] = []

    def start(self, key: str, description: str, total: float | None) -> None:
        self.calls.append(("start", key, total))

    def advance(self, key: str, amount: float = 1.0, description: str | None = None) -> None:
        self.calls.append(("advance", key, amount))

    def finish(self, key: str) -> None:
        self.calls.append(("finish", key, None))


def test_each_stage_reports_progress_and_logs_its_seconds(
    frame: pd.DataFrame, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given a small pooled training run with a seed bag of 2, refit on every row
    settings = fast_settings(tmp_path, **{"training.trials": 3, "training.n_seeds": 2})
    sink = Recorder()
    with progress.reporting_to(sink), caplog.at_level(logging.INFO, logger="training.engine"):
        result = train_propensity(frame, settings)
    # then every stage started and finished, in the order the timings record them
    started = [key for kind, key, _ in sink.calls if kind == "start"]
    assert started == [STAGES[name][0] for name in result.extra["timings_s"] if name != "total_s"]
    assert started == [key for kind, key, _ in sink.calls if kind == "finish"]
    # trials and boosters are the counted units: 3 trials, 2 boosters for the final fit and 2 for the refit
    advanced = {k: sum(a for kind, key, a in sink.calls if kind == "advance" and key == k) for k in started}
    totals = {key: total for kind, key, total in sink.calls if kind == "start"}
    assert advanced["train.tuning"] == totals["train.tuning"] == 3
    assert advanced["train.final_fit"] == totals["train.final_fit"] == 2
    assert advanced["train.refit"] == totals["train.refit"] == 2
    # and one "stage done" line per stage, with its seconds
    done = [r for r in caplog.records if r.getMessage() == "stage done"]
    assert [r.stage for r in done] == [n.removesuffix("_s") for n in result.extra["timings_s"] if n != "total_s"]
    assert all(r.seconds == round(result.extra["timings_s"][r.stage + "_s"], 2) for r in done)
