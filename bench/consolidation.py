"""Benchmark: consolidation wall time, rows/s and peak memory at several generated export sizes.

    python -m bench.consolidation --accounts 2000 20000 --months 30

Targets (issue 2): 20,000 accounts x 30 months in <= 5 minutes with <= 6 GB peak memory on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from bench.measure import run_child


def _months(start: str, count: int) -> str:
    year, month = (int(x) for x in start.split("-"))
    index = year * 12 + month - 1 + count - 1
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _child_generate(out: str, accounts: int, start: str, end: str, seed: int) -> None:
    from xsell.settings import load_settings
    from xsell.synth import generate_raw

    settings = load_settings(**{"generator.accounts": accounts, "generator.start": start, "generator.end": end})
    manifest = generate_raw(Path(out), settings.generator, seed).to_dict()
    rows = sum(t["rows_written"] for t in manifest["tables"].values())
    print(json.dumps({"rows_written": rows, "usage_rows": manifest["tables"]["product/usage_daily"]["rows_written"]}))


def _child_consolidate(raw: str, home: str) -> None:
    from ingest.pipeline import consolidate_raw
    from xsell.settings import load_settings

    summary = consolidate_raw(Path(raw), load_settings(home=home))
    print(json.dumps(summary.to_dict()))


def main(argv: list[str] | None = None) -> int:
    """Generate (cached) exports and time their consolidation, printing one table of figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--months", type=int, default=30)
    parser.add_argument("--start", default="2024-01")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path(".xsell/bench"), help="cache of generated exports")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "generate":
            _child_generate(rest[0], int(rest[1]), rest[2], rest[3], int(rest[4]))
        else:
            _child_consolidate(rest[0], rest[1])
        return 0

    end = _months(args.start, args.months)
    rows = []
    for accounts in args.accounts:
        raw = args.work / f"raw-{accounts}-{args.start}-{end}-s{args.seed}"
        if not (raw / "generator_manifest.json").exists():
            gen = run_child(
                "bench.consolidation",
                ["--child", "generate", str(raw), str(accounts), args.start, end, str(args.seed)],
            )
            print(
                f"generated {accounts:,} accounts: {gen.result['rows_written']:,} rows "
                f"in {gen.seconds:.1f} s, peak {gen.peak_rss_mb:,.0f} MB",
                file=sys.stderr,
            )
        home = args.work / f"home-{accounts}"
        shutil.rmtree(home, ignore_errors=True)
        run = run_child("bench.consolidation", ["--child", "consolidate", str(raw), str(home)])
        read = run.result["totals"]["rows_read"]
        rows.append((accounts, args.months, read, run.seconds, read / run.seconds, run.peak_rss_mb))
    print(f"{'accounts':>9} {'months':>6} {'rows read':>12} {'wall s':>8} {'rows/s':>11} {'peak MB':>9}")
    for accounts, months, read, seconds, rate, peak in rows:
        print(f"{accounts:>9,} {months:>6} {read:>12,} {seconds:>8.1f} {rate:>11,.0f} {peak:>9,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
