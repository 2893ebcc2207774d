"""Benchmark: time and peak memory to materialise monthly feature snapshots, against one usage scan.

    python -m bench.features --accounts 2000 20000 --months 30

For each size: generate (cached by size, period, seed and usage density) and consolidate an export, then in one fresh
child process: time one DuckDB scan of the whole usage table (every usage column the features read, grouped by
workspace; best of two warm runs), then materialise `--months` month-end snapshots with the plain functions
(no orchestrator). Prints wall time and peak RSS of that child, seconds per snapshot and the ratio of a
snapshot to one usage scan.

Targets (issue 3): 20,000 accounts x 30 snapshots in <= 5 minutes, <= 6 GB, a snapshot <= 5x one usage scan.

    python -m bench.features --accounts 2000 --months 30 --backend local dask

With `--backend`: in one child per size (the temporary Prefect API started first, untimed), the `build-features` flow
materialises the same snapshots on each backend in turn (`local`: one task at a time; `dask`: a LocalCluster of 2
one-thread workers started by the flow run, its start included), each from an empty `features` schema; prints the
flow's wall time per backend and whether the stored rows are identical.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from bench.measure import (
    bench_parser,
    compute_settings,
    ensure_consolidated,
    ensure_export,
    last_month,
    run_child,
    start_prefect_api,
)

#: One pass over the usage table, reading every column the features read.
USAGE_SCAN_SQL = """
    SELECT workspace_id, count(DISTINCT user_id), count(DISTINCT feature), sum(event_count),
           max(date), max(ingested_at)
    FROM c360.usage_daily GROUP BY workspace_id
"""


def _child_build(home: str, start: str, end: str) -> None:
    from features.build import materialise_snapshot, snapshot_dates
    from features.store import connect_warehouse
    from xsell.settings import load_settings

    settings = load_settings(home=home)
    con = connect_warehouse(settings)
    try:
        con.execute("DROP SCHEMA IF EXISTS features CASCADE")
        usage_rows = int(con.execute("SELECT count(*) FROM c360.usage_daily").fetchall()[0][0])
        scans = []
        for _ in range(3):  # first run warms the OS cache; best of the next two
            t0 = time.perf_counter()
            con.execute(USAGE_SCAN_SQL).fetchall()
            scans.append(time.perf_counter() - t0)
        scan = min(scans[1:])
        per_snapshot = []
        rows = labelled = positives = 0
        t0 = time.perf_counter()
        for as_of in snapshot_dates(start, end, "month_end"):
            t1 = time.perf_counter()
            record = materialise_snapshot(con, as_of, settings)
            per_snapshot.append(time.perf_counter() - t1)
            rows += record.rows
            labelled += record.labelled_rows
            positives += record.positives
        build = time.perf_counter() - t0
    finally:
        con.close()
    print(
        json.dumps(
            {
                "usage_rows": usage_rows,
                "scan_s": scan,
                "build_s": build,
                "per_snapshot_s": per_snapshot,
                "rows": rows,
                "labelled_rows": labelled,
                "positives": positives,
            }
        )
    )


def _stored_rows_digest(settings: Any) -> str:
    """A digest of every materialised row, in key order (equal digests: identical rows)."""
    import hashlib

    import pandas as pd

    from features.store import connect_warehouse

    con = connect_warehouse(settings, read_only=True)
    try:
        rows = con.execute("SELECT * FROM features.snapshot_rows ORDER BY as_of, account_id, product").df()
    finally:
        con.close()
    return hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()).hexdigest()[:16]


def _child_flows(home: str, start: str, end: str, *backends: str) -> None:
    start_prefect_api(home)  # before the flows are imported
    from features.store import connect_warehouse
    from flows.compute import on_compute
    from flows.features import build_features_flow

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


def _print_backends(table: list[dict[str, Any]]) -> None:
    """One line per size and backend: flow wall time, seconds per snapshot, rows identical to the first backend."""
    print(f"{'accounts':>9} {'backend':>8} {'snaps':>5} {'rows':>9} {'flow s':>7} {'s/snap':>7} {'same rows':>9}")
    for r in table:
        first = next(iter(r["runs"].values()))
        for backend, run in r["runs"].items():
            same = "yes" if run["digest"] == first["digest"] else "NO"
            print(
                f"{r['accounts']:>9,} {backend:>8} {run['snapshots']:>5} {run['rows']:>9,} {run['flow_s']:>7.1f}"
                f" {run['flow_s'] / run['snapshots']:>7.2f} {same:>9}"
            )


def main(argv: list[str] | None = None) -> int:
    """Generate and consolidate exports (cached), then time their monthly snapshots; print one table."""
    parser = bench_parser(__doc__)
    args = parser.parse_args(argv)
    if args.child:
        if args.child[0] == "flows":
            _child_flows(*args.child[1:])
        else:
            _child_build(*args.child[1:4])
        return 0

    end = last_month(args.start, args.months)
    table = []
    for accounts in args.accounts:
        raw = ensure_export(args.work, accounts, args.start, end, args.seed)
        home = args.work / f"features-home-{accounts}"
        ensure_consolidated(raw, home)
        if args.backend:
            flows = run_child("bench.features", ["--child", "flows", str(home), args.start, end, *args.backend])
            table.append({"accounts": accounts, "runs": flows.result})
            print(f"{accounts:,} accounts: {json.dumps(table[-1])}", file=sys.stderr)
            continue
        run = run_child("bench.features", ["--child", "build", str(home), args.start, end])
        per = run.result["per_snapshot_s"]
        table.append({**run.result, "accounts": accounts, "wall_s": run.seconds, "peak_mb": run.peak_rss_mb})
        print(f"{accounts:,} accounts: {json.dumps(table[-1])}", file=sys.stderr)
    if args.backend:
        _print_backends(table)
        return 0
    print(
        f"{'accounts':>9} {'usage rows':>12} {'snaps':>5} {'rows':>9} {'wall s':>7} {'build s':>7} {'peak MB':>8} "
        f"{'scan s':>7} {'s/snap':>7} {'max s':>6} {'ratio':>6} {'max r':>6} {'pos rate':>8}"
    )
    for r in table:
        per = r["per_snapshot_s"]
        mean, scan = sum(per) / len(per), r["scan_s"]
        rate = r["positives"] / r["labelled_rows"] if r["labelled_rows"] else float("nan")
        print(
            f"{r['accounts']:>9,} {r['usage_rows']:>12,} {len(per):>5} {r['rows']:>9,} {r['wall_s']:>7.1f} "
            f"{r['build_s']:>7.1f} {r['peak_mb']:>8,.0f} {scan:>7.2f} {mean:>7.2f} {max(per):>6.2f} "
            f"{mean / scan:>6.2f} {max(per) / scan:>6.2f} {rate:>8.2%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
