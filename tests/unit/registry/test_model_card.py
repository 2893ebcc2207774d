"""The model card states use, data window, metrics per product and segment against baselines, and limitations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pandas as pd
import pytest

from registry.model_card import baseline_shortfalls, day_text, metric_names, render_model_card, window_text
from training.result import TrainingResult
from xsell.settings import Settings


@pytest.fixture
def card(training_result: TrainingResult, settings: Settings) -> str:
    return render_model_card(
        training_result, model_name="xsell-propensity", version=3, run_id="abc123", settings=settings
    )


def test_card_has_every_section(card: str) -> None:
    for heading in (
        "## Intended use",
        "## Data",
        "## Holdout performance",
        "## Per segment",
        "## Calibration",
        "## Top features",
        "## Hyperparameters",
        "## Limitations",
        "## Registry",
    ):
        assert heading in card
    assert card.startswith("# Model card: `xsell-propensity` version 3")
    assert "models:/xsell-propensity@champion" in card


def test_card_states_data_window_hash_and_holdout(card: str, training_result: TrainingResult) -> None:
    start, end = training_result.data_window
    assert f"As-of snapshots {start}..{end}" in card
    assert training_result.data_hash in card
    assert all(str(d) in card for d in training_result.plan.holdout_dates)


def test_card_has_metrics_per_product_and_segment_for_model_and_baselines(
    card: str, training_result: TrainingResult
) -> None:
    for product in ["overall", *training_result.model.products_]:
        for model in ("xsell", "scorecard", "logistic"):
            assert f"| `{product}` | {model} |" in card
    for segment in training_result.segment_metrics["segment"].unique():
        assert f"| {segment} | xsell |" in card
    assert f"{training_result.metrics['xsell']['overall']['pr_auc']:.4f}" in card


def test_card_flags_a_baseline_that_beats_the_model(
    result_factory: Callable[..., TrainingResult], training_result: TrainingResult, settings: Settings
) -> None:
    # given a scorecard better than the model on analytics
    metrics = {k: {p: dict(v) for p, v in by.items()} for k, by in training_result.metrics.items()}
    metrics["scorecard"]["analytics"]["pr_auc"] = 0.99
    result = result_factory(metrics=metrics)
    # then the shortfall is named, in the function and in the card's limitations
    shortfalls = baseline_shortfalls(result)
    assert any("`analytics` the scorecard baseline" in s and "pr_auc" in s for s in shortfalls)
    card = render_model_card(result, model_name="m", version=1, run_id="r", settings=settings)
    assert "Baseline check: on `analytics` the scorecard baseline" in card


def test_card_flags_segments_with_few_positives(
    result_factory: Callable[..., TrainingResult], training_result: TrainingResult, settings: Settings
) -> None:
    segments = training_result.segment_metrics.copy()
    segments.loc[(segments["model"] == "xsell") & (segments["segment"] == "smb"), "positives"] = 3
    card = render_model_card(
        result_factory(segment_metrics=segments), model_name="m", version=1, run_id="r", settings=settings
    )
    assert "Unstable segment estimates (fewer than 30 positives): smb." in card


def test_card_copes_with_empty_evaluation_tables(
    result_factory: Callable[..., TrainingResult], settings: Settings
) -> None:
    result = result_factory(
        metrics={}, segment_metrics=pd.DataFrame(), deciles=pd.DataFrame(), feature_importance=pd.DataFrame()
    )
    card = render_model_card(result, model_name="m", version=None, run_id="r", settings=settings)
    assert "No holdout metrics were computed." in card and "No segment metrics were computed." in card


def test_metric_names_put_preferred_metrics_first() -> None:
    names = metric_names({"xsell": {"overall": {"zeta": 1.0, "roc_auc": 0.7, "pr_auc": 0.5}}})
    assert names == ["pr_auc", "roc_auc", "zeta"]


def test_card_of_rows_without_dates_describes_a_stratified_holdout(
    result_factory: Callable[..., TrainingResult], training_result: TrainingResult, settings: Settings
) -> None:
    # given a plan over rows (a user's own table without a time column)
    plan = replace(training_result.plan, holdout_dates=(), final_train_dates=(), kind="stratified", holdout_rows=120)
    result = result_factory(plan=plan, data_window=(None, None), extra={"refit": {"note": "refit on every row"}})
    card = render_model_card(result, model_name="m", version=1, run_id="r", settings=settings)
    assert "no as-of dates" in card and "a stratified sample of 120 rows" in card
    assert "Note: refit on every row." in card


def test_day_and_window_text() -> None:
    assert day_text(pd.Timestamp("2025-06-30 00:00")) == "2025-06-30"
    assert day_text(date(2025, 6, 30)) == "2025-06-30" and day_text(None) == ""
    assert window_text((date(2025, 1, 31), pd.Timestamp("2025-06-30"))) == "2025-01-31..2025-06-30"
    assert window_text((None, None)) == "no as-of dates"
