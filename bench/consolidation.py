"""Benchmark: consolidation wall time, rows/s and peak memory at several generated export sizes.

    python -m bench.consolidation --accounts 2000 20000 --months 30

Targets (issue 2): 20,000 accounts x 30 months in <= 5 minutes with <= 6 GB peak memory on 2 cores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.measure import bench_parser, ensure_export, last_month, run_child
from ingest.pipeline import consolidate_raw
from xsell.settings import load_settings


def _child_consolidate(raw: str, home: str) -> None:

    summary = consolidate_raw(Path(raw), load_settings(home=home))
    print(json.dumps(summary.to_dict()))


def main(argv: list[str] | None = None) -> int:
    """Generate (cached) exports and time their consolidation, printing one table of figures."""
    parser = bench_parser(__doc__)
    args = parser.parse_args(argv)
    if args.child:
        _child_consolidate(args.child[1], args.child[2])
        return 0

    end = last_month(args.start, args.months)
    rows = []
    for accounts in args.accounts:
        raw = ensure_export(args.work, accounts, args.start, end, args.seed)
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
