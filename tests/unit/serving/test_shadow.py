"""Shadow comparison maths and the serving tables: PSI, KS, Spearman, top overlap, realised metrics, storage."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import make_settings, published_rows

from ingest.pipeline import open_warehouse
from serving import store
from serving.shadow import psi, realised_metrics, score_agreement, shadow_run_count, top_overlap

RNG = np.random.default_rng(7)


def test_identical_scores_compare_as_identical() -> None:
    scores = RNG.random(500)
    comparison = score_agreement(scores, scores.copy())
    assert comparison.rows == 500 and comparison.psi == pytest.approx(0.0, abs=1e-12)
    assert comparison.ks == 0.0 and comparison.spearman == pytest.approx(1.0) and comparison.top_decile_overlap == 1.0


def test_shifted_scores_show_drift_and_reversed_rank() -> None:
    scores = RNG.random(2000)
    shifted = score_agreement(scores, scores + 0.3)
    assert shifted.psi > 0.25 and shifted.ks == pytest.approx(0.3, abs=0.05) and shifted.spearman == pytest.approx(1)
    reversed_ = score_agreement(scores, 1 - scores)
    assert reversed_.spearman == pytest.approx(-1.0) and reversed_.top_decile_overlap == 0.0


def test_psi_matches_the_textbook_formula() -> None:
    expected = np.repeat([0.0, 1.0], 50)
    actual = np.repeat([0.0, 1.0], [20, 80])
    assert psi(expected, actual, bins=2) == pytest.approx(
        (0.2 - 0.5) * np.log(0.2 / 0.5) + (0.8 - 0.5) * np.log(0.8 / 0.5)
    )


def test_top_overlap_counts_shared_top_rows() -> None:
    first = np.arange(10.0)
    second = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 10.0, 11.0])  # tops: rows 9,8 vs 9,8
    assert top_overlap(first, second, 0.2) == 1.0
    assert top_overlap(first, first[::-1], 0.3) == 0.0


def test_length_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        score_agreement(np.ones(3), np.ones(4))


def test_realised_metrics_of_both_models() -> None:
    labels = np.array([0, 0, 1, 1])
    metrics = realised_metrics(labels, np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.4, 0.3, 0.2, 0.1]))
    assert metrics["labelled_rows"] == 4
    assert metrics["champion_roc_auc"] == 1.0 and metrics["challenger_roc_auc"] == 0.0
    assert metrics["champion_pr_auc"] == 1.0
    one_class = realised_metrics(np.zeros(3), np.ones(3), np.ones(3))
    assert one_class["champion_roc_auc"] is None and one_class["challenger_pr_auc"] is None


def _shadow_run(as_of: date, version: int) -> tuple[pd.DataFrame, dict[str, object]]:
    scores = pd.DataFrame(
        {
            "as_of": as_of,
            "account_id": ["a", "b"],
            "product": ["x", "x"],
            "model_name": "m",
            "model_version": version,
            "propensity": [0.3, 0.2],
            "run_id": "r",
        }
    )
    run = {"run_id": "r", "scored_at": datetime(2025, 7, 1), "as_of": as_of, "model_name": "m"}
    return scores, run | {"champion_version": 1, "challenger_version": version, "rows": 2, "psi": 0.1}


def test_serving_tables_replace_reruns_and_count_shadow_dates(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    settings.home.mkdir(parents=True)
    # no warehouse yet: no shadow run
    assert shadow_run_count(settings, 2) == 0
    con = open_warehouse(settings)
    try:
        assert store.previous_tiers(con, date(2025, 6, 30)) is None
        for day in (date(2025, 5, 31), date(2025, 6, 30)):
            store.replace_scores(con, published_rows(day), day, "r", datetime(2025, 7, 1))
        store.replace_scores(con, published_rows(date(2025, 6, 30)), date(2025, 6, 30), "r2", datetime(2025, 7, 2))
        for day in (date(2025, 5, 31), date(2025, 6, 30), date(2025, 6, 30)):
            scores, run = _shadow_run(day, 2)
            store.replace_shadow(con, scores, run)
        scores, run = _shadow_run(date(2025, 6, 30), 3)
        store.replace_shadow(con, scores, run)
        # reruns replaced rows: two dates x two rows published, three shadow runs
        assert con.execute(f"SELECT count(*) FROM {store.SCORES}").fetchall()[0][0] == 4
        assert len(store.shadow_runs(con)) == 3
        previous = store.previous_tiers(con, date(2025, 6, 30))
        assert previous is not None and previous["as_of"].unique().tolist() == [date(2025, 5, 31)]
        store.update_realised(con, date(2025, 5, 31), 2, {"labelled_rows": 2, "champion_roc_auc": 0.5})
        realised = store.shadow_runs(con).set_index(["as_of", "challenger_version"])
        assert realised.loc[(pd.Timestamp("2025-05-31"), 2), "labelled_rows"] == 2
    finally:
        con.close()
    assert shadow_run_count(settings, 2) == 2 and shadow_run_count(settings, 3) == 1
    assert shadow_run_count(settings, 9) == 0
