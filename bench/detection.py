"""Benchmark: how early do the realised-performance rules see injected concept drift, and do they fire on noise?

    python -m bench.detection                                  # 2,000 accounts, 20 trials, stationary + concept
    python -m bench.detection --seeds 42 7 --scenarios concept

A fast stand-in for a 12-month `xsell simulate` when tuning the decision policy: for each scenario's export
(generated once, cached like the simulation benchmark's) one champion is trained as of the first replayed month,
exactly as the replay's bootstrap does, and kept; then at every later month end the monitor's realised-performance
window (the last `monitoring.performance_snapshots` snapshots whose labels matured, after the champion's training
data) is scored and the decision policy's performance rules are applied to the checks in order, with no drift
input. Features are point in time, so the full export gives the rows a cut export would (the leakage tests check
this). Prints, per month, the champion's realised ROC-AUC overall and per product with their intervals, and the
first month each rule fires; one JSON line per scenario on stdout.

What it leaves out: drift-share retrains and what happens after a retrain (a new champion). Confirm a policy with
`python -m bench.simulation`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.measure import ensure_consolidated, ensure_export, months_between, run_child, run_child_kind
from features.build import SnapshotReader
from features.calendar import is_labelled, month_end, parse_month, snapshot_dates
from features.store import connect_warehouse
from monitoring.check import performance_window, purge_days
from monitoring.drift import DriftResult
from monitoring.performance import ModelMetrics, RealisedPerformance, realised_performance
from monitoring.policy import CheckRecord, decide
from monitoring.replay import month_of
from training.dataset import load_training_frame
from training.metrics import binary_metrics
from training.pipeline import train_propensity
from xsell.fileio import write_json_atomic
from xsell.settings import load_settings

SCENARIOS = ("stationary", "concept", "covariate")


def _child_study(home: str, from_month: str, to_month: str, trials: str, seed: str) -> None:
    import numpy as np
    import pandas as pd

    overrides: dict[str, Any] = {"seed": int(seed), "training.optuna_storage": f"sqlite:///{home}/optuna-{seed}.db"}
    settings = load_settings(home=home, **overrides)
    first = month_end(*parse_month(from_month))
    con = connect_warehouse(settings)
    try:
        reader = SnapshotReader(con, settings)
        frame = load_training_frame(con, settings, as_of=first)
        started = time.perf_counter()
        result = train_propensity(frame, settings, trials=int(trials))
        train_s = time.perf_counter() - started
        trained_until = result.data_window[1]
        horizon = settings.features.horizon_days
        last = month_end(*parse_month(to_month))
        scored = {}
        for day in (d for d in reader.calendar.labelled(after=trained_until) if d <= last):
            snap = reader.read(day)
            snap = snap[snap["label"].notna()].reset_index(drop=True)
            snap["score"] = result.model.predict_proba(snap)
            scored[day] = snap
    finally:
        con.close()
    holdout = result.metrics["xsell"]
    policy = settings.monitoring.policy
    purge = purge_days(settings)
    months: list[dict[str, Any]] = []
    for check in snapshot_dates(from_month, to_month, "month_end"):
        matured, out_of_sample = performance_window(
            [d for d in scored if is_labelled(d, horizon, check)],
            trained_until,
            purge,
            settings.monitoring.performance_snapshots,
        )
        if not matured:
            months.append({"as_of": check.isoformat(), "snapshots": []})
            continue
        window = pd.concat([scored[d] for d in matured], ignore_index=True)
        perf = realised_performance(
            window,
            {"champion": (1, window["score"].to_numpy())},
            tuple(d.isoformat() for d in matured),
            resamples=policy.bootstrap_resamples,
            confidence=policy.confidence,
            seed=settings.seed,
            out_of_sample=out_of_sample,
        )
        months.append(
            {
                "as_of": check.isoformat(),
                "snapshots": [d.isoformat() for d in matured],
                "out_of_sample": out_of_sample,
                "overall": perf.champion.to_dict(),
                "products": {p: m.to_dict() for p, m in perf.champion_products.items()},
            }
        )
    per_snapshot = {
        d.isoformat(): {
            str(p): {"rows": len(g), "positives": int(g["label"].sum()), "roc_auc": _roc_auc(g)}
            for p, g in s.groupby("product")
        }
        for d, s in scored.items()
    }
    print(
        json.dumps(
            {
                "train_s": train_s,
                "trained_until": trained_until.isoformat(),
                "holdout": holdout,
                "months": months,
                "per_snapshot": per_snapshot,
                "positives_per_snapshot": float(np.mean([s["label"].sum() for s in scored.values()])),
            },
            default=str,
        )
    )


def decide_months(months: list[dict[str, Any]], policy: Any) -> list[dict[str, Any]]:
    """Apply the decision policy's performance rules to the study's months in order (no drift input, the champion
    kept: what the monitor would decide before its first retrain); each month gains `decision` and `reasons`."""
    no_drift = DriftResult(drift_share=0.0, drifted_features=(), columns={})
    history: list[CheckRecord] = []
    out = []
    for month in months:
        perf = None
        if month.get("overall"):
            perf = RealisedPerformance(
                snapshots=tuple(month["snapshots"]),
                champion=ModelMetrics.from_dict(month["overall"]),
                champion_products={p: ModelMetrics.from_dict(m) for p, m in month["products"].items()},
                out_of_sample=bool(month.get("out_of_sample", True)),
            )
        decision = decide(month["as_of"], no_drift, history, perf, policy, champion_version=1)
        history.append(replace(decision.record(), action="none"))
        fired = decision.decision != "none"
        out.append({**month, "decision": decision.decision, "reasons": list(decision.reasons) if fired else []})
    return out


def _roc_auc(frame: Any) -> float | None:
    """ROC-AUC of the frame's `score` against its `label` (None when one class only)."""
    import math

    value = float(binary_metrics(frame["label"].to_numpy(), frame["score"].to_numpy())["roc_auc"])
    return value if math.isfinite(value) else None


