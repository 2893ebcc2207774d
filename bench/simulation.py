"""Benchmark of `xsell simulate`: wall time and the decisions of a 12-month replay per scenario.

    python -m bench.simulation                                   # 2,000 accounts, 20 trials, all scenarios
    python -m bench.simulation --accounts 600 --trials 5 --scenarios stationary covariate

Scenarios: `stationary` (no drift), `covariate` and `concept` (`xsell generate --drift-at X --drift-kind ...`),
`degraded` (stationary export, `--degrade-at X` forces a model trained on permuted labels to champion). Exports
are generated once per scenario and size and cached under `--work`; every replay starts fresh. Prints one row per
scenario: wall time, seconds per month, the months of each retrain / rollback, and the lag of the first one
after X (the targets: none or one retrain when stationary, a retrain within 3 months of covariate drift and 4 of
concept drift, a rollback after the forced degraded champion).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from bench.measure import generator_fingerprint, months_between
from monitoring.replay import TimelineRow, month_of, read_timeline

SCENARIOS = ("stationary", "covariate", "concept", "degraded")


def _xsell(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from flows.cli import run; run()", "--home", str(home), "--no-progress", *args]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    if done.returncode != 0:
        raise RuntimeError(f"xsell {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def _export(work: Path, scenario: str, args: argparse.Namespace, env: dict[str, str]) -> Path:
    drift = scenario in ("covariate", "concept")
    name = f"raw-{scenario if drift else 'stationary'}-{args.accounts}-{args.start}-{args.end}-s{args.seed}"
    raw = work / f"{name}-x{args.drift_at if drift else ''}-g{generator_fingerprint()}"
    if not (raw / "generator_manifest.json").exists():
        extra = ["--drift-at", args.drift_at, "--drift-kind", scenario] if drift else []
        started = time.perf_counter()
        _xsell(
            work / "gen-home",
            "generate",
            *("--out", str(raw), "--accounts", str(args.accounts), "--seed", str(args.seed)),
            *("--start", args.start, "--end", args.end, *extra),
            env=env,
        )
        print(f"generated {raw.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return raw


def _summary(scenario: str, rows: list[TimelineRow], seconds: float, x: date) -> dict[str, object]:
    retrains = [r.as_of[:7] for r in rows if r.decision == "retrain"]
    rollbacks = [r.as_of[:7] for r in rows if r.decision == "rollback"]
    acted = [f"{r.as_of[:7]}:{r.action}" for r in rows if r.action not in ("", "none")]
    promotions = [f"{r.as_of[:7]}:{r.promoted}" for r in rows if r.promoted]
    watched = rollbacks if scenario == "degraded" else retrains
    after = [month_of(m) for m in watched if month_of(m) >= x]
    return {
        "scenario": scenario,
        "months": len(rows),
        "seconds": round(seconds),
        "seconds_per_month": round(seconds / max(len(rows), 1), 1),
        "retrain_months": retrains,
        "rollback_months": rollbacks,
        "actions": acted,
        "promotions": promotions,
        "first_lag_months": months_between(x, after[0]) if after else None,
        "drift_share": [round(r.drift_share, 2) if r.drift_share is not None else None for r in rows],
    }


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios and print their figures (a table on stderr, JSON lines on stdout)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--start", default="2024-01", help="first month of the generated export")
    parser.add_argument("--end", default="2026-06", help="last month of the generated export")
    parser.add_argument("--from", dest="from_month", default="2025-01", help="first replayed month")
    parser.add_argument("--to", dest="to_month", default="2025-12", help="last replayed month")
    parser.add_argument("--drift-at", default="2025-06", help="month X of the injected drift / degraded champion")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path(".xsell/bench/simulation"))
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra XSELL_* settings, e.g. TRAINING__N_SEEDS=1"
    )
    args = parser.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {"XSELL_LOG_LEVEL": "WARNING", **{f"XSELL_{kv.split('=', 1)[0]}": kv.split("=", 1)[1] for kv in args.set}}
    x = month_of(args.drift_at)
    print(
        f"simulate {args.from_month}..{args.to_month}, {args.accounts:,} accounts, {args.trials} trials per training, "
        f"X = {args.drift_at}, {os.cpu_count()} cores",
        file=sys.stderr,
    )
    for scenario in args.scenarios:
        raw = _export(work, scenario, args, env)
        home = work / f"home-{scenario}-{args.accounts}"
        extra = ["--degrade-at", args.drift_at] if scenario == "degraded" else []
        started = time.perf_counter()
        _xsell(
            home,
            "simulate",
            *("--raw", str(raw), "--from", args.from_month, "--to", args.to_month, "--trials", str(args.trials)),
            "--fresh",
            *extra,
            env=env,
        )
        seconds = time.perf_counter() - started
        summary = _summary(scenario, read_timeline(home / "reports" / "simulation" / "timeline.csv"), seconds, x)
        print(
            f"{scenario:<10} {summary['seconds']:>6} s ({summary['seconds_per_month']} s/month)  "
            f"retrain {','.join(summary['retrain_months']) or '-'}  rollback {','.join(summary['rollback_months']) or '-'}"
            f"  first lag {summary['first_lag_months']}  actions {' '.join(summary['actions']) or '-'}",
            file=sys.stderr,
        )
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
