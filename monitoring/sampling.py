"""Stratified, seeded samples for drift, and why a sample of a few thousand rows is all the distances need.

Every drift measure is a distance between two empirical distributions, and the distance between two samples of the
SAME data is not zero: it is sampling noise that shrinks like sqrt(1/n + 1/m) for n reference and m current rows.

- Numeric columns, Wasserstein distance normed by the reference standard deviation: for a column with a finite
  variance the distance between two samples of one distribution is about |Z| x sqrt(1/n + 1/m) x a shape constant of
  order one (exactly one for a 0/1 column, less for a normal), so its 95th percentile is ~1.96 x sqrt(1/n + 1/m).
- Categorical columns, Jensen-Shannon distance (natural log): the divergence between two samples of one distribution
  with k categories is ~chi2(k - 1) x (1/n + 1/m) / 8, so the distance's 95th percentile is
  sqrt(chi2_95(k - 1) x (1/n + 1/m) / 8).

At n = m = 5,000 (`monitoring.drift.sample_rows`) that is 0.039 for numeric columns (threshold 0.2: under 1/5 of
it) and 0.030 for a categorical column of 11 categories (threshold 0.1: under 1/3; 0.024 at 6 categories, under
1/4): a column whose distance reaches the threshold has moved by 5 (numeric) to 3 (categorical) times the noise,
with or without the rest of the rows. More rows only shrink noise that is already far below the threshold, while
Evidently's time grows with them. `noise_bounds` states these figures for the sizes actually compared; every drift
result records them (`extra.sample`), and bench/monitoring.py measures them on real data.

Strata keep their shares: the reference sample keeps each (snapshot date, product) cell's share of the reference
rows, the current one each product's share; allocation is by largest remainder, sampling within a stratum seeded.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NoiseBounds", "SampleNote", "noise_bounds", "sample_note", "stratified_sample"]

logger = logging.getLogger(__name__)

#: z of the two-sided 95% normal quantile (the numeric bound's |Z|).
_Z95 = 1.959964


@dataclass(frozen=True)
class NoiseBounds:
    """95th percentiles of the distance between two samples of the same data at the compared sizes."""

    numeric: float  # normed Wasserstein
    categorical: float  # Jensen-Shannon at the most categories of any compared column
    categories: int


@dataclass(frozen=True)
class SampleNote:
    """How many rows were compared of how many, and the sampling noise at those sizes (JSON: `extra.sample`)."""

    sample_rows: int  # the setting: rows per side (0: full data)
    reference_rows: int
    reference_total: int
    current_rows: int
    current_total: int
    noise: NoiseBounds
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return asdict(self)


def noise_bounds(reference_rows: int, current_rows: int, categories: int) -> NoiseBounds:
    """The 95th percentile of the normed Wasserstein and the Jensen-Shannon distance between two samples of one
    distribution of `reference_rows` and `current_rows` rows (`categories`: the most categories of a column)."""
    from scipy.stats import chi2

    if reference_rows < 1 or current_rows < 1:
        raise ValueError(f"sample sizes must be positive, got {reference_rows} and {current_rows}")
    spread = 1 / reference_rows + 1 / current_rows
    dof = max(categories - 1, 1)
    return NoiseBounds(
        numeric=_Z95 * math.sqrt(spread),
        categorical=math.sqrt(float(chi2.ppf(0.95, dof)) * spread / 8),
        categories=categories,
    )


def _allocation(sizes: np.ndarray, rows: int) -> np.ndarray:
    """Rows per stratum proportional to `sizes`, summing to `rows` (largest remainder, ties to the first)."""
    exact = sizes * rows / sizes.sum()
    counts = np.floor(exact).astype(int)
    short = rows - int(counts.sum())
    if short:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:short]] += 1
    return np.minimum(counts, sizes)


def stratified_sample(frame: pd.DataFrame, rows: int, by: Sequence[str], seed: int) -> pd.DataFrame:
    """`rows` rows of `frame` keeping each stratum's share (`by`: its columns, absent ones ignored), seeded and in
    the frame's order; the whole frame when it is no larger or `rows` is 0."""
    if rows <= 0 or len(frame) <= rows:
        return frame.reset_index(drop=True)
    keys = [c for c in by if c in frame.columns]
    rng = np.random.default_rng(seed)
    if not keys:
        return frame.iloc[np.sort(rng.choice(len(frame), rows, replace=False))].reset_index(drop=True)
    groups = list(frame.groupby(keys, sort=True, dropna=False).indices.values())
    counts = _allocation(np.array([len(g) for g in groups]), rows)
    picked = [rng.choice(g, n, replace=False) for g, n in zip(groups, counts, strict=True) if n]
    return frame.iloc[np.sort(np.concatenate(picked))].reset_index(drop=True)


def sample_note(
    sample_rows: int,
    reference: tuple[int, int],
    current: tuple[int, int],
    categories: int,
    thresholds: tuple[float, float],
) -> SampleNote:
    """The record of one comparison's sample: sizes (`(compared, total)` per side) and noise against the numeric and
    categorical `thresholds`."""
    noise = noise_bounds(reference[0], current[0], categories)
    what = (
        "full data" if reference == (reference[1], reference[1]) and current == (current[1], current[1]) else "sample"
    )
    reason = (
        f"{what}: {reference[0]:,} of {reference[1]:,} reference and {current[0]:,} of {current[1]:,} current rows; "
        f"95th percentile of the distance between two samples of the same data at these sizes: "
        f"{noise.numeric:.3f} numeric (threshold {thresholds[0]:g}), {noise.categorical:.3f} categorical at "
        f"{categories} categories (threshold {thresholds[1]:g}): noise well below the thresholds, more rows add nothing"
    )
    return SampleNote(sample_rows, reference[0], reference[1], current[0], current[1], noise, reason)
