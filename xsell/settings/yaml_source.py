"""The YAML config file as the lowest-priority settings source; secrets are refused from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from xsell.settings.base import CONFIG_ENV, SettingsError


class YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by XSELL_CONFIG (or passed as _config_file) as the lowest-priority source."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get(CONFIG_ENV)
        self._data: dict[str, Any] = read_yaml(Path(path)) if path else {}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid YAML: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} must hold a mapping at the top level")
    for section, key, env in SECRET_KEYS:
        if isinstance(data.get(section), dict) and data[section].get(key) is not None:
            raise SettingsError(
                f"config file {path}: {section}.{key} is a secret and is not read from a config file; set {env} "
                f"or write HOME/secrets/{section}_{key} (mode 0600)"
            )
    return data


def _yaml_problem(exc: Exception) -> str:
    """A YAML parser error in one line: what and where."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


#: Settings that hold secrets: from the environment (or a 0600 file under home), never from the YAML file.
SECRET_KEYS = (("api", "admin_token", "XSELL_API__ADMIN_TOKEN"),)
