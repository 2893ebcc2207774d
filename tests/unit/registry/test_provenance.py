"""provenance: code version, data fingerprint and lineage records of a training."""

from __future__ import annotations

from collections.abc import Callable

from registry.provenance import (
    code_version,
    model_metadata,
    pip_requirements,
    provenance,
    training_data_record,
)
from training.result import TrainingResult


def test_pip_requirements_are_pinned_and_include_skops() -> None:
    names = {r.split("==")[0] for r in pip_requirements()}
    assert {"mlflow", "lightgbm", "scikit-learn", "skops", "cloudpickle", "pandas"} <= names
    assert all("==" in r for r in pip_requirements())


def test_provenance_names_code_data_and_reason(training_result: TrainingResult) -> None:
    source = provenance(training_result, "drift")
    assert source.code_version == code_version() and source.data_hash == training_result.data_hash
    start, end = (str(d) for d in training_result.data_window)
    assert source.data_window == f"{start}..{end}"
    assert source.tags() == {
        "data_hash": training_result.data_hash,
        "code_version": source.code_version,
        "reason": "drift",
        "data_window": source.data_window,
    }


def test_provenance_of_rows_without_dates_says_so(result_factory: Callable[..., TrainingResult]) -> None:
    source = provenance(result_factory(data_window=(None, None)), "byo")
    assert source.data_window == "no as-of dates"


def test_lineage_records_name_the_data_and_the_model(training_result: TrainingResult) -> None:
    record = training_data_record(training_result)
    assert record["data_hash"] == training_result.data_hash and record["n_rows"] == training_result.n_rows
    assert record["feature_names"] == list(training_result.model.feature_names_)
    meta = model_metadata(training_result, ["a", "b"])
    assert meta["input_columns"] == ["a", "b"] and meta["horizon_days"] == training_result.plan.horizon_days
