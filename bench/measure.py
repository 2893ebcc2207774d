"""Run a function in a child process and measure its wall time and peak resident memory."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import synth
from registry.models import model_versions
from synth import generate_raw
from xsell.runtime import environment_defaults, prepare_environment
from xsell.settings import load_settings


@dataclass(frozen=True)
class Measurement:
    """Wall time, peak RSS and the child's JSON result."""

    seconds: float
    peak_rss_mb: float
    result: dict[str, Any]


def run_child(module: str, args: list[str], env: dict[str, str] | None = None) -> Measurement:
    """Run `python -m module args...` (which prints one JSON object last) and measure it."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    out_chunks: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out_chunks.append(proc.stdout.read())
    err = proc.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed with exit code {code}:\n{err[-3000:]}")
    lines = [line for line in "".join(out_chunks).splitlines() if line.strip()]
    result = json.loads(lines[-1]) if lines else {}
    return Measurement(seconds=seconds, peak_rss_mb=usage.ru_maxrss / 1024, result=result)


def run_child_kind(child: list[str], children: Mapping[str, Callable[..., None]]) -> None:
    """Run the child step `child[0]` of a benchmark with the remaining arguments (the `--child` side of a bench)."""
    kind, *rest = child
    if kind not in children:
        raise SystemExit(f"unknown child step {kind!r}: expected one of {', '.join(sorted(children))}")
    children[kind](*rest)


def registered_versions(settings: Any) -> int:
    """How many versions of the model the home of `settings` has registered (0 when none)."""
    return len(model_versions(settings))


def bench_parser(description: str | None) -> argparse.ArgumentParser:
    """The options every benchmark shares: sizes, period, seed and the cache folder."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--months", type=int, default=30)
    parser.add_argument("--start", default="2024-01")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path(".xsell/bench"), help="cache of exports and warehouses")
    parser.add_argument(
        "--backend",
        nargs="+",
        choices=["local", "dask"],
        help="run the Prefect flow on each compute backend (dask: a LocalCluster of 2 one-thread workers) and compare",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return parser


def compute_settings(home: str, backend: str, **overrides: Any) -> Any:
    """Settings homed at `home` with `compute.backend` set; dask: a LocalCluster of 2 one-thread workers."""
    values: dict[str, Any] = {"compute.backend": backend, **overrides}
    if backend == "dask":
        values |= {"compute.n_workers": 2, "compute.threads_per_worker": 1}
    return load_settings(home=home, **values)


def start_prefect_api(home: str) -> None:
    """Prepare the process environment as the CLI does (quiet, Prefect state under `home`; a child that imported the
    flows already got it from `backend_env`), then run one empty flow so the temporary Prefect API is up before
    anything is timed."""
    prepare_environment(Path(home))
    from prefect import flow

    flow(name="bench-warm-up")(lambda: None)()


def bench_settings(home: str, **overrides: Any) -> Any:
    """Settings homed at `home` with a fresh Optuna study storage (a new study each run)."""
    storage = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-optuna-')) / 'optuna.db'}"
    return load_settings(home=home, **{"training.optuna_storage": storage, **overrides})


def backend_env(home: Path) -> dict[str, str]:
    """The environment of a child that imports the flows (and Prefect) at its top: the CLI's defaults for `home`,
    where not set already (Prefect reads them when imported)."""
    return {key: value for key, value in environment_defaults(home).items() if key not in os.environ}


def last_month(start: str, months: int) -> str:
    """The YYYY-MM that ends a period of `months` months starting at `start`."""
    year, month = (int(x) for x in start.split("-"))
    index = year * 12 + month - 1 + months - 1
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def generator_fingerprint() -> str:
    """A short hash of the generator's source: a changed world gets a new cached export."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(synth.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def ensure_export(
    work: Path, accounts: int, start: str, end: str, seed: int, drift_at: str | None = None, drift_kind: str = ""
) -> Path:
    """A generated export for these parameters (with `drift_kind` drift from `drift_at` when given), cached under
    `work` (keyed by the usage density and the generator's source too)."""
    density = load_settings().generator.usage_rows_per_account_month
    drift = f"-{drift_kind}{drift_at}" if drift_at else ""
    raw = work / f"raw-{accounts}-{start}-{end}-s{seed}-d{density:g}{drift}-g{generator_fingerprint()}"
    if not (raw / "generator_manifest.json").exists():
        gen = run_child(
            "bench.measure",
            [str(raw), str(accounts), start, end, str(seed), *([drift_at, drift_kind] if drift_at else [])],
        )
        record = {"seconds": gen.seconds, "peak_rss_mb": gen.peak_rss_mb, **gen.result}
        generation_record_path(raw).write_text(json.dumps(record) + "\n")
        print(
            f"generated {accounts:,} accounts: {gen.result['rows_written']:,} rows "
            f"in {gen.seconds:.1f} s, peak {gen.peak_rss_mb:,.0f} MB",
            file=sys.stderr,
        )
    return raw


def generation_record_path(raw: Path) -> Path:
    """Where `ensure_export` keeps the measured generation of the cached export `raw` (beside it, not in it)."""
    return raw.parent / f"{raw.name}.generation.json"


def generation_record(raw: Path) -> dict[str, Any] | None:
    """The measured generation of the cached export `raw` (seconds, peak_rss_mb, rows_written), None when unknown."""
    path = generation_record_path(raw)
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text()))


def consolidated_from(raw: Path, home: Path) -> bool:
    """True when `home` holds a warehouse whose latest load came from `raw`."""
    import duckdb

    path = home / "warehouse.duckdb"
    if not path.is_file():
        return False
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT raw_dir FROM meta.load_runs ORDER BY loaded_at DESC LIMIT 1").fetchall()
    except duckdb.Error:
        return False
    finally:
        con.close()
    return bool(rows) and Path(rows[0][0]).resolve() == raw.resolve()


def ensure_consolidated(raw: Path, home: Path) -> None:
    """Consolidate `raw` into `home` (in a child process) unless its latest load already came from `raw`."""
    import shutil

    if consolidated_from(raw, home):
        return
    shutil.rmtree(home, ignore_errors=True)
    cons = run_child("bench.consolidation", ["--child", "consolidate", str(raw), str(home)])
    print(f"consolidated {raw.name} in {cons.seconds:.1f} s", file=sys.stderr)


def months_between(first: date, second: date) -> int:
    """Whole months from the month of `first` to the month of `second`."""
    return (second.year - first.year) * 12 + second.month - first.month


def _generate(
    out: str, accounts: int, start: str, end: str, seed: int, drift_at: str = "", drift_kind: str = ""
) -> None:

    values: dict[str, Any] = {"generator.accounts": accounts, "generator.start": start, "generator.end": end}
    if drift_at:
        values |= {"generator.drift_at": drift_at, "generator.drift_kind": drift_kind}
    settings = load_settings(**values)
    manifest = generate_raw(Path(out), settings.generator, seed).to_dict()
    print(json.dumps({"rows_written": sum(t["rows_written"] for t in manifest["tables"].values())}))


if __name__ == "__main__":  # child process of ensure_export
    _generate(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), *sys.argv[6:8])
