"""Defect injection: duplicates, impossible values, future dates, orphans and id whitespace/case.

Every injected defect is counted, and defects are disjoint so the counts equal what an ingestion
classifying rows as duplicate > invalid > future_dated > orphan finds:

* removing defects (invalid, future_dated, orphan) are new rows copied from distinct clean rows,
  given a fresh primary key and one corruption each (usage rows are corrupted in place instead);
* value defects (an impossible value in a field that is neither a key nor a date) are applied in
  place to other clean rows: ingestion keeps the row and nulls the value, counted as
  `nulled_<column>` (the fact the row records, e.g. an owned product, must not be lost);
* id whitespace/case corruption is applied in place to other clean rows, which stay kept and
  are never duplicated;
* duplicates are exact copies (as written) of yet other clean, uncorrupted rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.manifest import TableCounts
from synth.timeline import DAY
from xsell.settings import DefectRates

WHITESPACE_FORMS = (" {}", "{} ", "  {}", "\t{}", "{}\t", " {} ")

#: (frame of source rows, rng) -> the same rows with one impossible value each
Mutator = Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]
#: (values of one column, rng) -> values the contract says are impossible for it (ingestion nulls them)
ValueMutator = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def pad_whitespace(ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ids with stray leading/trailing spaces or a tab."""
    forms = rng.integers(0, len(WHITESPACE_FORMS), len(ids))
    return np.array([WHITESPACE_FORMS[f].format(v) for f, v in zip(forms, ids, strict=True)], dtype=object)


def swap_case(ids: np.ndarray) -> np.ndarray:
    """Ids in the other letter case: upper-case ids become lower case and vice versa."""
    return np.array([v.lower() if v == v.upper() else v.upper() for v in ids], dtype=object)


def _share(rate: float, n: int) -> int:
    return round(rate * n)


@dataclass(frozen=True)
class DefectSpec:
    """How one table is corrupted."""

    #: id columns that may carry whitespace/case defects (first one preferred)
    id_columns: tuple[str, ...]
    #: column set to an unknown id for orphan rows, or None (no orphans)
    orphan_column: str | None = None
    #: primary-key column given fresh values on added rows, or None
    key_column: str | None = None
    #: makes rows impossible (invalid), or None
    invalid: Mutator | None = None
    #: timestamp columns shifted past the export time for future-dated rows (first one decides)
    future_columns: tuple[str, ...] = ()
    #: (value column, mutator): rows corrupted in place in one of these columns, kept with the value nulled
    values: tuple[tuple[str, ValueMutator], ...] = ()


def inject_table(
    frame: pd.DataFrame,
    spec: DefectSpec,
    rates: DefectRates,
    rng: np.random.Generator,
    *,
    export_ts: int,
    new_keys: Callable[[int], np.ndarray] | None = None,
    orphan_ids: Callable[[int], np.ndarray] | None = None,
    corruptible: np.ndarray | None = None,
    duplicable: np.ndarray | None = None,
) -> tuple[pd.DataFrame, TableCounts]:
    """Return the frame with defects added, and what was injected.

    `corruptible`/`duplicable` restrict which clean rows may carry id defects or be copied.
    """
    n = len(frame)
    frame = frame.reset_index(drop=True)
    order = rng.permutation(n)
    taken = np.zeros(n, dtype=bool)

    def pick(count: int, allowed: np.ndarray | None = None) -> np.ndarray:
        ok = ~taken[order] if allowed is None else (~taken[order] & allowed[order])
        chosen = order[ok][:count]
        taken[chosen] = True
        return np.sort(chosen)

    counts = TableCounts()
    added: list[pd.DataFrame] = []
    if spec.invalid is not None:
        src = pick(_share(rates.invalid, n))
        rows = spec.invalid(frame.iloc[src].copy(), rng)
        added.append(rows)
        counts.invalid = len(rows)
    if spec.future_columns:
        src = pick(_share(rates.future_dated, n))
        rows = frame.iloc[src].copy()
        main = rows[spec.future_columns[0]].to_numpy(dtype=np.int64)
        shift = (export_ts - main) + rng.integers(1, 401, len(rows)) * DAY + rng.integers(0, DAY, len(rows))
        for col in spec.future_columns:
            values = rows[col].to_numpy(dtype=np.int64)
            present = values != np.iinfo(np.int64).min
            rows[col] = np.where(present, values + shift, values)
        added.append(rows)
        counts.future_dated = len(rows)
    if spec.orphan_column is not None and orphan_ids is not None:
        src = pick(_share(rates.orphan, n))
        rows = frame.iloc[src].copy()
        rows[spec.orphan_column] = orphan_ids(len(rows))
        added.append(rows)
        counts.orphans = len(rows)
    if added and spec.key_column is not None and new_keys is not None:
        total = sum(len(a) for a in added)
        keys = new_keys(total)
        start = 0
        for rows in added:
            rows[spec.key_column] = keys[start : start + len(rows)]
            start += len(rows)

    frame = frame.copy()
    if spec.values:
        _corrupt_values(frame, pick(_share(rates.impossible_value, n)), spec.values, rng, counts)

    # id whitespace / case on clean rows, in place (they stay kept)
    for kind in ("id_whitespace", "id_case"):
        rate = rates.id_whitespace if kind == "id_whitespace" else rates.id_case
        src = pick(_share(rate, n), corruptible)
        col_choice = _id_column_choice(frame, src, spec.id_columns, rng)
        changed = 0
        for col in spec.id_columns:
            rows = src[col_choice == col]
            if rows.size == 0:
                continue
            values = frame[col].to_numpy(dtype=object)[rows]
            if kind == "id_whitespace":
                new = pad_whitespace(values, rng)
            else:
                new = swap_case(values)
                keep = new != values
                rows, new = rows[keep], new[keep]
                taken[src[col_choice == col][~keep]] = False
            frame.loc[rows, col] = new
            changed += rows.size
        setattr(counts, kind, changed)

    # exact copies of clean, uncorrupted rows
    src = pick(_share(rates.duplicate, n), duplicable)
    copies = frame.iloc[src].copy()
    counts.duplicates = len(copies)
    parts = [frame, *added, copies]
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else frame
    counts.rows_written = len(out)
    return out, counts


