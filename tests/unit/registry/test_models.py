"""load_model and model_versions: aliases and versions resolve, the pyfunc round trip predicts what the
fitted model predicts, and missing models or aliases raise RegistryError naming the URI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from registry.models import (
    LoadedModel,
    RegisteredModel,
    RegistryError,
    alias_uri,
    load_model,
    model_versions,
    parse_model_uri,
)
from tests.unit.registry.conftest import mlflow_env
from tests.unit.registry.factories import INPUTS, STRINGS, TinyPropensityModel
from training.result import TrainingResult
from xsell.settings import Settings, load_settings

TwoVersions = tuple[Settings, RegisteredModel, RegisteredModel]


@pytest.fixture(scope="module")
def champion(two_versions: TwoVersions) -> LoadedModel:
    settings, _, _ = two_versions
    return load_model(alias_uri(settings), settings)


def test_champion_alias_loads_version_one(champion: LoadedModel, two_versions: TwoVersions) -> None:
    _, first, _ = two_versions
    assert (champion.name, champion.version, champion.run_id) == ("xsell-propensity", 1, first.run_id)
    assert champion.uri == "models:/xsell-propensity@champion"
    assert set(champion.aliases) == {"champion"}


def test_round_trip_predicts_what_the_fitted_model_predicts(
    champion: LoadedModel, tiny_model: TinyPropensityModel, feature_rows: pd.DataFrame
) -> None:
    # given feature rows straight from the warehouse (keys, label, int counts, strings with gaps)
    rows = feature_rows.sample(200, random_state=1)
    # when scored through the registered pyfunc, then the probabilities are the fitted model's
    np.testing.assert_allclose(champion.predict_proba(rows), tiny_model.predict_proba(rows))
    assert isinstance(champion.model, TinyPropensityModel)


def test_reasons_on_request(champion: LoadedModel, tiny_model: TinyPropensityModel, feature_rows: pd.DataFrame) -> None:
    rows = feature_rows.head(10)
    out = champion.predict(rows, reasons=True)
    assert list(out.columns) == ["propensity", "reason_1", "reason_2", "reason_3"]
    expected = tiny_model.reason_codes(rows)
    assert out["reason_1"].tolist() == expected["reason_1"].tolist()


def test_category_columns_are_refused_by_mlflow_and_converted_by_us(
    champion: LoadedModel, tiny_model: TinyPropensityModel, feature_rows: pd.DataFrame
) -> None:
    rows = feature_rows.head(30).copy()
    rows["segment"] = rows["segment"].astype("category")
    features = rows[list(INPUTS)].astype({"seats": float, "events_30d": float, "tickets_90d": float})
    # MLflow's schema check refuses a pandas category column for a string input...
    with pytest.raises(MlflowException, match="Incompatible input types for column segment"):
        champion.pyfunc.predict(features)
    # ...LoadedModel.predict decodes it first
    np.testing.assert_allclose(champion.predict_proba(rows), tiny_model.predict_proba(rows))


def test_loaded_model_knows_its_inputs(champion: LoadedModel) -> None:
    assert champion.input_columns == INPUTS and champion.string_columns == STRINGS


def test_a_version_uri_loads_that_version(two_versions: TwoVersions) -> None:
    settings, _, second = two_versions
    loaded = load_model("models:/xsell-propensity/2", settings)
    assert loaded.version == 2 and loaded.run_id == second.run_id and loaded.aliases == ("challenger",)


def test_challenger_alias_resolves_to_the_newest_version(two_versions: TwoVersions) -> None:
    settings, _, _ = two_versions
    assert load_model(alias_uri(settings, "challenger"), settings).version == 2


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/xsell-propensity@shadow", "models:/xsell-propensity@shadow: model 'xsell-propensity' has no alias"),
        ("models:/xsell-propensity/9", "models:/xsell-propensity/9: model 'xsell-propensity' has no version 9"),
        ("models:/nope@champion", "models:/nope@champion"),
    ],
)
def test_missing_alias_version_or_model_raises_registry_error(
    two_versions: TwoVersions, uri: str, message: str
) -> None:
    settings, _, _ = two_versions
    with pytest.raises(RegistryError, match=re.escape(message)):
        load_model(uri, settings)


def test_registry_error_is_a_value_error() -> None:
    assert issubclass(RegistryError, ValueError)


@pytest.mark.parametrize("uri", ["runs:/abc/model", "models:/x/latest", "xsell-propensity", "models:/a@b/c"])
def test_uris_that_are_not_registered_models_are_refused(uri: str) -> None:
    with pytest.raises(RegistryError, match="not a registered-model URI"):
        parse_model_uri(uri)


def test_parse_model_uri() -> None:
    assert parse_model_uri("models:/m@champion") == ("m", "champion", None)
    assert parse_model_uri("models:/m/12") == ("m", None, 12)


def test_model_versions_list_newest_first_with_aliases_and_tags(two_versions: TwoVersions) -> None:
    settings, first, second = two_versions
    versions = model_versions(settings)
    assert [v.version for v in versions] == [2, 1]
    assert versions[0].aliases == ("challenger",) and versions[1].aliases == ("champion",)
    assert versions[1].run_id == first.run_id and versions[0].run_id == second.run_id
    assert versions[1].tags["data_hash"] and versions[1].uri == "models:/xsell-propensity/1"
    assert versions[1].status == "READY" and versions[1].created_at is not None


def test_model_versions_of_an_unregistered_model_is_empty(mlflow_settings: Settings) -> None:
    assert model_versions(mlflow_settings) == []


def test_reading_a_home_without_a_store_creates_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with mlflow_env():
        settings = load_settings(home=tmp_path / "empty")
        assert model_versions(settings) == []
        with pytest.raises(RegistryError, match="models:/xsell-propensity@champion: no MLflow store"):
            load_model(alias_uri(settings), settings)
    assert not (tmp_path / "empty" / "mlflow.db").exists()


def test_training_result_example_scores_through_the_loaded_model(
    champion: LoadedModel, training_result: TrainingResult
) -> None:
    out = champion.predict(training_result.input_example)
    assert out["propensity"].between(0, 1).all() and len(out) == len(training_result.input_example)


def test_a_store_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    # given a home whose mlflow.db was overwritten by something that is not SQLite
    with mlflow_env():
        settings = load_settings(home=tmp_path)
        (tmp_path / "mlflow.db").write_bytes(b"PAR1" + bytes(4096))
        # when the registry is read, then one RegistryError names the file (no SQLAlchemy traceback)
        with pytest.raises(
            RegistryError, match=rf"^{re.escape(str(tmp_path / 'mlflow.db'))}: not a usable MLflow store"
        ):
            model_versions(settings)
