"""The drift reference of a model version, computed once and kept: its training snapshots, sampled and scored.

Every check of the same champion compares against the same reference: the last snapshots of its training window,
sampled by `monitoring.sampling.stratified_sample` (strata: snapshot date and product) and scored by the champion.
The first check builds it and writes it to `HOME/monitoring/reference/<model>-v<version>-<fingerprint>.parquet`
(atomically); later checks read it. The fingerprint covers what the frame depends on: the version and its run, the
data it was trained on (its `data_hash` tag), the feature code (the snapshot SQL fingerprint), the reference dates
and the sample settings and seed; a change of any of them is another file, so a stale reference is never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring.errors import MonitoringError
from monitoring.sampling import stratified_sample
from xsell.fileio import atomic_path
from xsell.settings import Settings

__all__ = ["REFERENCE_STRATA", "ReferenceKey", "cached_reference", "reference_dir", "sampled"]

logger = logging.getLogger(__name__)

#: Strata of the reference sample: each snapshot date's and product's share is kept.
REFERENCE_STRATA = ("as_of", "product")
#: Bumped when the stored frame's layout changes (old files are then never read).
_FORMAT = 1
#: Parquet schema metadata key of the rows the sample was drawn from.
_TOTAL = b"xsell.reference_total"


@dataclass(frozen=True)
class ReferenceKey:
    """What a cached reference depends on."""

    model: str
    version: int
    run_id: str | None
    data_hash: str
    feature_code: str
    dates: tuple[date, ...]
    rows: int  # sample rows (0: up to max_rows)
    seed: int

    def fingerprint(self) -> str:
        """16 hex digits of the key (the file name's tail)."""
        payload = {
            "format": _FORMAT,
            "run_id": self.run_id,
            "data_hash": self.data_hash,
            "feature_code": self.feature_code,
            "dates": [d.isoformat() for d in self.dates],
            "rows": self.rows,
            "seed": self.seed,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def file_name(self) -> str:
        """`<model>-v<version>-<fingerprint>.parquet`."""
        return f"{self.model}-v{self.version}-{self.fingerprint()}.parquet"


def reference_dir(settings: Settings) -> Path:
    """`HOME/monitoring/reference`."""
    return settings.home / "monitoring" / "reference"


def cached_reference(
    settings: Settings,
    key: ReferenceKey,
    columns: Sequence[str],
    build: Callable[[], tuple[pd.DataFrame, int]],
) -> tuple[pd.DataFrame, int, bool]:
    """The reference frame of `key` (its `columns`), the rows it was sampled from, and whether it came from the
    cache: read when stored and `monitoring.drift.reference_cache` is on, else `build()` (the sampled, scored rows
    and their total), stored atomically, returned.

    MonitoringError when a stored file cannot be read or lacks a column (delete it to rebuild).
    """
    path = reference_dir(settings) / key.file_name()
    use_cache = settings.monitoring.drift.reference_cache
    if use_cache and path.is_file():
        started = time.perf_counter()
        try:
            table = pq.read_table(path)
            total = int((table.schema.metadata or {})[_TOTAL])
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            raise MonitoringError(f"{path}: the cached drift reference cannot be read ({exc}): delete it") from None
        frame = table.to_pandas()
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise MonitoringError(f"{path}: the cached drift reference lacks columns {missing}: delete it")
        logger.info("drift reference of v%d read from %s in %.1f s", key.version, path, time.perf_counter() - started)
        return frame[list(columns)], total, True
    built, total = build()
    frame = built[list(columns)].reset_index(drop=True)
    if use_cache:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _TOTAL: str(total).encode()})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        logger.info("drift reference of v%d cached at %s (%d of %d rows)", key.version, path, len(frame), total)
    return frame, total, False


def sampled(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """The reference sample: `rows` rows keeping each snapshot date's and product's share."""
    return stratified_sample(frame, rows, REFERENCE_STRATA, seed)
