"""Scoring outputs are written atomically as CSV or Parquet, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from serving.scoring import ScoringError, read_table, write_table


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


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.parquet"])
def test_read_table_reads_what_write_table_and_users_write(tmp_path: Path, name: str) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "x": [1.5, 2.0]})
    path = tmp_path / name
    frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), frame)


def test_read_table_names_a_broken_or_unknown_file(tmp_path: Path) -> None:
    broken = tmp_path / "t.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(ScoringError, match=r"t\.parquet: not a readable table"):
        read_table(broken)
    with pytest.raises(ScoringError, match=r"t\.xlsx: a table must be"):
        read_table(tmp_path / "t.xlsx")
