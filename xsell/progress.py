"""Progress of long steps, reported by plain functions and drawn by whoever runs them (the CLI)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
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
