"""Benchmark: wall time and peak memory of one `xsell monitor` check at a given number of accounts, before and after
the drift sample and the reference cache, side by side.

    python -m bench.monitoring --accounts 2000 20000 --months 30 --trials 3 [--noise]

For each size: generate (cached) and consolidate (cached) an export, then, once per home, train a small model
(`--trials`) as of `--lag` months before the period's last month-end and register it (the first version is the
champion). Then in a fresh child process, the check at the last month-end, each phase timed: plan (models,
reference and performance snapshots, materialised when missing), drift (Evidently report on the champion's inputs
and propensities, reference = the end of its training window), performance (every model scores the snapshots whose
labels matured after its training data, bootstrap intervals), decision (policy, `decision.json`, history) and
attach (the folder logged to the champion's MLflow run). Each size runs three modes in turn, each in its own child:
`before` (full data up to `max_rows`, no reference cache, every Evidently widget built: the behaviour before
issue 15), `first` (the stratified
sample, the cache emptied first: the first check of a champion version) and `second` (the same check again: the
reference read from the cache). Prints one row per size and mode with the load average beside it, and PASS/FAIL of
the check's own time (the phases, imports excluded) of `first` and `second` against the targets (<= 20 s at 2,000
accounts, <= 60 s at 20,000). `--noise` also measures, on the champion's real reference rows, the distances between
two disjoint samples of the default size (sampling noise: far below the thresholds) and a 0.3-std shift injected
into one numeric feature, flagged on the sample as on the full data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import monitoring.drift
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
from monitoring.check import (
    _read_snapshots,
    attach_to_champion,
    drift_check,
    performance_check,
    plan_check,
    record_decision,
)
from monitoring.drift import compare_frames
from monitoring.reference import reference_dir, sampled
from monitoring.sampling import stratified_sample
from registry.models import load_model

PHASES = ("plan", "drift", "performance", "decision", "attach")
#: Modes of one check: settings overrides (before: full data, no cache).
MODES: dict[str, dict[str, object]] = {
    "before": {"monitoring.drift.sample_rows": 0, "monitoring.drift.reference_cache": False},
    "first": {},
    "second": {},
}
#: Target of one check's own time per size (issue 15): the largest size at or below the accounts applies.
TARGETS = {2_000: 20.0, 20_000: 60.0}


def _shift(month: str, months: int) -> str:
    """`month` (YYYY-MM) moved by `months`."""
    year, mon = (int(x) for x in month.split("-"))
    index = year * 12 + mon - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _child_check(home: str, as_of: str, mode: str = "first") -> None:
    settings = bench_settings(home, **MODES[mode])
    if mode == "before":  # every per-column widget built, as before issue 15
        monitoring.drift._unrendered = lambda columns: contextlib.nullcontext()  # type: ignore[assignment]
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
                "reference_cached": drift.extra.get("reference_cached", False),  # type: ignore[attr-defined]
                "drifted": list(drift.drifted_features),  # type: ignore[attr-defined]
                **{f"{k}_s": v for k, v in seconds.items()},
            }
        )
    )


def _child_noise(home: str, as_of: str) -> None:
    """Distances between two disjoint default-size samples of the champion's reference rows (same data: noise), and a
    0.3-std shift of one numeric feature of the current snapshot, on the full data and on the sample."""
    import numpy as np

    settings = bench_settings(home)
    cfg = settings.monitoring.drift
    plan = plan_check(settings, date.fromisoformat(as_of))
    model = load_model(plan.champion.uri, settings).model
    features = [f for f in model.feature_names_ if f not in set(cfg.exclude)]
    cat = [f for f in features if f in set(model.categorical_features_)]
    num = [f for f in features if f not in set(cat)]
    kwargs = {"numeric": num, "categorical": cat, "settings": cfg, "html": False}
    reference = _read_snapshots(settings, plan.reference_dates, "reference")
    rows = min(cfg.sample_rows, len(reference) // 2)
    first = sampled(reference, rows, 1)
    keys = ["account_id", "product", "as_of"]
    rest = reference.merge(first[keys], on=keys, how="left", indicator=True)
    rest = rest[rest["_merge"] == "left_only"].drop(columns="_merge")
    second = sampled(rest, rows, 2)
    out = Path(home) / "bench-noise"
    same = compare_frames(first, second, out_dir=out / "same", **kwargs)  # type: ignore[arg-type]
    current = _read_snapshots(settings, (plan.as_of,), "current")
    spread = {f: float(np.nanstd(reference[f].astype("float64"))) for f in num}
    column = max(num, key=lambda f: spread[f] if reference[f].nunique() > 20 else -1.0)
    shifted = current.assign(**{column: current[column].astype("float64") + 0.3 * spread[column]})
    full = compare_frames(reference, shifted, out_dir=out / "full", **kwargs)  # type: ignore[arg-type]
    small = compare_frames(
        sampled(reference, cfg.sample_rows, settings.seed),
        stratified_sample(shifted, cfg.sample_rows, ("product",), settings.seed),
        out_dir=out / "sample",
        **kwargs,  # type: ignore[arg-type]
    )
    print(
        json.dumps(
            {
                "rows": rows,
                "same_max_numeric": max(same.scores[c] for c in num),
                "same_p95_numeric": float(np.percentile([same.scores[c] for c in num], 95)),
                "same_max_categorical": max((same.scores[c] for c in cat), default=0.0),
                "same_drifted": list(same.drifted_features),
                "bound": same.extra["sample"]["noise"],
                "shifted": column,
                "full_rows": [len(reference), len(shifted)],
                "full_score": full.columns[column].score,
                "full_drifted": list(full.drifted_features),
                "sample_score": small.columns[column].score,
                "sample_drifted": list(small.drifted_features),
                "num_threshold": cfg.num_threshold,
                "cat_threshold": cfg.cat_threshold,
            }
        )
    )


def _load() -> str:
    """The 1-minute load average (the machine is shared: absolute seconds are noisy)."""
    return f"{os.getloadavg()[0]:.1f}"


def _target(accounts: int) -> float | None:
    """The target seconds of one check at `accounts` (None below the smallest size)."""
    sizes = [size for size in TARGETS if size <= accounts]
    return TARGETS[max(sizes)] if sizes else None


def _registered(home: Path) -> bool:
    """True when `home` holds a registered champion (prepared by an earlier run)."""
    return registered_versions(bench_settings(str(home))) >= 1


def main(argv: list[str] | None = None) -> int:
    """Prepare each size (cached), run the check at its last month-end in a child, print the phases."""
    parser = bench_parser(__doc__)
    parser.set_defaults(accounts=[20000])
    parser.add_argument("--trials", type=int, default=3, help="Optuna trials of the champion")
    parser.add_argument("--lag", type=int, default=6, help="months between the champion's as-of and the check")
    parser.add_argument("--noise", action="store_true", help="also measure sampling noise and a shift on real data")
    args = parser.parse_args(argv)
    if args.child:
        run_child_kind(args.child, {"check": _child_check, "noise": _child_noise})
        return 0

    end = last_month(args.start, args.months)
    as_of = month_end(*parse_month(end))
    trained_as_of = month_end(*parse_month(_shift(end, -args.lag)))
    results: list[dict[str, Any]] = []
    noises: list[dict[str, Any]] = []
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
        for mode in MODES:
            if mode == "first":
                shutil.rmtree(reference_dir(bench_settings(str(home))), ignore_errors=True)
            load = _load()
            run = run_child("bench.monitoring", ["--child", "check", str(home), as_of.isoformat(), mode])
            check_s = sum(run.result[f"{p}_s"] for p in PHASES)
            row = {**run.result, "accounts": accounts, "mode": mode, "check_s": check_s, "load": load}
            results.append({**row, "wall_s": run.seconds, "peak_mb": run.peak_rss_mb})
            print(f"monitoring {accounts:,} accounts, {mode}: {json.dumps(results[-1])}", file=sys.stderr)
        if args.noise:
            noise = run_child("bench.monitoring", ["--child", "noise", str(home), as_of.isoformat()]).result
            noises.append({**noise, "accounts": accounts})
            print(f"noise {accounts:,} accounts: {json.dumps(noise)}", file=sys.stderr)

    print(f"monitoring check at {as_of} (champion trained as of {trained_as_of})")
    print(
        f"{'accounts':>9} {'mode':>6} {'load':>5} {'ref rows':>8} {'cur rows':>8} {'labelled':>8}"
        + "".join(f" {p + ' s':>13}" for p in PHASES)
        + f" {'check s':>8} {'wall s':>7} {'peak MB':>8} target decision"
    )
    for r in results:
        target = _target(r["accounts"])
        verdict = "-" if target is None or r["mode"] == "before" else ("PASS" if r["check_s"] <= target else "FAIL")
        print(
            f"{r['accounts']:>9,} {r['mode']:>6} {r['load']:>5} {r['reference_rows']:>8,} {r['current_rows']:>8,}"
            f" {r['labelled_rows']:>8,}"
            + "".join(f" {r[p + '_s']:>13.1f}" for p in PHASES)
            + f" {r['check_s']:>8.1f} {r['wall_s']:>7.1f} {r['peak_mb']:>8,.0f}"
            + f" {verdict} <= {target or 0:.0f} s {r['decision']} (drift share {r['drift_share']:.2f})"
        )
    for r in results:
        if r["mode"] == "second":
            before = next(b for b in results if b["accounts"] == r["accounts"] and b["mode"] == "before")
            print(
                f"{r['accounts']:,} accounts: drift {before['drift_s']:.1f} s -> {r['drift_s']:.1f} s "
                f"({before['drift_s'] / max(r['drift_s'], 1e-9):.1f}x), check {before['check_s']:.1f} s -> "
                f"{r['check_s']:.1f} s ({before['check_s'] / max(r['check_s'], 1e-9):.1f}x), same run"
            )
    for n in noises:
        print(
            f"{n['accounts']:,} accounts, noise: two disjoint samples of {n['rows']:,} reference rows: max numeric "
            f"distance {n['same_max_numeric']:.3f} (95th pct {n['same_p95_numeric']:.3f}, bound "
            f"{n['bound']['numeric']:.3f}, threshold {n['num_threshold']}), max categorical "
            f"{n['same_max_categorical']:.3f} (bound {n['bound']['categorical']:.3f}, threshold {n['cat_threshold']}),"
            f" drifted {n['same_drifted'] or 'none'}; {n['shifted']} shifted by 0.3 std: full data "
            f"{n['full_score']:.3f} {n['full_drifted']}, sample {n['sample_score']:.3f} {n['sample_drifted']}"
        )
    print("check s: the phases in the child (imports excluded); wall s: the child process, imports included")
    print("load: 1-minute load average when the child started (the machine is shared: compare modes within a size)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
