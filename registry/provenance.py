"""Where a logged model comes from: the code version, the data fingerprint and window, and the lineage records.

`provenance(result)` gathers what identifies one training: the package and git commit that ran it, the hash and
window of its data, its split and model layout. The same values appear as run tags, version tags, the pyfunc's
metadata and `data/training_data.json`, so a model found in the registry leads back to the exact data and code.
`pip_requirements` pins the distributions the pyfunc needs at load time to the versions installed here.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from registry.model_card import day_text, window_text
from training.result import TrainingResult

__all__ = [
    "REQUIREMENTS",
    "Provenance",
    "code_version",
    "model_metadata",
    "pip_requirements",
    "provenance",
    "training_data_record",
]

#: Distributions the pyfunc needs at load time, pinned to the versions installed here. Listing them spares
#: MLflow ~10 s of requirement inference per log (the xsell package itself must be installed as well).
REQUIREMENTS: tuple[str, ...] = (
    "mlflow",
    "cloudpickle",
    "skops",
    "lightgbm",
    "scikit-learn",
    "scipy",
    "numpy",
    "pandas",
    "pyarrow",
)


@dataclass(frozen=True)
class Provenance:
    """What identifies one training: code version, data hash and window (`START..END`), and why it ran."""

    code_version: str
    data_hash: str
    data_window: str
    reason: str

    def tags(self) -> dict[str, str]:
        """The lineage tags set on both the run and the registered version."""
        return {
            "data_hash": self.data_hash,
            "code_version": self.code_version,
            "reason": self.reason,
            "data_window": self.data_window,
        }


def provenance(result: TrainingResult, reason: str) -> Provenance:
    """The provenance of `result`, trained for `reason`, with the code version of this checkout."""
    return Provenance(code_version(), result.data_hash, window_text(result.data_window), reason)


def code_version() -> str:
    """Package version plus the git commit of this checkout when there is one: `0.1.0+g1a2b3c4[.dirty]`.

    Uses read-only git commands (no index refresh, no lock), so it is safe beside other git users.
    """
    try:
        package = metadata.version("xsell")
    except metadata.PackageNotFoundError:
        package = "unknown"
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return package
    try:
        sha = _git(root, "rev-parse", "--short=10", "HEAD")
        dirty = _git(root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return package
    return f"{package}+g{sha}" + (".dirty" if dirty else "")


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


def pip_requirements() -> list[str]:
    """`REQUIREMENTS` pinned to the installed versions (missing distributions left out)."""
    pinned = []
    for name in REQUIREMENTS:
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pinned


def training_data_record(result: TrainingResult) -> dict[str, Any]:
    """The lineage of the training data (`data/training_data.json`): window, split, hash, sizes, folds, dates and
    the model's products and features."""
    plan = result.plan
    model = result.model
    return {
        "data_window": [day_text(v) for v in result.data_window],
        "split_kind": getattr(plan, "kind", "time"),
        "holdout_rows": getattr(plan, "holdout_rows", 0),
        "holdout_positives": getattr(plan, "holdout_positives", 0),
        "data_hash": result.data_hash,
        "n_rows": result.n_rows,
        "n_positives": result.n_positives,
        "horizon_days": plan.horizon_days,
        "purge_days": plan.purge_days,
        "folds": [{"train": list(f.train_dates), "valid": list(f.valid_dates)} for f in plan.folds],
        "final_train_dates": list(plan.final_train_dates),
        "holdout_dates": list(plan.holdout_dates),
        "products": list(model.products_),
        "feature_names": list(model.feature_names_),
        "categorical_features": list(model.categorical_features_),
    }


def model_metadata(result: TrainingResult, input_columns: list[str]) -> dict[str, Any]:
    """The metadata stored in the logged pyfunc: its inputs, the model's features, products, calibration, the data
    hash and the label horizon."""
    model = result.model
    return {
        "input_columns": list(input_columns),
        "feature_names": list(model.feature_names_),
        "categorical_features": list(model.categorical_features_),
        "products": list(model.products_),
        "calibration_method": model.calibration_method_,
        "data_hash": result.data_hash,
        "horizon_days": result.plan.horizon_days,
    }
