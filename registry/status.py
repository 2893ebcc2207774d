"""The registry at a glance (`xsell registry status`): what each alias points at, every version with its headline
metrics, and the last recorded decisions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from registry.aliases import current_aliases
from registry.audit import read_events
from registry.models import model_versions
from xsell.settings import Settings

__all__ = ["registry_status"]


def registry_status(settings: Settings, last: int = 5) -> dict[str, Any]:
    """Champion, challenger and previous champion (versions, None when unset), gate mode, every version with its
    aliases and headline metrics, and the `last` recorded decisions (newest last)."""
    aliases = current_aliases(settings)
    versions = [
        {
            "version": v.version,
            "aliases": list(v.aliases),
            "created_at": v.created_at.isoformat() if v.created_at else None,
            "run_id": v.run_id,
            "data_window": v.tags.get("data_window"),
            "metrics": _tag_metrics(v.tags),
        }
        for v in model_versions(settings)
    ]
    return {
        "model_name": settings.registry.model_name,
        **aliases.to_dict(),
        "gates_mode": settings.registry.gates.mode,
        "versions": versions,
        "last_decisions": [e.to_dict() for e in read_events(settings, limit=last)],
    }


def _tag_metrics(tags: Mapping[str, str]) -> dict[str, float]:
    """The finite `metric.*` tags of a version, as numbers."""
    out = {}
    for key, text in tags.items():
        if key.startswith("metric."):
            try:
                value = float(text)
            except ValueError:
                continue
            if math.isfinite(value):
                out[key.removeprefix("metric.")] = value
    return out
