"""Reading the model registry: resolve `models:/NAME@ALIAS` or `models:/NAME/VERSION`, load, list versions."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from registry.client import existing_registry_client, use_tracking_uri
from registry.errors import RegistryError
from registry.model_input import signature_columns, to_model_input
from training.result import FittedPropensityModel
from xsell.settings import Settings

__all__ = [
    "LoadedModel",
    "ModelVersionInfo",
    "RegisteredModel",
    "RegistryError",
    "alias_uri",
    "load_model",
    "model_versions",
    "parse_model_uri",
    "resolve_version",
]

logger = logging.getLogger(__name__)

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>[^/@]+))$")


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version: its aliases, tags (data hash, code version, metric.*) and provenance."""

    name: str
    version: int
    run_id: str | None
    aliases: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    status: str = ""
    description: str = ""

    @property
    def uri(self) -> str:
        """`models:/NAME/VERSION`."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegisteredModel:
    """What `log_training` registered."""

    name: str
    version: int
    run_id: str
    model_uri: str  # models:/NAME/VERSION
    aliases: tuple[str, ...]  # the aliases this version got
    metrics: dict[str, float] = field(default_factory=dict)  # headline metrics (holdout, overall) and CV best
    experiment_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (for flow results and the CLI)."""
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "aliases": list(self.aliases),
            "metrics": dict(self.metrics),
            "experiment_id": self.experiment_id,
        }


@dataclass(frozen=True)
class LoadedModel:
    """A registered model loaded for scoring: the MLflow pyfunc and the fitted model inside it."""

    name: str
    version: int
    uri: str  # the URI asked for (alias or version)
    run_id: str | None
    aliases: tuple[str, ...]
    pyfunc: Any  # mlflow.pyfunc.PyFuncModel
    model: FittedPropensityModel
    input_columns: tuple[str, ...] = ()  # the pyfunc's input columns (signature order)
    string_columns: tuple[str, ...] = ()  # those of type string

    def predict(self, frame: pd.DataFrame, *, reasons: bool = False) -> pd.DataFrame:
        """Score feature rows through the pyfunc: column `propensity`, plus `reason_1..3` when `reasons`.

        Inputs are typed for the signature first (pandas `category` decoded, integers as floats), which MLflow's
        schema check would otherwise refuse; keys and other extra columns are dropped.
        """
        features = to_model_input(frame, self.input_columns, self.string_columns)
        return self.pyfunc.predict(features, params={"reasons": reasons})  # type: ignore[no-any-return]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, one per row."""
        return self.predict(frame)["propensity"].to_numpy(dtype=float)


def parse_model_uri(uri: str) -> tuple[str, str | None, int | None]:
    """(name, alias, version) of `models:/NAME@ALIAS` or `models:/NAME/VERSION`; RegistryError otherwise."""
    match = _URI.match(uri.strip())
    if not match:
        raise RegistryError(f"not a registered-model URI: {uri!r} (expected models:/NAME@ALIAS or models:/NAME/N)")
    version = match["version"]
    if version is not None and not version.isdigit():
        raise RegistryError(f"not a registered-model URI: {uri!r} (version must be a number)")
    return match["name"], match["alias"], int(version) if version is not None else None


def alias_uri(settings: Settings, alias: str | None = None) -> str:
    """`models:/NAME@ALIAS` for the configured model; the champion alias by default."""
    return f"models:/{settings.registry.model_name}@{alias or settings.registry.champion_alias}"


def _info(version: Any) -> ModelVersionInfo:
    created = version.creation_timestamp
    return ModelVersionInfo(
        name=version.name,
        version=int(version.version),
        run_id=version.run_id or None,
        aliases=tuple(sorted(version.aliases or ())),
        tags=dict(version.tags or {}),
        created_at=datetime.fromtimestamp(created / 1000, tz=UTC) if created else None,
        status=str(version.status or ""),
        description=version.description or "",
    )


def resolve_version(uri: str, settings: Settings) -> ModelVersionInfo:
    """The registered version an alias or version URI points at; RegistryError naming the URI when there is none."""
    from mlflow.exceptions import MlflowException

    name, alias, version = parse_model_uri(uri)
    client = existing_registry_client(settings)
    if client is None:
        raise RegistryError(f"{uri}: no MLflow store at {settings.mlflow_uri}; nothing has been registered yet")
    try:
        found = (
            client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, str(version))
        )
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            what = f"alias {alias!r}" if alias else f"version {version}"
            raise RegistryError(f"{uri}: model {name!r} has no {what} in {settings.mlflow_uri}") from None
        raise
    return _info(found)


def load_model(uri: str, settings: Settings) -> LoadedModel:
    """Load a registered model by alias (`models:/NAME@champion`) or version (`models:/NAME/3`).

    RegistryError (a ValueError) names the URI when the model, alias or version does not exist.
    """
    import mlflow.pyfunc

    info = resolve_version(uri, settings)
    use_tracking_uri(settings.mlflow_uri)
    pyfunc = mlflow.pyfunc.load_model(info.uri)
    model = pyfunc.unwrap_python_model().model
    signature = pyfunc.metadata.signature
    if signature is None:
        raise RegistryError(f"{uri}: version {info.version} was logged without a signature")
    columns, strings = signature_columns(signature)
    logger.info("loaded %s (version %d, aliases %s)", uri, info.version, ", ".join(info.aliases) or "none")
    return LoadedModel(
        name=info.name,
        version=info.version,
        uri=uri,
        run_id=info.run_id,
        aliases=info.aliases,
        pyfunc=pyfunc,
        model=model,
        input_columns=tuple(columns),
        string_columns=tuple(strings),
    )


def model_versions(settings: Settings, name: str | None = None) -> list[ModelVersionInfo]:
    """Every version of the configured model (or `name`), newest first, with aliases and tags; empty when the
    model was never registered."""
    from mlflow.exceptions import MlflowException

    name = name or settings.registry.model_name
    client = existing_registry_client(settings)
    if client is None:
        return []
    try:
        registered = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise
    by_version: dict[str, list[str]] = {}
    for alias, version in (registered.aliases or {}).items():
        by_version.setdefault(str(version), []).append(alias)
    escaped = name.replace("'", "\\'")
    versions = client.search_model_versions(f"name = '{escaped}'", order_by=["version_number DESC"])
    infos = []
    for version in versions:
        info = _info(version)
        aliases = tuple(sorted(set(info.aliases) | set(by_version.get(str(info.version), ()))))
        infos.append(ModelVersionInfo(**{**info.__dict__, "aliases": aliases}))
    return sorted(infos, key=lambda v: v.version, reverse=True)
