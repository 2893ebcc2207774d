"""Batch-scoring chunks: consecutive slices of whole accounts, bounded in rows, that put the snapshot back together."""

from __future__ import annotations

import pandas as pd
import pytest

from serving.batch import account_chunks
from serving.scoring import ScoringError


def rows_of(counts: dict[str, int]) -> pd.DataFrame:
    """Snapshot-like rows: `counts[account]` products per account, accounts in order."""
    keys = [(account, f"p{i}") for account, n in counts.items() for i in range(n)]
    return pd.DataFrame(keys, columns=["account_id", "product"]).assign(x=range(len(keys)))


def test_chunks_hold_whole_accounts_within_the_row_bound() -> None:
    rows = rows_of({"a": 2, "b": 3, "c": 1, "d": 3, "e": 2})
    chunks = account_chunks(rows, max_rows=4)
    assert [list(c["account_id"].unique()) for c in chunks] == [["a"], ["b", "c"], ["d"], ["e"]]
    assert all(len(c) <= 4 for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks), rows)


def test_an_account_larger_than_the_bound_is_a_chunk_of_its_own() -> None:
    rows = rows_of({"a": 1, "big": 5, "c": 1})
    assert [len(c) for c in account_chunks(rows, max_rows=2)] == [1, 5, 1]


def test_one_chunk_when_everything_fits_and_for_an_empty_snapshot() -> None:
    rows = rows_of({"a": 2, "b": 2})
    assert len(account_chunks(rows, max_rows=5000)) == 1
    empty = rows.iloc[:0]
    assert [len(c) for c in account_chunks(empty, max_rows=10)] == [0]


def test_a_bound_below_one_row_is_refused() -> None:
    with pytest.raises(ScoringError, match="max_rows=0"):
        account_chunks(rows_of({"a": 1}), max_rows=0)
