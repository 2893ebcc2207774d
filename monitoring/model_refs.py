"""The registered versions a monitoring check compares: each in its role, with its training window, holdout metrics
and the data it was trained on (read from its registry tags and its MLflow run)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from registry.client import registry_client
from registry.errors import RegistryError
from registry.model_card import MODEL
from registry.models import ModelVersionInfo, alias_uri, resolve_version
from xsell.settings import Settings

__all__ = ["ModelRef", "model_ref"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A registered version in a role, with its training window and holdout metrics (from its tags)."""

    role: str
    version: int
    uri: str
    run_id: str | None
    trained_from: date | None
    trained_until: date | None
    holdout: dict[str, float] = field(default_factory=dict)
    holdout_products: dict[str, dict[str, float]] = field(default_factory=dict)  # from its run's metrics
    data_hash: str = ""  # the version's `data_hash` tag: the data it was trained on


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _window(info: ModelVersionInfo, settings: Settings) -> tuple[date | None, date | None]:
    """The training data window: run params `data_window_start`/`data_window_end`, else the version tag
    `data_window` (`START..END`)."""
    params: dict[str, str] = {}
    if info.run_id:
        params = dict(registry_client(settings).get_run(info.run_id).data.params)
    start, end = _day(params.get("data_window_start")), _day(params.get("data_window_end"))
    if start is None or end is None:
        tag_start, _, tag_end = info.tags.get("data_window", "").partition("..")
        start, end = start or _day(tag_start), end or _day(tag_end)
    return start, end


def model_ref(settings: Settings, role: str, alias: str) -> ModelRef | None:
    """The version behind `alias`, or None when the alias is not set."""
    try:
        info = resolve_version(alias_uri(settings, alias), settings)
    except RegistryError:
        return None
    start, end = _window(info, settings)
    holdout = {}
    for key, value in info.tags.items():
        if key.startswith("metric."):
            try:
                holdout[key.removeprefix("metric.")] = float(value)
            except ValueError:
                continue
    products = _holdout_products(settings, info)
    data_hash = info.tags.get("data_hash", "")
    return ModelRef(role, info.version, info.uri, info.run_id, start, end, holdout, products, data_hash)


def _holdout_products(settings: Settings, info: ModelVersionInfo) -> dict[str, dict[str, float]]:
    """The version's holdout ROC-AUC and PR-AUC per product, from its training run's metrics (`xsell/<product>/
    <metric>`); empty when the run or the metrics are missing."""
    if info.run_id is None:
        return {}
    from mlflow.exceptions import MlflowException

    try:
        run = registry_client(settings).get_run(info.run_id)
    except MlflowException as exc:
        logger.warning("version %d: its run %s could not be read: %s", info.version, info.run_id, exc)
        return {}
    out: dict[str, dict[str, float]] = {}
    for key, value in run.data.metrics.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == MODEL and parts[1] != "overall" and parts[2] in ("roc_auc", "pr_auc"):
            out.setdefault(parts[1], {})[parts[2]] = float(value)
    return out
