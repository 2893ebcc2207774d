"""The one way to an MLflow store: the store's URI helpers and the client factory every layer uses.

`registry_client(settings)` builds the tracking-and-registry client on `settings.mlflow_uri` (the embedded SQLite
store under home unless `MLFLOW_TRACKING_URI` names another); `existing_registry_client(settings)` does the same
for readers, which must not create an empty store, and returns None when the embedded store does not exist yet.
A store MLflow cannot use becomes one RegistryError naming the URI or the file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from registry.errors import RegistryError
from xsell.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["existing_registry_client", "is_local_sqlite", "registry_client", "sqlite_path", "use_tracking_uri"]

logger = logging.getLogger(__name__)

_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def is_local_sqlite(uri: str) -> bool:
    """True for an embedded SQLite store (`sqlite:///...`), the default under the xsell home."""
    return uri.startswith("sqlite:///")


def sqlite_path(uri: str) -> Path:
    """File of a `sqlite:///...` URI."""
    if not is_local_sqlite(uri):
        raise ValueError(f"not a local SQLite URI: {uri}")
    return Path(uri.removeprefix("sqlite:///"))


def use_tracking_uri(uri: str) -> None:
    """Point MLflow's tracking and registry clients at `uri` for this process.

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI (for subprocesses); the variable is put back
    as it was, so that `Settings.mlflow_uri` keeps meaning "the environment, else SQLite under home" and a
    later call with another home is not silently redirected to this store.
    """
    import mlflow

    before = {key: os.environ.get(key) for key in _URI_ENV}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def registry_client(settings: Settings) -> MlflowClient:
    """A tracking and registry client on `settings.mlflow_uri` (an embedded SQLite store is created when missing).

    RegistryError names the URI when MLflow refuses it (an unknown scheme), or the file or URI when the store is
    not one MLflow can read (a file overwritten by something else).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = settings.mlflow_uri
    try:
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
    except MlflowException as exc:
        raise RegistryError(f"cannot use MLflow tracking URI {uri!r}: {exc.message}") from exc
    except Exception as exc:  # the store's own errors (SQLAlchemy) name neither the file nor the fix
        where = sqlite_path(uri) if is_local_sqlite(uri) else uri
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise RegistryError(f"{where}: not a usable MLflow store ({first[:200]})") from exc


def existing_registry_client(settings: Settings) -> MlflowClient | None:
    """`registry_client(settings)`, or None when the embedded store does not exist yet (reading must not create an
    empty database)."""
    uri = settings.mlflow_uri
    if is_local_sqlite(uri) and not sqlite_path(uri).is_file():
        return None
    return registry_client(settings)
