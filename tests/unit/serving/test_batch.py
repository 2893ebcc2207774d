"""The batch-scoring run's guards: the shadow step works on what the run holds, and refuses missing rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from factories import make_settings

from serving.batch import ScoringInput, publish_scored, shadow_scores
from serving.scoring import ScoringError

AS_OF = date(2025, 6, 30)


def prepared_input(rows: int) -> ScoringInput:
    """What `prepare_scoring` hands on, for `rows` snapshot rows (no model: these guards never reach it)."""
    frame = pd.DataFrame({"account_id": [f"a{i}" for i in range(rows)], "product": "analytics", "as_of": AS_OF})
    return ScoringInput(
        as_of=AS_OF,
        uri="models:/xsell-propensity@champion",
        loaded=None,
        run_id="score-test",
        rows=frame,
        primary="core",
        adoption_path=pd.DataFrame({"product": ["analytics"]}),
        prices={"analytics": 100.0},
        seconds={},
        prepared_at=0.0,
    )


def test_shadow_step_is_skipped_when_shadow_scoring_is_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, **{"serving.shadow.enabled": False})
    prepared = prepared_input(3)  # no model: reaching the registry or the model would raise
    assert shadow_scores(settings, prepared, [prepared.rows.assign(propensity=0.5)]) is None


def test_scored_rows_missing_from_the_snapshot_are_refused(tmp_path: Path) -> None:
    # given a snapshot of 3 rows of which only 2 were scored (chunks in order)
    settings = make_settings(tmp_path)
    prepared = prepared_input(3)
    chunks = [prepared.rows.iloc[:1].assign(propensity=0.5), prepared.rows.iloc[1:2].assign(propensity=0.4)]
    # then nothing is published: the error names both counts and the date
    with pytest.raises(ScoringError, match=r"scored 2 rows of the 3 in snapshot 2025-06-30"):
        publish_scored(settings, prepared, chunks, tmp_path / "scores.csv")
    assert not (tmp_path / "scores.csv").exists()
