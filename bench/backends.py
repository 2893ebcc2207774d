"""Benchmark children that run a Prefect flow once per compute backend and compare the backends' outputs.

    python -m bench.features --accounts 2000 --months 30 --backend local dask   (runs `features` here)
    python -m bench.scoring --accounts 2000 --months 30 --backend local dask    (runs `score` here)

A module of its own because it imports the flows, and so Prefect, at its top: the parent starts it with the
process environment of the bench's home (`bench.measure.backend_env`), which Prefect reads when it is imported; the timed
children of `bench.features` and `bench.scoring` keep importing only what they time.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from bench.measure import compute_settings, run_child_kind, start_prefect_api
from features.store import connect_warehouse
from flows.compute import on_compute
from flows.features import build_features_flow
from flows.score import score_flow


def _stored_rows_digest(settings: Any) -> str:
    """A digest of every materialised row, in key order (equal digests: identical rows)."""
    con = connect_warehouse(settings, read_only=True)
    try:
        rows = con.execute("SELECT * FROM features.snapshot_rows ORDER BY as_of, account_id, product").df()
    finally:
        con.close()
    return hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()).hexdigest()[:16]


def _child_features(home: str, start: str, end: str, *backends: str) -> None:
    """The `build-features` flow of `start`..`end` on each backend, each from an empty `features` schema."""
    start_prefect_api(home)
    runs: dict[str, dict[str, Any]] = {}
    for backend in backends:
        settings = compute_settings(home, backend, progress=False)
        con = connect_warehouse(settings)
        try:
            con.execute("DROP SCHEMA IF EXISTS features CASCADE")
        finally:
            con.close()
        t0 = time.perf_counter()
        result = on_compute(build_features_flow, settings)(from_month=start, to_month=end, settings=settings)
        seconds = time.perf_counter() - t0
        runs[backend] = {
            "flow_s": seconds,
            "snapshots": len(result.snapshots),
            "rows": result.rows,
            "digest": _stored_rows_digest(settings),
        }
    print(json.dumps(runs))


def _child_score(home: str, as_of: str, out_dir: str, chunk_rows: str, *backends: str) -> None:
    """The `score` flow at `as_of` on each backend, compared with the first backend's output."""
    start_prefect_api(home)
    day = date.fromisoformat(as_of)
    runs: dict[str, dict[str, Any]] = {}
    first: pd.DataFrame | None = None
    for backend in backends:
        settings = compute_settings(home, backend, progress=False, **{"compute.scoring_chunk_rows": int(chunk_rows)})
        out = Path(out_dir) / f"scores-{as_of}-{backend}.parquet"
        t0 = time.perf_counter()
        result = on_compute(score_flow, settings)(as_of=day, out=out, settings=settings)
        seconds = time.perf_counter() - t0
        scores = pd.read_parquet(out).sort_values(["product", "account_id"]).reset_index(drop=True)
        first = scores if first is None else first
        runs[backend] = {
            "flow_s": seconds,
            "rows": result.rows,
            "chunks": -(-result.rows // settings.compute.scoring_chunk_rows),
            **{f"{k}_s": v for k, v in result.seconds.items()},
            "shadowed": result.shadow is not None,
            "max_abs_diff": float((scores["propensity"] - first["propensity"]).abs().max()),
            "same_tiers": bool((scores["tier"] == first["tier"]).all()),
        }
    print(json.dumps(runs))


if __name__ == "__main__":
    run_child_kind(sys.argv[1:], {"features": _child_features, "score": _child_score})
