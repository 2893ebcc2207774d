"""Shadow scoring of the scoring API: the challenger scores what the champion answered, off the request path.

A request hands a `ShadowJob` (where its feature rows are, the champion's propensities and the challenger loaded at
that moment) to `ShadowWorker.submit`, which only enqueues it (a full queue drops the job and counts it). One
background thread collects jobs for up to `flush_seconds` or `batch_rows` rows (fewer, larger model calls take less
CPU from the requests), scores each batch with its challenger in one call and appends one JSON line per account x
product to `<folder>/shadow-<UTC date>.jsonl`: `at, request_id, account_id, product, as_of, model_name,
champion_version, champion_propensity, challenger_version, challenger_propensity`.
The challenger's scores are never returned to the caller.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True)
class ShadowJob:
    """What one request leaves for the shadow worker."""

    request_id: str
    source: pd.DataFrame  # feature rows (account_id, product, as_of and the model inputs): a snapshot or a payload
    positions: np.ndarray  # the request's rows in `source`, in the order of `champion_propensity`
    champion_version: int
    champion_propensity: np.ndarray
    challenger: Any  # registry.models.LoadedModel: its fitted `.model` scores the rows
    challenger_scores: np.ndarray | None = None  # the challenger's scores of `source`, when computed at load
    received_at: float = field(default_factory=time.time)


@dataclass
class ShadowStats:
    """Counters of the shadow worker (read without a lock: indicative)."""

    submitted: int = 0
    dropped: int = 0
    logged_rows: int = 0
    failed_jobs: int = 0
    batches: int = 0


class ShadowWorker:
    """A queue and one daemon thread that score shadow jobs in batches and log them as JSON lines."""

    def __init__(
        self, folder: Path, queue_size: int = 10_000, batch_rows: int = 512, flush_seconds: float = 0.25
    ) -> None:
        self.folder = folder
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.stats = ShadowStats()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def pending(self) -> int:
        """Jobs waiting in the queue."""
        return self._queue.qsize()

    def log_path(self, now: datetime | None = None) -> Path:
        """The JSON-lines file of a UTC day (today by default)."""
        return self.folder / f"shadow-{(now or datetime.now(UTC)).date().isoformat()}.jsonl"

    def start(self) -> None:
        """Start the worker thread (once)."""
        if self.running:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="xsell-shadow", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Log what is queued, then stop the thread (waits at most `timeout` seconds)."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def submit(self, job: ShadowJob) -> bool:
        """Enqueue a job without blocking; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.stats.dropped += 1
            return False
        self.stats.submitted += 1
        return True

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued job is logged; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                self._queue.task_done()
                break
            jobs = [first]
            rows = len(first.positions)
            deadline = time.monotonic() + self.flush_seconds
            while rows < self.batch_rows:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.task_done()
                    stopping = True
                    break
                jobs.append(item)
                rows += len(item.positions)
            try:
                self._log_batch(jobs)
            except Exception:  # e.g. the log folder became unwritable: count it, keep the worker alive
                self.stats.failed_jobs += len(jobs)
                log.exception("shadow log batch failed", extra={"jobs": len(jobs)})
            finally:
                for _ in jobs:
                    self._queue.task_done()

    def _log_batch(self, jobs: list[ShadowJob]) -> None:
        """Score the jobs with their challengers (one call per challenger and source, none when the scores were
        computed at load) and append their lines."""
        groups: dict[tuple[int, int], list[ShadowJob]] = {}
        for job in jobs:
            groups.setdefault((id(job.challenger), id(job.source)), []).append(job)
        lines: list[str] = []
        for group in groups.values():
            challenger, source = group[0].challenger, group[0].source
            positions = np.concatenate([job.positions for job in group])
            try:
                known = group[0].challenger_scores
                scores = (
                    known[positions] if known is not None else challenger.model.predict_proba(source.take(positions))
                )
            except Exception:  # a challenger that cannot score must never disturb serving
                self.stats.failed_jobs += len(group)
                log.exception("shadow scoring failed", extra={"challenger_version": challenger.version})
                continue
            keys = [source[c].to_numpy()[positions] for c in ("account_id", "product", "as_of")]
            at = datetime.now(UTC).isoformat(timespec="milliseconds")
            offset = 0
            for job in group:
                part = slice(offset, offset + len(job.positions))
                lines.extend(_lines(job, [k[part] for k in keys], scores[part], at))
                offset += len(job.positions)
        if lines:
            with self.log_path().open("a", encoding="utf-8") as handle:
                handle.write("".join(lines))
            self.stats.logged_rows += len(lines)
            self.stats.batches += 1


def _lines(job: ShadowJob, keys: list[np.ndarray], scores: np.ndarray, at: str) -> list[str]:
    """One JSON line per row of a job (`keys`: its account ids, products and as-of dates)."""
    challenger = job.challenger
    out = []
    for i, (account_id, product, as_of) in enumerate(zip(*keys, strict=True)):
        record = {
            "at": at,
            "request_id": job.request_id,
            "account_id": str(account_id),
            "product": str(product),
            "as_of": str(as_of),
            "model_name": challenger.name,
            "champion_version": job.champion_version,
            "champion_propensity": _number(job.champion_propensity[i]),
            "challenger_version": int(challenger.version),
            "challenger_propensity": _number(scores[i]),
        }
        out.append(json.dumps(record) + "\n")
    return out


def _number(value: Any) -> float | None:
    """A finite float, else None (a JSON line never holds NaN or Infinity, which JSON has no word for)."""
    x = float(value)
    return x if np.isfinite(x) else None
