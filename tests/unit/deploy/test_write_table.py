"""Scoring outputs are written atomically as CSV or Parquet, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from deploy.scoring import ScoringError, write_table


@pytest.mark.parametrize("name", ["scores.csv", "scores.parquet", "SCORES.CSV"])
def test_writes_by_file_ending(tmp_path: Path, name: str) -> None:
    frame = pd.DataFrame({"account_id": ["A", "B"], "propensity": [0.1, 0.7]})
    out = write_table(frame, tmp_path / "sub" / name)
    back = pd.read_csv(out) if out.suffix.lower() == ".csv" else pd.read_parquet(out)
    pd.testing.assert_frame_equal(back, frame)
    assert [p.name for p in out.parent.iterdir()] == [name]


def test_unknown_ending_is_refused_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(ScoringError, match=r"scores\.xlsx: output must end in \.csv or \.parquet"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "scores.xlsx")
    assert list(tmp_path.iterdir()) == []
