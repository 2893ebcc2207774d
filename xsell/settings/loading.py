"""Building the settings: defaults < YAML file < XSELL_* environment < CLI options; unknown XSELL_* refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from xsell.faults import FAULT_ENV
from xsell.reaper import TOKEN_ENV
from xsell.settings.base import CONFIG_ENV, ENV_PREFIX, SettingsError
from xsell.settings.root import Settings

#: XSELL_* variables that are read but are not settings: the config file, the fault point tests name, and the
#: token that marks the processes an xsell command started (for its watchdog).
NON_SETTING_ENV = (CONFIG_ENV, FAULT_ENV, TOKEN_ENV)


def check_environment(environ: dict[str, str] | os._Environ[str]) -> None:
    """Refuse an XSELL_* variable that names no setting (XSELL_TRAINING__TRIALS names training.trials)."""
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_SETTING_ENV:
            continue
        model: Any = Settings
        parts = upper.removeprefix(ENV_PREFIX).lower().split("__")
        for depth, part in enumerate(parts):
            fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else None
            if fields is None:
                raise SettingsError(
                    f"unknown environment variable {name}: {'.'.join(parts[:depth])} has no sub-settings"
                )
            if part not in fields:
                known = ".".join(parts[:depth]) or "the top level"
                raise SettingsError(
                    f"unknown environment variable {name}: no setting {'.'.join(parts[: depth + 1])!r} "
                    f"(under {known}: {', '.join(sorted(fields))})"
                )
            model = fields[part].annotation


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults < YAML file < XSELL_* env < explicit overrides (CLI options)."""
    check_environment(os.environ)
    previous = os.environ.get(CONFIG_ENV)
    try:
        if config_file is not None:
            os.environ[CONFIG_ENV] = str(config_file)
        clean = {k: v for k, v in overrides.items() if v is not None}
        return Settings(**_nest(clean))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
    finally:
        if config_file is not None:
            if previous is None:
                os.environ.pop(CONFIG_ENV, None)
            else:
                os.environ[CONFIG_ENV] = previous


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Turn {'generator.accounts': 5} into {'generator': {'accounts': 5}}."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested
