"""Progress as log lines, for output that is not a terminal (CI, log files, Prefect workers).

A step logs one line when it starts and one when it finishes, with its duration (`building feature snapshots: 30/30
in 12.3 s`). In between, a long step logs where it is at most every `every` seconds: done/total, rate and ETA when
its total is known, else only the time so far. Those lines come from the step's own advances and, when a step does
not advance for a while (one long query, one model fit), from a heartbeat thread, so a log reader never waits long
without knowing what runs. Steps are independent by key (nested and parallel steps log side by side) and every
method is thread-safe: Optuna runs trials in threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: Seconds between two lines of one running step.
EVERY = 5.0


@dataclass
class _Step:
    """A running step: what it does, how much of how much is done, since when, and when it last logged."""

    description: str
    total: float | None
    started: float
    logged: float
    done: float = 0.0
    latest: str | None = None


def duration(seconds: float) -> str:
    """`seconds` as a short human duration: `0.4 s`, `12.3 s`, `2 min 05 s`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def count_text(done: float, total: float | None) -> str:
    """How much is done: `12/30` for counts, `45%` for a fraction of 1, `12` without a total."""
    if total is None:
        return f"{done:,.0f}"
    if total <= 1.0:
        return f"{100 * done / total:.0f}%" if total else "100%"
    return f"{done:,.0f}/{total:,.0f}"


class LogSink:
    """Writes `xsell.progress` steps as log lines: start, a line at most every `every` seconds, finish with duration.

    `clock` gives the time in seconds (injected by tests)."""

    def __init__(self, every: float = EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        self._steps: dict[str, _Step] = {}
        self._lock = threading.Lock()

    def start(self, key: str, description: str, total: float | None) -> None:
        """Log that step `key` started (with its total when known)."""
        now = self._clock()
        with self._lock:
            self._steps[key] = _Step(description, total, now, now)
        size = f": 0/{total:,.0f}" if total is not None and total > 1.0 else ""
        logger.info("%s%s ...", description, size, extra={"step": key})

    def advance(self, key: str, amount: float = 1.0, description: str | None = None) -> None:
        """Record progress of step `key`; log where it is if it has not logged for `every` seconds."""
        with self._lock:
            step = self._steps.get(key)
            if step is None:
                return
            step.done += amount
            step.latest = description or step.latest
        self._log_if_due(key, self._clock())

    def finish(self, key: str) -> None:
        """Log that step `key` finished, how much it did and in how long."""
        now = self._clock()
        with self._lock:
            step = self._steps.pop(key, None)
        if step is None:
            return
        took = now - step.started
        done = f": {count_text(step.total, step.total)}" if step.total is not None and step.total > 1.0 else ""
        logger.info(
            "%s%s in %s", step.description, done, duration(took), extra={"step": key, "seconds": round(took, 2)}
        )

    def tick(self) -> None:
        """Log every running step that has been quiet for `every` seconds (what the heartbeat calls)."""
        now = self._clock()
        with self._lock:
            keys = list(self._steps)
        for key in keys:
            self._log_if_due(key, now)

    def _log_if_due(self, key: str, now: float) -> None:
        with self._lock:
            step = self._steps.get(key)
            if step is None or now - step.logged < self._every:
                return
            step.logged = now
            elapsed = now - step.started
            done, total, latest = step.done, step.total, step.latest
        where = f"{count_text(done, total)}, " if done or total is not None else ""
        extra: dict[str, object] = {"step": key}
        eta = ""
        if total is not None and done > 0 and elapsed > 0:
            rate = done / elapsed
            left = max(total - done, 0.0) / rate
            eta = f", ETA {duration(left)}"
            extra["eta_s"] = round(left, 1)
            if total > 1.0:
                eta = f", {rate:,.2f}/s" + eta
        note = f" ({latest})" if latest else ""
        logger.info("%s: %s%s so far%s%s", step.description, where, duration(elapsed), eta, note, extra=extra)

    @contextmanager
    def heartbeat(self, interval: float = 1.0) -> Iterator[None]:
        """Call `tick` from a background thread every `interval` seconds while the block runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                self.tick()

        thread = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