def _corrupt_values(
    frame: pd.DataFrame,
    rows: np.ndarray,
    values: tuple[tuple[str, ValueMutator], ...],
    rng: np.random.Generator,
    counts: TableCounts,
) -> None:
    """Give each of `rows` one impossible value in one of the value columns (in place), counted per column."""
    choice = rng.integers(0, len(values), rows.size)
    for k, (column, mutate) in enumerate(values):
        chosen = rows[choice == k]
        if chosen.size:
            frame.loc[chosen, column] = mutate(frame[column].to_numpy()[chosen], rng)
        counts.extra[f"nulled_{column}"] = counts.extra.get(f"nulled_{column}", 0) + int(chosen.size)


def negative(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A count or amount typed with a minus sign (at least -1: zero stays impossible)."""
    magnitude = np.maximum(np.abs(values.astype(float)), 1.0)
    return (-magnitude).astype(values.dtype)


def unknown_label(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A category label the contract does not list (a legacy or free-typed value)."""
    labels = np.array(["n/a", "other", "legacy", "tbd"], dtype=object)
    return labels[rng.integers(0, len(labels), values.size)]


def _id_column_choice(
    frame: pd.DataFrame, rows: np.ndarray, columns: tuple[str, ...], rng: np.random.Generator
) -> np.ndarray:
    """Which id column to corrupt per row: the first mostly, another non-null one sometimes."""
    choice = np.full(rows.size, columns[0], dtype=object)
    if len(columns) == 1 or rows.size == 0:
        return choice
    other = rng.random(rows.size) < 0.3
    alt = rng.integers(1, len(columns), rows.size)
    for k in range(1, len(columns)):
        col = columns[k]
        present = frame[col].to_numpy(dtype=object)[rows]
        use = other & (alt == k) & np.array([v is not None and v == v for v in present], dtype=bool)
        choice[use] = col
    return choice


@dataclass
class UsageDefects:
    """Counts from one month of usage rows."""

    counts: TableCounts
    late_rows: int


def inject_usage(
    rows: dict[str, np.ndarray],
    rates: DefectRates,
    rng: np.random.Generator,
    orphan_pool: np.ndarray,
    protect: int | None,
) -> tuple[dict[str, np.ndarray], UsageDefects]:
    """Corrupt one month of usage rows (columns day, workspace, user, feature, count, ingested_ms).

    Invalid counts and clock-skewed dates are applied in place (the row is then set aside by
    ingestion); orphans and duplicates are added rows. `protect` (the export-time row) is untouched.
    """
    n = len(rows["day"])
    candidates = np.arange(n)
    if protect is not None:
        candidates = candidates[candidates != protect]
    order = rng.permutation(candidates)
    sizes = [
        _share(rates.impossible_value, n),
        _share(rates.future_dated, n),
        _share(rates.id_whitespace, n),
        _share(rates.id_case, n),
        _share(rates.duplicate, n),
        _share(rates.orphan, n),
    ]
    slices = []
    start = 0
    for size in sizes:
        slices.append(np.sort(order[start : start + size]))
        start += size
    impossible, future, spaced, cased, dup_src, orphan_src = slices
    out = {k: v.copy() for k, v in rows.items()}
    # an impossible count: ingestion keeps the row (the use happened) and nulls the count
    out["count"][impossible] = rng.choice(np.array([0, -1, -2, -3]), impossible.size)
    ingest_day = out["ingested_ms"] // (DAY * 1000)
    lag = ingest_day - out["day"]
    out["day"][future] = out["day"][future] + lag[future] + rng.integers(1, 401, future.size)
    ws = out["workspace"]
    ws[spaced] = pad_whitespace(ws[spaced], rng)
    ws[cased] = swap_case(ws[cased])
    kept = np.ones(n, dtype=bool)
    kept[future] = False
    late = int(((ingest_day - out["day"]) > 1)[kept].sum())
    orphans = {k: v[orphan_src] for k, v in out.items()}
    orphans["workspace"] = orphan_pool[rng.integers(0, len(orphan_pool), orphan_src.size)]
    dups = {k: v[dup_src] for k, v in out.items()}
    merged = {k: np.concatenate([out[k], orphans[k], dups[k]]) for k in out}
    counts = TableCounts(
        rows_written=n + orphan_src.size + dup_src.size,
        duplicates=dup_src.size,
        future_dated=future.size,
        orphans=orphan_src.size,
        id_whitespace=spaced.size,
        id_case=cased.size,
        extra={"nulled_event_count": int(impossible.size)},
    )
    return merged, UsageDefects(counts=counts, late_rows=late)


def impossible_score(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """NPS: a score outside 0-10."""
    rows["score"] = rng.choice(np.array([11, -1, 99, 12, -3, 100]), len(rows))
    return rows
