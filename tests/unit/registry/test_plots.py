"""Every plot draws from our own frames, saves as PNG, and says so when there is nothing to draw."""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd
import pytest
from matplotlib.figure import Figure

from registry.plots import (
    gains_curve,
    plot_calibration,
    plot_cumulative_gains,
    plot_feature_importance,
    plot_precision_recall,
    plot_shap_summary,
)
from training.result import CalibrationReport, TrainingResult

DRAWINGS: dict[str, Callable[[TrainingResult], Figure]] = {
    "gains": lambda r: plot_cumulative_gains(r.holdout),
    "calibration": lambda r: plot_calibration(r.calibration),
    "precision_recall": lambda r: plot_precision_recall(r.holdout),
    "shap": lambda r: plot_shap_summary(r.shap_sample, r.shap_sample_values),
    "importance": lambda r: plot_feature_importance(r.feature_importance),
}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _texts(fig: Figure) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("name", DRAWINGS)
def test_plot_renders_a_png(training_result: TrainingResult, name: str) -> None:
    fig = DRAWINGS[name](training_result)
    assert isinstance(fig, Figure)
    assert _png(fig).startswith(b"\x89PNG") and "no " not in _texts(fig)


def test_gains_curve_reaches_all_buyers() -> None:
    share, gains = gains_curve(pd.Series([1, 0, 1, 0]).to_numpy(float), pd.Series([0.9, 0.8, 0.7, 0.1]).to_numpy())
    assert share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert gains.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]


def test_plots_of_empty_inputs_say_there_is_nothing(training_result: TrainingResult) -> None:
    empty_holdout = training_result.holdout.iloc[0:0]
    empty_report = CalibrationReport("isotonic", {}, {}, training_result.calibration.reliability.iloc[0:0])
    figures = [
        plot_cumulative_gains(empty_holdout),
        plot_precision_recall(empty_holdout),
        plot_calibration(empty_report),
        plot_shap_summary(pd.DataFrame(), pd.DataFrame()),
        plot_feature_importance(pd.DataFrame(columns=["feature", "gain", "split"])),
    ]
    for fig in figures:
        assert "no " in _texts(fig)
        assert _png(fig).startswith(b"\x89PNG")


def test_gains_plot_skips_missing_baselines(training_result: TrainingResult) -> None:
    fig = plot_cumulative_gains(training_result.holdout.drop(columns=["scorecard", "logistic"]))
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["xsell", "random"]
