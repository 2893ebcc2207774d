"""Benchmark: training's stages quiet and beside two other LightGBM jobs, this code and (optionally) an older one.

    python -m bench.contention --accounts 2000 --trials 50 --before main

One export (generated and consolidated once, cached like `bench.training`), then full training runs
(`bench.training`'s `train` child: `train_propensity`, its own `timings_s` per stage), each in a fresh process:
quiet, and busy (inside `bench.load.busy_machine(jobs=2, threads=2)`: two 2-thread LightGBM jobs on the same
cores). With `--before REF` the same runs are made with the code of git revision REF (extracted to a temporary
folder, run without the OpenMP wait policy this code's CLI sets), alternating with this code's runs so both see the
same machine. Printed: seconds per stage quiet and busy, busy/quiet, everything after the search over the search,
the holdout metrics (the same model quality), the load average around each run, and PASS/FAIL against issue 15's
targets: busy, everything after the search <= 1.2x the search, and no stage (of at least 1 s quiet) more than 4x
its quiet time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from bench.load import busy_machine
from bench.measure import bench_parser, ensure_consolidated, ensure_export, last_month, run_child
from xsell.runtime import THREADING_ENV

#: Stages of `timings_s` in run order (older code has no separate calibration stage: it is in its final fit).
STAGES = ("datasets_s", "tuning_s", "calibration_s", "final_fit_s", "evaluation_s", "imbalance_s", "refit_s",
          "explain_s")  # fmt: skip
#: Targets of issue 15 (busy: after-search / search; any stage busy / quiet), and the quiet seconds below which a
#: stage's ratio is noise.
AFTER_SEARCH_TARGET, STAGE_TARGET, MIN_STAGE_S = 1.2, 4.0, 1.0


def extract_revision(ref: str, into: Path) -> Path:
    """The source tree of git revision `ref` of this repository, extracted under `into`."""
    root = Path(__file__).resolve().parent.parent
    out = into / f"src-{ref.replace('/', '_')}"
    out.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(root), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def train_once(home: Path, trials: int, source: Path | None, busy: bool) -> dict[str, Any]:
    """One full training run in a fresh process (this code, or the tree at `source`), quiet or busy."""
    env = {"PYTHONPATH": str(source)} if source is not None else dict(THREADING_ENV)
    here = Path.cwd()
    load_before = os.getloadavg()[0]
    with busy_machine(jobs=2, threads=2) if busy else nullcontext():
        os.chdir(source or here)  # `python -m` puts the working folder first on the path
        try:
            run = run_child("bench.training", ["--child", "train", str(home.resolve()), str(trials)], env=env)
        finally:
            os.chdir(here)
    return {**run.result, "wall_s": run.seconds, "load": (load_before, os.getloadavg()[0])}


def after_search(timings: dict[str, float]) -> float:
    """Seconds of everything after the search (calibration, fits, evaluation, refit, explanation)."""
    return timings["total_s"] - timings.get("datasets_s", 0.0) - timings["tuning_s"]


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:6.2f}x" if a is not None and b else "      -"


def _seconds(value: float | None) -> str:
    return f"{value:8.1f}" if value is not None else "       -"


def report(name: str, quiet: dict[str, Any], busy: dict[str, Any]) -> list[str]:
    """The table of one code version, and its PASS/FAIL lines."""
    tq, tb = quiet["timings_s"], busy["timings_s"]
    lines = [f"{name}:", f"{'stage':>14} {'quiet s':>8} {'busy s':>8} {'busy/quiet':>10}"]
    for stage in (*STAGES, "total_s"):
        if stage in tq or stage in tb:
            lines.append(
                f"{stage.removesuffix('_s'):>14} {_seconds(tq.get(stage))} {_seconds(tb.get(stage))}"
                f"    {_ratio(tb.get(stage), tq.get(stage))}"
            )
    lines.append(
        f"{'wall (child)':>14} {quiet['wall_s']:8.1f} {busy['wall_s']:8.1f}    {_ratio(busy['wall_s'], quiet['wall_s'])}"
    )
    aq, ab = after_search(tq) / tq["tuning_s"], after_search(tb) / tb["tuning_s"]
    lines.append(f"after-search / search: quiet {aq:.2f}x, busy {ab:.2f}x")
    lines.append(
        f"load average (1 min) before/after: quiet {quiet['load'][0]:.1f}/{quiet['load'][1]:.1f},"
        f" busy {busy['load'][0]:.1f}/{busy['load'][1]:.1f}"
    )
    for label, r in (("quiet", quiet), ("busy", busy)):
        lines.append(
            f"holdout ({label}): ROC-AUC {r['roc_auc']:.4f}, PR-AUC {r['pr_auc']:.4f}, ECE {r['ece']:.4f},"
            f" CV best {r['best_value']:.4f}, {r['trials']} trials ({r['pruned']} pruned)"
        )
    lines.append(f"{'PASS' if ab <= AFTER_SEARCH_TARGET else 'FAIL'} {name}: busy after-search {ab:.2f}x the search"
                 f" (target <= {AFTER_SEARCH_TARGET}x)")  # fmt: skip
    worst = max(
        ((tb[s] / tq[s], s) for s in STAGES if s in tq and s in tb and tq[s] >= MIN_STAGE_S), default=(0.0, "-")
    )
    lines.append(
        f"{'PASS' if worst[0] <= STAGE_TARGET else 'FAIL'} {name}: slowest stage busy/quiet {worst[0]:.2f}x"
        f" ({worst[1].removesuffix('_s')}; target <= {STAGE_TARGET}x, stages of >= {MIN_STAGE_S:g} s quiet)"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Prepare the export, run quiet and busy training (this code and `--before`), print the tables."""
    parser = bench_parser(__doc__)
    parser.set_defaults(accounts=[2000])
    parser.add_argument("--trials", type=int, default=50, help="trials of each training run")
    parser.add_argument("--before", help="git revision whose training to run side by side (e.g. main)")
    args = parser.parse_args(argv)
    os.environ.pop("OMP_WAIT_POLICY", None)  # each child gets the policy of its own code, nothing inherited
    accounts = args.accounts[0]
    raw = ensure_export(args.work, accounts, args.start, last_month(args.start, args.months), args.seed)
    home = (args.work / f"training-home-{accounts}").resolve()  # the runs chdir to the code they time
    ensure_consolidated(raw, home)
    with tempfile.TemporaryDirectory(prefix="bench-contention-") as scratch:
        versions: dict[str, Path | None] = {"this code": None}
        if args.before:
            versions = {f"before ({args.before})": extract_revision(args.before, Path(scratch)), **versions}
        runs: dict[tuple[str, bool], dict[str, Any]] = {}
        for busy in (False, True):
            for name, source in versions.items():
                runs[name, busy] = train_once(home, args.trials, source, busy)
                r = runs[name, busy]
                print(
                    f"{name}, {'busy' if busy else 'quiet'}: {r['wall_s']:.1f} s wall, load {r['load'][0]:.1f}"
                    f" -> {r['load'][1]:.1f}, timings {r['timings_s']}",
                    file=sys.stderr,
                )
    print(f"training {accounts:,} accounts, {args.trials} trials, {os.cpu_count()} cores; busy = two 2-thread"
          " LightGBM jobs beside it")  # fmt: skip
    for name in versions:
        print("\n".join(report(name, runs[name, False], runs[name, True])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
