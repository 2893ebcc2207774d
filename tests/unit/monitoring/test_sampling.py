"""Stratified drift samples: shares kept, seeded, the full frame when small; the sampling noise of the distances at
the default sample size is far below the thresholds, measured with the real Evidently report, and a real shift is
flagged on the sample as on the full data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import DriftResult, compare_frames
from monitoring.sampling import noise_bounds, sample_note, stratified_sample
from xsell.settings import DriftSettings

SETTINGS = DriftSettings()
NUMERIC = ["seats", "revenue", "events_30d", "active"]
CATEGORICAL = ["industry", "segment"]
INDUSTRIES = [f"industry_{i}" for i in range(11)]


def book(rows: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Feature rows with skewed, discrete, binary and 11-category columns; `shift` moves `seats` by that many
    standard deviations."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "product": rng.choice(["analytics", "security", "support"], rows, p=[0.6, 0.3, 0.1]),
            "as_of": rng.choice(pd.date_range("2025-01-31", periods=6, freq="ME").date, rows),
            "seats": rng.normal(50 + 10 * shift, 10, rows),
            "revenue": rng.lognormal(10, 1.0, rows),
            "events_30d": rng.poisson(3, rows).astype("float64"),
            "active": (rng.random(rows) < 0.07).astype("float64"),
            "industry": rng.choice(INDUSTRIES, rows),
            "segment": rng.choice(["smb", "mid_market", "enterprise"], rows, p=[0.5, 0.3, 0.2]),
            "propensity": rng.beta(2, 20, rows),
        }
    )


def test_sample_keeps_each_strata_share_and_is_seeded() -> None:
    # given a book whose products are 60/30/10
    frame = book(20_000, seed=1)
    # when 5,000 rows are sampled by product and snapshot date
    sample = stratified_sample(frame, 5_000, ("as_of", "product"), seed=7)
    # then it has exactly that many rows, each cell's share to within a row, and the same rows for the same seed
    assert len(sample) == 5_000
    full = frame.groupby(["as_of", "product"]).size() / len(frame)
    kept = sample.groupby(["as_of", "product"]).size() / len(sample)
    assert (kept - full).abs().max() <= 1 / 5_000 + 1e-12
    assert sample.equals(stratified_sample(frame, 5_000, ("as_of", "product"), seed=7))
    assert not sample.equals(stratified_sample(frame, 5_000, ("as_of", "product"), seed=8))
    assert not sample.duplicated().any()


def test_small_frames_and_a_zero_size_keep_every_row() -> None:
    frame = book(300, seed=2).iloc[::-1]
    assert len(stratified_sample(frame, 1_000, ("product",), seed=1)) == 300
    assert len(stratified_sample(frame, 0, ("product",), seed=1)) == 300
    assert list(stratified_sample(frame, 0, ("product",), seed=1).index) == list(range(300))
    # a frame without the strata columns is sampled uniformly
    assert len(stratified_sample(frame.drop(columns=["product", "as_of"]), 100, ("product",), seed=1)) == 100


def test_noise_bounds_shrink_with_rows_and_fail_on_empty_sides() -> None:
    at_default = noise_bounds(5_000, 5_000, categories=11)
    assert at_default.numeric == pytest.approx(1.96 * (2 / 5_000) ** 0.5, rel=1e-3)
    assert at_default.numeric < SETTINGS.num_threshold / 5 and at_default.categorical < SETTINGS.cat_threshold / 3
    assert noise_bounds(20_000, 20_000, 11).numeric == pytest.approx(at_default.numeric / 2, rel=1e-6)
    with pytest.raises(ValueError, match="sample sizes must be positive"):
        noise_bounds(0, 10, 3)
    note = sample_note(5_000, (5_000, 11_451), (2_068, 2_068), 11, (0.2, 0.1))
    assert note.reason.startswith("sample: 5,000 of 11,451 reference and 2,068 of 2,068 current rows")
    assert sample_note(0, (10, 10), (5, 5), 3, (0.2, 0.1)).reason.startswith("full data")


@pytest.fixture(scope="module")
def same_data(tmp_path_factory: pytest.TempPathFactory) -> list[DriftResult]:
    # given three pairs of disjoint default-size samples of ONE book
    root = tmp_path_factory.mktemp("noise")
    rows = SETTINGS.sample_rows
    results = []
    for seed in (1, 2, 3):
        frame = book(2 * rows, seed=seed)
        half = stratified_sample(frame, rows, ("product",), seed=seed).index  # positions of a stratified half
        mask = np.zeros(len(frame), dtype=bool)
        mask[half] = True
        results.append(
            compare_frames(
                frame[mask],
                frame[~mask],
                numeric=NUMERIC,
                categorical=CATEGORICAL,
                prediction="propensity",
                settings=SETTINGS,
                out_dir=root / str(seed),
                html=False,
            )
        )
    return results


def test_two_samples_of_the_same_data_are_far_below_the_thresholds(same_data: list[DriftResult]) -> None:
    # then no column of any pair comes near its threshold: the numeric distances stay under 1/4 of theirs, the
    # 11-category one under 1/2, all within the stated 95% bounds' reach
    for result in same_data:
        assert result.drifted_features == ()
        assert max(result.scores[c] for c in NUMERIC) < SETTINGS.num_threshold / 4
        assert max(result.scores[c] for c in CATEGORICAL) < SETTINGS.cat_threshold / 2
        bounds = result.extra["sample"]["noise"]
        assert max(result.scores[c] for c in NUMERIC) < 1.5 * bounds["numeric"]
        assert max(result.scores[c] for c in CATEGORICAL) < 1.5 * bounds["categorical"]
        assert result.html_path == "" and not list(Path(result.json_path).parent.glob("*.html"))


def test_a_shift_is_flagged_on_the_sample_as_on_the_full_data(tmp_path: Path) -> None:
    # given a reference of 20,000 rows and a current frame whose seats moved by 0.4 standard deviations
    reference, current = book(20_000, seed=4), book(20_000, seed=5, shift=0.4)
    kwargs = {"numeric": NUMERIC, "categorical": CATEGORICAL, "settings": SETTINGS, "html": False}
    full = compare_frames(reference, current, out_dir=tmp_path / "full", **kwargs)  # type: ignore[arg-type]
    # when both sides are sampled down to the default size
    rows = SETTINGS.sample_rows
    small = compare_frames(
        stratified_sample(reference, rows, ("as_of", "product"), 1),
        stratified_sample(current, rows, ("product",), 1),
        out_dir=tmp_path / "sample",
        sample_rows=rows,
        totals=(20_000, 20_000),
        **kwargs,  # type: ignore[arg-type]
    )
    # then the same columns drift, with nearly the same distance
    assert small.drifted_features == full.drifted_features == ("seats",)
    assert small.columns["seats"].score == pytest.approx(full.columns["seats"].score, abs=0.05)
    assert small.extra["sample"]["reference_total"] == 20_000 and small.extra["sample"]["reference_rows"] == rows
