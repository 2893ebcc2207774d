"""Benchmark: what to expect by size: every step's time quiet and beside two training jobs, peak memory, growth.

    python -m bench.scale --accounts 2000 20000 100000 --trials 50 --out scale.json

For each size, the export is generated (cached by size, period, seed, usage density and the generator's source; its
generation measured once, when it is made) and then each step runs in a fresh child process (wall time and that
child's peak RSS), first on a quiet machine and then inside `bench.load.busy_machine` (two other 2-thread LightGBM
training jobs beside it, as on a shared server or CI runner), one after the other so the two figures are taken
minutes apart:

- consolidate: `consolidate_raw` of the export into an empty home (DuckDB with `ingest.duckdb_memory_limit`, spilling
  to `HOME/tmp/duckdb`; the largest size that folder reached is reported);
- features: the month-end snapshots of the whole period from an empty `features` schema;
- train: `load_training_frame` + `train_propensity` with `--trials` trials (the whole run);
- score: `publish_scores` + shadow scoring of the last month-end, with a champion and a challenger registered
  beforehand (untimed, `--prep-trials` trials) in a copy of the home;
- monitor: one monitoring check at the last month-end, with a champion trained `--lag` months earlier (untimed
  preparation, `--prep-trials` trials) in another copy of the home.

Prints one markdown table (size x step: quiet s, busy s, busy/quiet, peak MB) and the exponent k of a power-law fit
time ~ accounts^k per step over the sizes measured (and the same for peak memory); steps not measured at a size are
extrapolated from that fit and marked so. `--out` keeps the figures as JSON; a later run with the same `--out`
replaces only the size x step figures it measured again, so a table can be completed in several runs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import busy_machine
from bench.measure import (
    Measurement,
    bench_parser,
    bench_settings,
    consolidated_from,
    ensure_export,
    generation_record,
    last_month,
    registered_versions,
    run_child,
)
from features.calendar import month_end, parse_month

STEPS = ("generate", "consolidate", "features", "train", "score", "monitor")
#: Steps measured beside the background jobs too (generation is measured once, when the cached export is made).
BUSY_STEPS = STEPS[1:]


@dataclass
class StepFigures:
    """One size x step: wall seconds quiet and busy, peak RSS of the child, and what the step reported."""

    accounts: int
    step: str
    quiet_s: float | None = None
    busy_s: float | None = None
    peak_mb: float | None = None
    busy_peak_mb: float | None = None
    spill_mb: float | None = None
    measured_at: str = ""
    load_average: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Busy time over quiet time (None when either is missing)."""
        if self.quiet_s is None or self.busy_s is None or self.quiet_s <= 0:
            return None
        return self.busy_s / self.quiet_s


@dataclass(frozen=True)
class Growth:
    """Power-law exponents of one step over the sizes it was measured at: time ~ accounts^k."""

    step: str
    sizes: tuple[int, ...]
    time_k: float | None
    busy_time_k: float | None
    memory_k: float | None


