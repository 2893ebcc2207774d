"""Background CPU load for benchmarks: other multi-threaded LightGBM training jobs running beside the one measured.

    with busy_machine(jobs=2, threads=2):
        ...  # what is timed here competes with two 2-thread LightGBM jobs, as on a shared server or CI runner

Each job is a separate process that trains LightGBM boosters on random data in a loop until it is stopped, so the
load stays steady for however long the measured step takes. The processes are stopped (and waited for) when the
block ends, also when it raises.

    python -m bench.load --jobs 2 --threads 2 --seconds 30   # the load alone, e.g. beside a command run by hand
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["busy_machine", "train_forever"]

#: Rows x features of the random training data of one background job (about 1 s a booster with 2 threads).
ROWS, FEATURES = 50_000, 40


def train_forever(threads: int, seconds: float | None = None) -> None:
    """Train LightGBM boosters with `threads` threads on random data, one after another, for `seconds` (or forever)."""
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(os.getpid())
    x = rng.normal(size=(ROWS, FEATURES))
    y = (x[:, 0] + rng.normal(size=ROWS) > 1).astype(int)
    data = lgb.Dataset(x, y, params={"verbosity": -1}).construct()
    params = {"objective": "binary", "num_threads": threads, "verbosity": -1, "num_leaves": 63, "seed": 1}
    deadline = time.monotonic() + seconds if seconds is not None else None
    while deadline is None or time.monotonic() < deadline:
        lgb.train(params, data, num_boost_round=50)


@contextmanager
def busy_machine(jobs: int = 2, threads: int = 2) -> Iterator[list[int]]:
    """Run `jobs` background LightGBM training processes of `threads` threads each while the block runs; their pids."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--jobs", "0", "--threads", str(threads), "--worker"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(jobs)
    ]
    try:
        time.sleep(2.0 if jobs else 0.0)  # let them import LightGBM and start training before anything is timed
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main(argv: list[str] | None = None) -> None:
    """Run the background load from the command line (or, with --worker, be one of its jobs)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="background training processes")
    parser.add_argument("--threads", type=int, default=2, help="LightGBM threads of each")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load lasts")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        train_forever(args.threads)
        return
    with busy_machine(args.jobs, args.threads) as pids:
        print(f"{len(pids)} LightGBM jobs of {args.threads} threads running for {args.seconds:.0f} s: {pids}")
        time.sleep(args.seconds)


if __name__ == "__main__":
    main()