def _fmt(metrics: dict[str, Any] | None) -> str:
    if not metrics or metrics.get("roc_auc") is None:
        return f"{'-':>22}"
    ci = metrics.get("roc_auc_ci")
    interval = f"[{ci[0]:.3f},{ci[1]:.3f}]" if ci else f"{'':>13}"
    positives = f"{int(metrics['positives']):>3}p" if "positives" in metrics else f"{'':>4}"
    return f"{metrics['roc_auc']:.3f} {interval} {positives}"


def _print(scenario: str, seed: int, result: dict[str, Any], x: str) -> None:
    products = sorted({p for m in result["months"] for p in m.get("products", {})})
    print(
        f"\n{scenario}, seed {seed} (X = {x}; champion trained until {result['trained_until']}, "
        f"{result['train_s']:.0f} s); realised ROC-AUC [90% interval] positives",
        file=sys.stderr,
    )
    print(f"{'as_of':>10} {'overall':>22} " + " ".join(f"{p:>22}" for p in products) + "  decision", file=sys.stderr)
    hold = result["holdout"]
    cells = [_fmt(hold.get("overall"))] + [_fmt(hold.get(p)) for p in products]
    print(f"{'holdout':>10} " + " ".join(cells), file=sys.stderr)
    for m in result["months"]:
        cells = [_fmt(m.get("overall"))] + [_fmt(m.get("products", {}).get(p)) for p in products]
        reasons = "; ".join(m.get("reasons", []))
        sample = "" if m.get("out_of_sample", True) else " (in sample)"
        line = f"{m['as_of']:>10} " + " ".join(cells) + f"  {m.get('decision', '-')}{sample} {reasons[:200]}"
        print(line, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the study per scenario and seed; print the tables (stderr) and one JSON line each (stdout)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--start", default="2024-01")
    parser.add_argument("--end", default="2026-06")
    parser.add_argument("--from", dest="from_month", default="2025-01")
    parser.add_argument("--to", dest="to_month", default="2025-12")
    parser.add_argument("--drift-at", default="2025-06")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=["stationary", "concept"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="generator seeds (one export each)")
    parser.add_argument("--work", type=Path, default=Path(".xsell/bench/detection"))
    parser.add_argument(
        "--redecide",
        action="store_true",
        help="apply the current policy to the studies saved under --work; no training",
    )
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="policy settings, e.g. max_product_roc_auc_decay=0.05"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child_kind(args.child, {"study": _child_study})
        return 0

    settings = load_settings(**{f"monitoring.policy.{kv.split('=', 1)[0]}": kv.split("=", 1)[1] for kv in args.set})
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    x = month_of(args.drift_at)
    for seed in args.seeds:
        for scenario in args.scenarios:
            saved = work / f"study-{scenario}-{args.accounts}-s{seed}.json"
            if args.redecide:
                if not saved.is_file():
                    print(f"no saved study {saved.name}: run without --redecide first", file=sys.stderr)
                    continue
                result, seconds = json.loads(saved.read_text()), 0.0
            else:
                drift = (args.drift_at, scenario) if scenario != "stationary" else (None, "")
                raw = ensure_export(work, args.accounts, args.start, args.end, seed, *drift)
                home = work / f"home-{raw.name}"
                ensure_consolidated(raw, home)
                run = run_child(
                    "bench.detection",
                    ["--child", "study", str(home), args.from_month, args.to_month, str(args.trials), str(seed)],
                )
                result, seconds = run.result, run.seconds
                write_json_atomic(saved, result)
            result = {**result, "months": decide_months(result["months"], settings.monitoring.policy)}
            _print(scenario, seed, result, args.drift_at)
            fired = [month_of(m["as_of"][:7]) for m in result["months"] if m["decision"] != "none"]
            after = [m for m in fired if m >= x]
            summary = {
                "scenario": scenario,
                "seed": seed,
                "fired": [f"{m:%Y-%m}" for m in fired],
                "first_lag_months": months_between(x, after[0]) if after else None,
                "seconds": round(seconds),
            }
            print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
