"""The registry client factory and the store URI helpers: one client per store, readers never create a store, and
an unusable store is one RegistryError naming it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry.client import existing_registry_client, is_local_sqlite, registry_client, sqlite_path
from registry.errors import RegistryError
from tests.unit.registry.conftest import mlflow_env
from xsell.settings import Settings, load_settings


def test_sqlite_uri_helpers() -> None:
    assert is_local_sqlite("sqlite:////x/mlflow.db") and not is_local_sqlite("http://mlflow:5000")
    assert sqlite_path("sqlite:////x/mlflow.db") == Path("/x/mlflow.db")
    with pytest.raises(ValueError, match="not a local SQLite URI"):
        sqlite_path("http://mlflow:5000")


def test_registry_client_works_on_the_settings_store(mlflow_settings: Settings) -> None:
    client = registry_client(mlflow_settings)
    assert client.tracking_uri == mlflow_settings.mlflow_uri
    assert client.search_registered_models() == []
    assert existing_registry_client(mlflow_settings) is not None


def test_readers_get_no_client_and_no_store_before_the_first_write(tmp_path: Path) -> None:
    with mlflow_env():
        settings = load_settings(home=tmp_path)
        store = sqlite_path(settings.mlflow_uri)
        assert not store.exists()
        assert existing_registry_client(settings) is None
        assert not store.exists()


def test_an_unusable_store_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with mlflow_env():
        settings = load_settings(home=tmp_path)
        store = sqlite_path(settings.mlflow_uri)
        store.write_bytes(b"PAR1" + bytes(4096))
        with pytest.raises(RegistryError, match=rf"^{re.escape(str(store))}: not a usable MLflow store"):
            existing_registry_client(settings)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://host/db")
        with pytest.raises(RegistryError, match="cannot use MLflow tracking URI 'nosuchscheme://host/db'"):
            registry_client(settings)
