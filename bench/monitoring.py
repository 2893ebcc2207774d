"""Benchmark: wall time and peak memory of one `xsell monitor` check at a given number of accounts.

    python -m bench.monitoring --accounts 20000 --months 30 --trials 3

For each size: generate (cached) and consolidate (cached) an export, then, once per home, train a small model
(`--trials`) as of `--lag` months before the period's last month-end and register it (the first version is the
champion). Then in a fresh child process, the check at the last month-end, each phase timed: plan (models,
reference and performance snapshots, materialised when missing), drift (Evidently report on the champion's inputs
and propensities, reference = the end of its training window), performance (every model scores the snapshots whose
labels matured after its training data, bootstrap intervals), decision (policy, `decision.json`, history) and
attach (the folder logged to the champion's MLflow run). Prints one row per size with the child's peak memory.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from bench.measure import (
    bench_parser,
    bench_settings,
    ensure_consolidated,
    ensure_export,
    last_month,
    registered_versions,
    run_child,
    run_child_kind,
)
from features.calendar import month_end, parse_month
from monitoring.check import attach_to_champion, drift_check, performance_check, plan_check, record_decision

PHASES = ("plan", "drift", "performance", "decision", "attach")


def _shift(month: str, months: int) -> str:
    """`month` (YYYY-MM) moved by `months`."""
    year, mon = (int(x) for x in month.split("-"))
    index = year * 12 + mon - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _child_check(home: str, as_of: str) -> None:

    settings = bench_settings(home)
    day = date.fromisoformat(as_of)
    seconds: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], object]) -> object:
        started = time.perf_counter()
        value = fn()
        seconds[name] = time.perf_counter() - started
        return value

    plan = timed("plan", lambda: plan_check(settings, day))
    drift = timed("drift", lambda: drift_check(settings, plan))  # type: ignore[arg-type]
    perf = timed("performance", lambda: performance_check(settings, plan))  # type: ignore[arg-type]
    decision = timed("decision", lambda: record_decision(settings, plan, drift, perf))  # type: ignore[arg-type]
    timed("attach", lambda: attach_to_champion(settings, plan, decision))  # type: ignore[arg-type]
    print(
        json.dumps(
            {
                "decision": decision.decision,  # type: ignore[attr-defined]
                "drift_share": drift.drift_share,  # type: ignore[attr-defined]
                "reference_rows": drift.reference_rows,  # type: ignore[attr-defined]
                "current_rows": drift.current_rows,  # type: ignore[attr-defined]
                "labelled_rows": perf.champion.rows if perf is not None else 0,  # type: ignore[attr-defined]
                **{f"{k}_s": v for k, v in seconds.items()},
            }
        )
    )


def _registered(home: Path) -> bool:
    """True when `home` holds a registered champion (prepared by an earlier run)."""
    return registered_versions(bench_settings(str(home))) >= 1


def main(argv: list[str] | None = None) -> int:
    """Prepare each size (cached), run the check at its last month-end in a child, print the phases."""
    parser = bench_parser(__doc__)
    parser.set_defaults(accounts=[20000])
    parser.add_argument("--trials", type=int, default=3, help="Optuna trials of the champion")
    parser.add_argument("--lag", type=int, default=6, help="months between the champion's as-of and the check")
    args = parser.parse_args(argv)
    if args.child:
        run_child_kind(args.child, {"check": _child_check})
        return 0

    end = last_month(args.start, args.months)
    as_of = month_end(*parse_month(end))
    trained_as_of = month_end(*parse_month(_shift(end, -args.lag)))
    results = []
    for accounts in args.accounts:
        raw = ensure_export(args.work, accounts, args.start, end, args.seed)
        home = args.work / f"monitoring-home-{accounts}"
        ensure_consolidated(raw, home)
        if not _registered(home):
            prep = run_child("bench.champions", ["monitoring", str(home), str(args.trials), trained_as_of.isoformat()])
            print(
                f"{accounts:,} accounts: champion v{prep.result['version']} trained as of {trained_as_of} on "
                f"{prep.result['rows']:,} rows in {prep.seconds:.1f} s",
                file=sys.stderr,
            )
        run = run_child("bench.monitoring", ["--child", "check", str(home), as_of.isoformat()])
        results.append({**run.result, "accounts": accounts, "wall_s": run.seconds, "peak_mb": run.peak_rss_mb})
        print(f"monitoring {accounts:,} accounts: {json.dumps(results[-1])}", file=sys.stderr)

    print(f"monitoring check at {as_of} (champion trained as of {trained_as_of})")
    print(
        f"{'accounts':>9} {'ref rows':>8} {'cur rows':>8} {'labelled':>8}"
        + "".join(f" {p + ' s':>13}" for p in PHASES)
        + f" {'wall s':>7} {'peak MB':>8} decision"
    )
    for r in results:
        print(
            f"{r['accounts']:>9,} {r['reference_rows']:>8,} {r['current_rows']:>8,} {r['labelled_rows']:>8,}"
            + "".join(f" {r[p + '_s']:>13.1f}" for p in PHASES)
            + f" {r['wall_s']:>7.1f} {r['peak_mb']:>8,.0f} {r['decision']} (drift share {r['drift_share']:.2f})"
        )
    print("wall s: the child process, imports included (Evidently's import is ~6 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
