"""Benchmark: batch scoring throughput (rows/s) of `xsell score` at a given number of accounts.

    python -m bench.scoring --accounts 20000 --months 30 --trials 3

For each size: generate (cached) and consolidate (cached) an export, then, once per home, train a small model
(`--trials`) on the labelled snapshots and register it twice with its tier policy (champion and challenger; the
challenger makes every scoring run also do the shadow scoring). Then in a fresh child process, scoring the last
month-end of the period: `publish_scores` (snapshot read or built, model with reason codes, tiers, adoption path,
output file, CRM file, alerts, warehouse rows) and `shadow_scores` (the challenger on the same rows, comparison
stored and logged), each timed, with the child's peak memory.

    python -m bench.scoring --accounts 2000 --months 30 --backend local dask

With `--backend`: in one child per size (the temporary Prefect API started first, untimed), the `score` flow runs on
each backend in turn (`--chunk-rows` per chunk; `local`: chunks of accounts scored one at a time in the flow's process; `dask`: on a
LocalCluster of 2 one-thread workers started by the flow run, its start included; the challenger's shadow scoring
and publishing stay in the flow's process either way); prints the flow's wall time per backend and the largest
propensity difference from the first backend's output.
"""

from __future__ import annotations

import calendar
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.measure import (
    bench_parser,
    compute_settings,
    ensure_consolidated,
    ensure_export,
    last_month,
    registered_versions,
    run_child,
    run_child_kind,
    start_prefect_api,
)


def _settings(home: str) -> Any:
    from xsell.settings import load_settings

    storage = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-optuna-')) / 'optuna.db'}"
    overrides: dict[str, Any] = {"training.optuna_storage": storage}
    return load_settings(home=home, **overrides)


def _month_end(month: str) -> date:
    year, mon = (int(x) for x in month.split("-"))
    return date(year, mon, calendar.monthrange(year, mon)[1])


def _child_prepare(home: str, trials: str) -> None:
    from features.store import connect_warehouse
    from registry.log_training import log_training
    from serving.model_artifacts import serving_artifacts
    from training.dataset import load_training_frame
    from training.pipeline import train_propensity

    settings = _settings(home)
    started = time.perf_counter()
    con = connect_warehouse(settings)
    try:
        frame = load_training_frame(con, settings)
    finally:
        con.close()
    result = train_propensity(frame, settings, trials=int(trials))
    extra = serving_artifacts(result, settings)
    versions = [
        log_training(result, settings, reason=f"bench {i}", trial_runs=False, extra=extra).version for i in (1, 2)
    ]
    print(json.dumps({"rows": len(frame), "versions": versions, "seconds": time.perf_counter() - started}))


def _child_score(home: str, as_of: str, out: str) -> None:
    from serving.batch import publish_scores, shadow_scores

    settings = _settings(home)
    day = date.fromisoformat(as_of)
    started = time.perf_counter()
    published = publish_scores(settings, day, Path(out))
    publish_s = time.perf_counter() - started
    started = time.perf_counter()
    shadow = shadow_scores(settings, day, published["model_version"], published["run_id"])
    shadow_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": published["rows"],
                "scored_accounts": published["accounts"],
                "tiers": published["tiers"],
                "publish_s": publish_s,
                **{f"{k}_s": v for k, v in published["seconds"].items() if k != "total"},
                "shadow_s": shadow_s,
                "shadowed": shadow is not None,
            }
        )
    )


def _child_flows(home: str, as_of: str, out_dir: str, chunk_rows: str, *backends: str) -> None:
    start_prefect_api(home)  # before the flows are imported
    import pandas as pd

    from flows.compute import on_compute
    from flows.score import score_flow

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


