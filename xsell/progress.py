"""Progress of long steps, reported by plain functions and drawn by whoever runs them (the CLI)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class ProgressSink(Protocol):
    """Something that draws progress: a terminal bar, a log, or nothing."""

    def start(self, key: str, description: str, total: float | None) -> None: ...
    def advance(self, key: str, amount: float = 1.0, description: str | None = None) -> None: ...
    def finish(self, key: str) -> None: ...


class _Silent:
    def start(self, key: str, description: str, total: float | None) -> None:
        return None

    def advance(self, key: str, amount: float = 1.0, description: str | None = None) -> None:
        return None

    def finish(self, key: str) -> None:
        return None


_lock = threading.Lock()
_sink: ProgressSink = _Silent()


@contextmanager
def reporting_to(sink: ProgressSink) -> Iterator[None]:
    """Send progress from every thread of this process to `sink` while the block runs."""
    global _sink
    with _lock:
        previous, _sink = _sink, sink
    try:
        yield
    finally:
        with _lock:
            _sink = previous


def start(key: str, description: str, total: float | None = None) -> None:
    """Announce a step with `total` units of work."""
    _sink.start(key, description, total)


def advance(key: str, amount: float = 1.0, description: str | None = None) -> None:
    """Record `amount` more units done on step `key`."""
    _sink.advance(key, amount, description)


def finish(key: str) -> None:
    """Mark step `key` complete."""
    _sink.finish(key)


@contextmanager
def step(key: str, description: str, total: float | None = None) -> Iterator[None]:
    """Report the block as step `key`: started on entry, finished on exit (also when it raises)."""
    start(key, description, total)
    try:
        yield
    finally:
        finish(key)


def fractions(key: str, description: str, *, started: bool = False) -> Callable[[str, float], None]:
    """A `(stage, fraction done)` callback (as the generator takes) reporting to step `key`, out of 1; the step starts
    at the first call (unless `started`: the caller started it) and finishes when the fraction reaches 1."""
    done = {"fraction": 0.0, "started": started}

    def report(stage: str, fraction: float) -> None:
        if not done["started"]:
            start(key, description, total=1.0)
            done["started"] = True
        advance(key, fraction - float(done["fraction"]), description=f"{description}: {stage}")
        done["fraction"] = fraction
        if fraction >= 1.0:
            finish(key)

    return report
