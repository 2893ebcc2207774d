"""Fixtures of the registry tests: a real small model and TrainingResult (see `factories.py`), and an MLflow
SQLite store per test or per module.

MLflow's first use of a SQLite file runs its migrations (~4 s): they run once per session on a template
database, which each store copies.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from tests.unit.registry.factories import (
    DATES,
    QUIET,
    TinyPropensityModel,
    make_feature_rows,
    make_training_result,
)
from training.result import TrainingResult
from xsell.settings import ENV_PREFIX, Settings, load_settings

if TYPE_CHECKING:
    from registry.models import RegisteredModel


@pytest.fixture(scope="session")
def feature_rows() -> pd.DataFrame:
    return make_feature_rows()


@pytest.fixture(scope="session")
def tiny_model(feature_rows: pd.DataFrame) -> TinyPropensityModel:
    return TinyPropensityModel(random_state=0).fit(feature_rows[feature_rows["as_of"].isin(DATES[:-2])])


@pytest.fixture(scope="session")
def training_result(tiny_model: TinyPropensityModel, feature_rows: pd.DataFrame) -> TrainingResult:
    return make_training_result(tiny_model, feature_rows)


@pytest.fixture(scope="session")
def result_factory(tiny_model: TinyPropensityModel, feature_rows: pd.DataFrame) -> Callable[..., TrainingResult]:
    """`result_factory(**overrides)`: a TrainingResult with some fields replaced."""
    return lambda **overrides: make_training_result(tiny_model, feature_rows, **overrides)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow SQLite database (migrations run once per session)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()
    return path


@contextmanager
def mlflow_env() -> Iterator[None]:
    """No XSELL_* or MLflow URI variable of the developer's shell, MLflow quiet; all restored on exit."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIX):
                patch.delenv(name)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        for key, value in QUIET.items():
            patch.setenv(key, value)
        yield


def new_store(home: Path, template: Path) -> Settings:
    """Settings homed at `home` with an empty, migrated MLflow SQLite store."""
    home.mkdir(parents=True)
    shutil.copyfile(template, home / "mlflow.db")
    return load_settings(home=home)


@pytest.fixture
def mlflow_settings(tmp_path: Path, mlflow_template: Path) -> Iterator[Settings]:
    """Settings homed in tmp_path whose MLflow store (SQLite under home) starts empty and migrated."""
    with mlflow_env():
        yield new_store(tmp_path / "home", mlflow_template)


@pytest.fixture(scope="module")
def two_versions(
    tmp_path_factory: pytest.TempPathFactory,
    mlflow_template: Path,
    training_result: TrainingResult,
    result_factory: Callable[..., TrainingResult],
) -> Iterator[tuple[Settings, RegisteredModel, RegisteredModel]]:
    """One store where two trainings were logged: the first with nested trial runs, the second (another data
    hash) with the trials table only."""
    from registry.log_training import log_training

    with mlflow_env():
        settings = new_store(tmp_path_factory.mktemp("registry") / "home", mlflow_template)
        first = log_training(training_result, settings, reason="first training")
        second = log_training(result_factory(data_hash="f" * 64), settings, reason="second", trial_runs=False)
        yield settings, first, second


@pytest.fixture(scope="session")
def governed_template(
    tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path, training_result: TrainingResult
) -> Path:
    """A home whose registry holds v1 (champion) to v3 (challenger), registrations recorded (see `governance.py`)."""
    from tests.unit.registry.governance import register_three_versions

    with mlflow_env():
        settings = new_store(tmp_path_factory.mktemp("governed") / "home", mlflow_template)
        register_three_versions(settings, training_result)
    return settings.home


@pytest.fixture
def governed(tmp_path: Path, governed_template: Path) -> Iterator[Settings]:
    """Settings homed in tmp_path on a copy of `governed_template`'s registry and warehouse."""
    from tests.unit.registry.governance import copy_home

    with mlflow_env():
        yield copy_home(governed_template, tmp_path / "home")