def _print_backends(results: list[dict[str, Any]], as_of: date) -> None:
    """One line per size and backend: flow wall time, its scoring part, and agreement with the first backend."""
    print(f"score flow of {as_of} per compute backend (champion with reasons, tiers, files; challenger in shadow)")
    print(
        f"{'accounts':>9} {'backend':>8} {'rows':>7} {'chunks':>6} {'flow s':>7} {'score s':>7} {'write s':>7}"
        f" {'max |diff|':>10} {'same tiers':>10}"
    )
    for r in results:
        for backend, run in r["runs"].items():
            print(
                f"{r['accounts']:>9,} {backend:>8} {run['rows']:>7,} {run['chunks']:>6} {run['flow_s']:>7.1f}"
                f" {run['score_s']:>7.1f} {run['write_s']:>7.1f} {run['max_abs_diff']:>10.1e}"
                f" {'yes' if run['same_tiers'] else 'NO':>10}"
            )


def _registered(home: Path) -> bool:
    """True when `home` holds a registered model with a challenger (prepared by an earlier run)."""
    return registered_versions(_settings(str(home))) >= 2


def main(argv: list[str] | None = None) -> int:
    """Prepare each size (cached), score its last month-end in a child, print rows/s."""
    parser = bench_parser(__doc__)
    parser.set_defaults(accounts=[20000])
    parser.add_argument("--trials", type=int, default=3, help="Optuna trials of the model that scores")
    parser.add_argument("--chunk-rows", type=int, default=1000, help="with --backend: compute.scoring_chunk_rows")
    args = parser.parse_args(argv)
    if args.child:
        run_child_kind(args.child, {"prepare": _child_prepare, "score": _child_score, "flows": _child_flows})
        return 0

    end = last_month(args.start, args.months)
    as_of = _month_end(end)
    results = []
    for accounts in args.accounts:
        raw = ensure_export(args.work, accounts, args.start, end, args.seed)
        home = args.work / f"scoring-home-{accounts}"
        ensure_consolidated(raw, home)
        if not _registered(home):
            prep = run_child("bench.scoring", ["--child", "prepare", str(home), str(args.trials)])
            print(
                f"{accounts:,} accounts: trained on {prep.result['rows']:,} rows and registered versions "
                f"{prep.result['versions']} in {prep.seconds:.1f} s",
                file=sys.stderr,
            )
        if args.backend:
            out_dir = home / "bench-scores"
            flows = run_child(
                "bench.scoring",
                ["--child", "flows", str(home), as_of.isoformat(), str(out_dir), str(args.chunk_rows), *args.backend],
            )
            results.append({"accounts": accounts, "runs": flows.result})
            print(f"scoring {accounts:,} accounts: {json.dumps(results[-1])}", file=sys.stderr)
            continue
        out = home / "bench-scores" / f"scores-{as_of}.parquet"
        run = run_child("bench.scoring", ["--child", "score", str(home), as_of.isoformat(), str(out)])
        results.append({**run.result, "accounts": accounts, "wall_s": run.seconds, "peak_mb": run.peak_rss_mb})
        print(f"scoring {accounts:,} accounts: {json.dumps(results[-1])}", file=sys.stderr)

    if args.backend:
        _print_backends(results, as_of)
        return 0
    print(f"batch scoring of {as_of} (champion with reasons, tiers, CRM file, alerts; challenger in shadow)")
    print(
        f"{'accounts':>9} {'rows':>7} {'load s':>6} {'features s':>10} {'score s':>7} {'write s':>7}"
        f" {'publish s':>9} {'rows/s':>7} {'scoring rows/s':>14} {'shadow s':>8} {'peak MB':>8}"
    )
    for r in results:
        print(
            f"{r['accounts']:>9,} {r['rows']:>7,} {r['load_model_s']:>6.1f} {r['features_s']:>10.1f}"
            f" {r['score_s']:>7.1f} {r['write_s']:>7.1f} {r['publish_s']:>9.1f} {r['rows'] / r['publish_s']:>7,.0f}"
            f" {r['rows'] / r['score_s']:>14,.0f} {r['shadow_s']:>8.1f} {r['peak_mb']:>8,.0f}"
        )
    print(
        "rows/s: the whole publish (model load, snapshot read or built, scoring with reasons, tiers, files,"
        " warehouse); scoring rows/s: model with reason codes, tiers and publish columns only"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
