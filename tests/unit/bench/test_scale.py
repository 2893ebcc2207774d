"""The scale benchmark's arithmetic and bookkeeping: power-law exponents, extrapolation, merged and kept figures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.measure import generation_record, generation_record_path
from bench.scale import (
    StepFigures,
    extrapolate,
    growth,
    load_figures,
    merge,
    power_law_exponent,
    render,
    save,
    spill_watch,
)


def test_power_law_exponent_recovers_the_exponent_of_exact_points() -> None:
    # given points on time = 3 * accounts^1.5, when fitted, then the exponent is 1.5
    points = [(n, 3 * n**1.5) for n in (2000, 20000, 100000)]
    assert power_law_exponent(points) == pytest.approx(1.5)


def test_power_law_exponent_needs_two_distinct_sizes() -> None:
    # given one size (twice) or no positive values, when fitted, then there is no exponent
    assert power_law_exponent([(2000, 10.0), (2000, 12.0)]) is None
    assert power_law_exponent([(2000, 0.0), (20000, 5.0)]) is None


def _figures() -> list[StepFigures]:
    return [
        StepFigures(2000, "consolidate", quiet_s=10.0, busy_s=25.0, peak_mb=200.0),
        StepFigures(20000, "consolidate", quiet_s=100.0, busy_s=200.0, peak_mb=400.0),
        StepFigures(2000, "train", quiet_s=90.0, busy_s=180.0, peak_mb=800.0),
    ]


def test_growth_and_extrapolation_from_measured_sizes() -> None:
    # given consolidation linear in accounts, when grown and extrapolated, then k = 1 and 100,000 takes 500 s
    figures = _figures()
    g = growth(figures, "consolidate")
    assert g.sizes == (2000, 20000)
    assert g.time_k == pytest.approx(1.0) and g.busy_time_k == pytest.approx(0.903, abs=1e-3)
    assert g.memory_k == pytest.approx(0.301, abs=1e-3)
    assert extrapolate(figures, "consolidate", 100000) == pytest.approx(500.0)
    assert extrapolate(figures, "train", 20000) is None  # one size: no exponent, no guess


def test_render_marks_extrapolations_and_unmeasured_steps() -> None:
    # given figures at two sizes for one step and one for another, when rendered for three sizes, then measured rows
    # carry figures, a fitted step is extrapolated and marked so, and the rest says not measured
    text = render(_figures(), [2000, 20000, 100000])
    assert "| 2,000 | consolidate | 10.0 | 25.0 | 2.50 | 200 |" in text
    assert "| 100,000 | consolidate | ~500 (extrapolated, not measured) |" in text
    assert "| 20,000 | train | not measured |" in text
    assert "| consolidate | 2,000, 20,000 | 1.00 | 0.90 | 0.30 |" in text


def test_merge_replaces_only_what_was_measured_again() -> None:
    # given earlier figures, when a new run measures one of them again, then that one is replaced and the rest kept
    again = StepFigures(2000, "consolidate", quiet_s=12.0)
    merged = merge(_figures(), [again])
    assert len(merged) == 3
    assert [f.quiet_s for f in merged if (f.accounts, f.step) == (2000, "consolidate")] == [12.0]


def test_saved_figures_load_back(tmp_path: Path) -> None:
    # given figures saved, when loaded, then they are the same and the exponents are kept beside them
    out = tmp_path / "scale.json"
    save(out, _figures())
    assert load_figures(out) == merge([], _figures())
    assert json.loads(out.read_text())["growth"][0]["step"] == "consolidate"
    assert load_figures(tmp_path / "missing.json") == []


def test_a_file_that_is_not_a_result_is_refused_naming_it(tmp_path: Path) -> None:
    # given a JSON file of another shape, when loaded, then a one-line error names the file
    out = tmp_path / "other.json"
    out.write_text('{"rows": []}')
    with pytest.raises(SystemExit, match=r"other\.json: not a bench\.scale result"):
        load_figures(out)


def test_spill_watch_keeps_the_largest_size_the_folder_reached(tmp_path: Path) -> None:
    # given a folder that grows to 2 MB and shrinks again, when watched, then the peak is 2 MB
    folder = tmp_path / "spill"
    with spill_watch(folder, every_s=0.01) as peak:
        folder.mkdir()
        (folder / "a").write_bytes(b"x" * 2**21)
        time.sleep(0.2)
        (folder / "a").unlink()
        time.sleep(0.05)
    assert peak[0] == pytest.approx(2.0)


def test_generation_record_is_kept_beside_the_export(tmp_path: Path) -> None:
    # given an export folder without and then with a record, when read, then None and then its figures
    raw = tmp_path / "raw-10-2024-01-2024-03-s1"
    assert generation_record(raw) is None
    generation_record_path(raw).write_text('{"seconds": 1.5, "peak_rss_mb": 100, "rows_written": 7}')
    assert generation_record(raw) == {"seconds": 1.5, "peak_rss_mb": 100, "rows_written": 7}
    assert generation_record_path(raw).parent == tmp_path