def power_law_exponent(points: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of log(value) on log(size) over (size, value) points; None with fewer than 2 sizes."""
    usable = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y is not None and y > 0]
    if len({x for x, _ in usable}) < 2:
        return None
    mx = sum(x for x, _ in usable) / len(usable)
    my = sum(y for _, y in usable) / len(usable)
    sxx = sum((x - mx) ** 2 for x, _ in usable)
    sxy = sum((x - mx) * (y - my) for x, y in usable)
    return sxy / sxx


def growth(figures: list[StepFigures], step: str) -> Growth:
    """The exponents of `step` over every size it was measured at."""
    rows = sorted((f for f in figures if f.step == step), key=lambda f: f.accounts)

    def k(value: Callable[[StepFigures], float | None]) -> float | None:
        return power_law_exponent([(r.accounts, v) for r in rows if (v := value(r)) is not None])

    sizes = tuple(r.accounts for r in rows if r.quiet_s is not None)
    return Growth(step, sizes, k(lambda r: r.quiet_s), k(lambda r: r.busy_s), k(lambda r: r.peak_mb))


def extrapolate(figures: list[StepFigures], step: str, accounts: int) -> float | None:
    """Quiet seconds of `step` at `accounts` from the power law through its largest measured size (None if unfit)."""
    g = growth(figures, step)
    measured = [f for f in figures if f.step == step and f.quiet_s is not None]
    if g.time_k is None or not measured:
        return None
    base = max(measured, key=lambda f: f.accounts)
    assert base.quiet_s is not None
    return base.quiet_s * (accounts / base.accounts) ** g.time_k


@contextlib.contextmanager
def spill_watch(folder: Path, every_s: float = 0.5) -> Iterator[list[float]]:
    """Sample the total size of `folder` while the block runs; the list holds the largest size seen (MB)."""
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            total = 0
            for root, _, files in os.walk(folder):
                for name in files:
                    with contextlib.suppress(OSError):
                        total += (Path(root) / name).stat().st_size
            peak[0] = max(peak[0], total / 2**20)
            stop.wait(every_s)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        yield peak
    finally:
        stop.set()
        watcher.join()


@dataclass(frozen=True)
class SizePlan:
    """Where one size's export and homes live and which dates its steps use."""

    accounts: int
    raw: Path
    home: Path
    start: str
    end: str
    seed: int
    trials: int
    prep_trials: int
    lag: int

    @property
    def as_of(self) -> str:
        """The last month-end of the period (scoring and monitoring date)."""
        return month_end(*parse_month(self.end)).isoformat()

    def derived(self, name: str) -> Path:
        """A copy of the home for the steps that register models."""
        return self.home.parent / f"{self.home.name}-{name}"


def _consolidate(plan: SizePlan) -> Measurement:
    shutil.rmtree(plan.home, ignore_errors=True)
    return run_child("bench.consolidation", ["--child", "consolidate", str(plan.raw), str(plan.home)])


def _features(plan: SizePlan) -> Measurement:
    return run_child("bench.features", ["--child", "build", str(plan.home), plan.start, plan.end])


def _train(plan: SizePlan) -> Measurement:
    return run_child("bench.training", ["--child", "train", str(plan.home), str(plan.trials)])


def _score(plan: SizePlan) -> Measurement:
    home = plan.derived("score")
    out = home / "bench-scores" / f"scores-{plan.as_of}.parquet"
    return run_child("bench.scoring", ["--child", "score", str(home), plan.as_of, str(out)])


def _monitor(plan: SizePlan) -> Measurement:
    return run_child("bench.monitoring", ["--child", "check", str(plan.derived("monitor")), plan.as_of])


RUNNERS: dict[str, Callable[[SizePlan], Measurement]] = {
    "consolidate": _consolidate,
    "features": _features,
    "train": _train,
    "score": _score,
    "monitor": _monitor,
}


def _features_ready(plan: SizePlan) -> bool:
    """True when the home holds materialised snapshots (a `features` schema with tables)."""
    import duckdb

    path = plan.home / "warehouse.duckdb"
    if not path.is_file():
        return False
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'features'").fetchall()
    finally:
        con.close()
    return bool(rows[0][0])


def prepare(plan: SizePlan, step: str, done: set[str]) -> None:
    """Untimed preparation a step needs that this run did not measure: the consolidated warehouse, its snapshots,
    the registered models of a copy of the home."""
    if step != "consolidate" and "consolidate" not in done and not consolidated_from(plan.raw, plan.home):
        _log(f"{plan.accounts:,}: consolidating (untimed preparation)")
        _consolidate(plan)
    if step in ("train", "score", "monitor") and "features" not in done and not _features_ready(plan):
        _log(f"{plan.accounts:,}: materialising snapshots (untimed preparation)")
        _features(plan)
    if step in ("score", "monitor"):
        target = plan.derived(step)
        needed = 2 if step == "score" else 1
        if consolidated_from(plan.raw, target) and registered_versions(bench_settings(str(target))) >= needed:
            return
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(plan.home, target, ignore=shutil.ignore_patterns("tmp", "*.wal"))
        if step == "score":
            args = ["scoring", str(target), str(plan.prep_trials)]
        else:
            trained = month_end(*parse_month(last_month(plan.start, _months(plan) - plan.lag))).isoformat()
            args = ["monitoring", str(target), str(plan.prep_trials), trained]
        prep = run_child("bench.champions", args)
        _log(f"{plan.accounts:,}: {step} models registered in {prep.seconds:.0f} s (untimed preparation)")


def _months(plan: SizePlan) -> int:
    """Months of the period from start to end, both included."""
    (y0, m0), (y1, m1) = parse_month(plan.start), parse_month(plan.end)
    return (y1 - y0) * 12 + m1 - m0 + 1


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_step(plan: SizePlan, step: str, busy: bool) -> StepFigures:
    """Run one step quiet (and then busy when asked), each in a fresh child; its figures."""
    figures = StepFigures(
        plan.accounts,
        step,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        load_average=os.getloadavg()[0],
    )
    runner = RUNNERS[step]
    spill_folder = (plan.derived(step) if step in ("score", "monitor") else plan.home) / "tmp" / "duckdb"
    with spill_watch(spill_folder) as spill:
        quiet = runner(plan)
    figures.quiet_s, figures.peak_mb, figures.spill_mb = quiet.seconds, quiet.peak_rss_mb, spill[0]
    figures.detail = _detail(step, quiet.result)
    _log(
        f"{plan.accounts:,} {step} quiet: {quiet.seconds:.1f} s, peak {quiet.peak_rss_mb:,.0f} MB, spill {spill[0]:,.0f} MB"
    )
    if busy:
        with busy_machine(jobs=2, threads=2):
            loaded = runner(plan)
        figures.busy_s, figures.busy_peak_mb = loaded.seconds, loaded.peak_rss_mb
        _log(f"{plan.accounts:,} {step} busy: {loaded.seconds:.1f} s ({figures.ratio:.1f}x quiet)")
    return figures


def _detail(step: str, result: dict[str, Any]) -> dict[str, Any]:
    """The few figures of a step's own report that say how much it did."""
    keys = {
        "consolidate": lambda r: {"rows_read": r["totals"]["rows_read"], "rows_kept": r["totals"]["rows_kept"]},
        "features": lambda r: {"rows": r["rows"], "labelled_rows": r["labelled_rows"], "usage_rows": r["usage_rows"]},
        "train": lambda r: {k: r[k] for k in ("rows", "trials", "pruned", "roc_auc", "pr_auc", "timings_s")},
        "score": lambda r: {"rows": r["rows"], "publish_s": r["publish_s"], "shadow_s": r["shadow_s"]},
        "monitor": lambda r: {k: r[k] for k in ("reference_rows", "current_rows", "drift_s", "decision")},
    }
    return keys[step](result)


def generation_figures(plan: SizePlan) -> StepFigures:
    """The measured generation of the size's cached export (recorded by `ensure_export` when it made it)."""
    record = generation_record(plan.raw)
    figures = StepFigures(plan.accounts, "generate")
    if record is None:  # an export cached before generation was recorded: its time is not known
        _log(f"{plan.accounts:,} generate: cached export without a recorded generation time")
        return figures
    figures.quiet_s, figures.peak_mb = record["seconds"], record["peak_rss_mb"]
    figures.detail = {"rows_written": record["rows_written"]}
    return figures


def merge(old: list[StepFigures], new: list[StepFigures]) -> list[StepFigures]:
    """Earlier figures with the ones measured now in place of the same size x step (sorted by step, then size)."""
    keyed = {(f.accounts, f.step): f for f in old}
    keyed.update({(f.accounts, f.step): f for f in new})
    return sorted(keyed.values(), key=lambda f: (STEPS.index(f.step), f.accounts))


def load_figures(path: Path | None) -> list[StepFigures]:
    """Figures kept by an earlier run in `path` (none when it does not exist)."""
    if path is None or not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())["figures"]
        return [StepFigures(**row) for row in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{path}: not a bench.scale result ({exc})") from None


def _fmt(value: float | None, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def render(figures: list[StepFigures], sizes: list[int]) -> str:
    """The markdown table of every size x step and the table of exponents."""
    lines = [
        "| accounts | step | quiet s | busy s | busy/quiet | peak MB | spill MB | load avg |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_key = {(f.accounts, f.step): f for f in figures}
    for step in STEPS:
        for accounts in sorted(set(sizes) | {f.accounts for f in figures if f.step == step}):
            f = by_key.get((accounts, step))
            if f is not None and f.quiet_s is not None:
                lines.append(
                    f"| {accounts:,} | {step} | {f.quiet_s:,.1f} | {_fmt(f.busy_s, ',.1f')} | {_fmt(f.ratio, '.2f')}"
                    f" | {_fmt(f.peak_mb, ',.0f')} | {_fmt(f.spill_mb, ',.0f')} | {_fmt(f.load_average, '.1f')} |"
                )
                continue
            guess = extrapolate(figures, step, accounts)
            if guess is not None:
                lines.append(f"| {accounts:,} | {step} | ~{guess:,.0f} (extrapolated, not measured) | | | | | |")
            else:
                lines.append(f"| {accounts:,} | {step} | not measured | | | | | |")
    lines += [
        "",
        "| step | sizes measured | time k (quiet) | time k (busy) | peak memory k |",
        "|---|---|---:|---:|---:|",
    ]
    for step in STEPS:
        g = growth(figures, step)
        if g.sizes:
            lines.append(
                f"| {step} | {', '.join(f'{s:,}' for s in g.sizes)} | {_fmt(g.time_k, '.2f')}"
                f" | {_fmt(g.busy_time_k, '.2f')} | {_fmt(g.memory_k, '.2f')} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure each size x step quiet and busy, merge with `--out`, print the tables."""
    parser = bench_parser(__doc__)
    parser.set_defaults(accounts=[2000, 20000, 100000])
    parser.add_argument("--trials", type=int, default=50, help="Optuna trials of the measured training")
    parser.add_argument("--prep-trials", type=int, default=3, help="trials of the models scoring and monitoring use")
    parser.add_argument(
        "--lag", type=int, default=6, help="months between the monitored champion's as-of and the check"
    )
    parser.add_argument(
        "--steps", nargs="*", choices=STEPS, default=list(STEPS), help="the steps to measure (none: print --out)"
    )
    parser.add_argument("--no-busy", action="store_true", help="measure quiet only (no background training jobs)")
    parser.add_argument("--out", type=Path, help="JSON of the figures; figures already there are kept and completed")
    args = parser.parse_args(argv)

    end = last_month(args.start, args.months)
    previous = load_figures(args.out)
    measured: list[StepFigures] = []
    for accounts in args.accounts if args.steps else []:
        raw = ensure_export(args.work, accounts, args.start, end, args.seed)
        home = args.work / f"scale-home-{accounts}"
        plan = SizePlan(accounts, raw, home, args.start, end, args.seed, args.trials, args.prep_trials, args.lag)
        done: set[str] = set()
        for step in (s for s in STEPS if s in args.steps):
            if step == "generate":
                measured.append(generation_figures(plan))
            else:
                prepare(plan, step, done)
                measured.append(measure_step(plan, step, busy=not args.no_busy))
            done.add(step)
            if args.out:  # kept after every step: a long run interrupted keeps what it measured
                save(args.out, merge(previous, measured))
    figures = merge(previous, measured)
    print(f"bench.scale on {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, trials {args.trials}")
    print(render(figures, args.accounts))
    return 0


def save(path: Path, figures: list[StepFigures]) -> None:
    """Write the figures and their exponents to `path` (via a temporary file: never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "figures": [asdict(f) for f in figures],
        "growth": [asdict(growth(figures, s)) for s in STEPS if any(f.step == s for f in figures)],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
