"""The shadow worker of the scoring API: JSON lines that are always valid JSON, and a worker that outlives a batch it
could not write."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from deploy.api.shadow_log import ShadowJob, ShadowWorker


def _job(scores: list[float], request_id: str = "r1") -> ShadowJob:
    source = pd.DataFrame(
        {"account_id": [f"a{i}" for i in range(len(scores))], "product": "security", "as_of": "2026-03-31"}
    )
    challenger = SimpleNamespace(name="xsell-propensity", version=2, model=None)  # scores given: never called
    return ShadowJob(
        request_id=request_id,
        source=source,
        positions=np.arange(len(scores)),
        champion_version=1,
        champion_propensity=np.array(scores, dtype=float),
        challenger=challenger,
        challenger_scores=np.array(scores, dtype=float),
    )


def test_non_finite_scores_are_logged_as_null_never_as_invalid_json(tmp_path: Path) -> None:
    worker = ShadowWorker(tmp_path, flush_seconds=0.0)
    worker.start()
    try:
        assert worker.submit(_job([0.5, float("nan"), float("inf")]))
        assert worker.drain(timeout=30)
    finally:
        worker.stop()
    lines = [json.loads(line) for line in worker.log_path().read_text().splitlines()]  # strict JSON parse
    assert [line["challenger_propensity"] for line in lines] == [0.5, None, None]
    assert "Infinity" not in worker.log_path().read_text() and "NaN" not in worker.log_path().read_text()


def test_a_batch_that_cannot_be_written_is_counted_and_the_worker_goes_on(tmp_path: Path) -> None:
    worker = ShadowWorker(tmp_path / "serving", flush_seconds=0.0)
    worker.start()
    try:
        # when the log folder is replaced by a file, a batch cannot be appended
        (tmp_path / "serving").rmdir()
        (tmp_path / "serving").write_text("not a folder")
        worker.folder = tmp_path / "serving" / "sub"
        assert worker.submit(_job([0.1], "lost")) and worker.drain(timeout=30)
        assert worker.stats.failed_jobs == 1 and worker.running
        # then, once the folder is back, the next batch is written
        worker.folder = tmp_path / "back"
        worker.folder.mkdir()
        assert worker.submit(_job([0.2], "kept")) and worker.drain(timeout=30)
    finally:
        worker.stop()
    [line] = [json.loads(x) for x in (tmp_path / "back").glob("shadow-*.jsonl").__next__().read_text().splitlines()]
    assert line["request_id"] == "kept" and worker.stats.logged_rows == 1
