"""The installed packages are this repository's, and the pinned stack imports."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["flows", "tasks", "ingest", "features", "training", "registry", "monitoring", "deploy", "bench", "xsell"]


@pytest.mark.parametrize("name", PACKAGES)
def test_generic_top_level_names_resolve_to_this_repository(name: str) -> None:
    # given generic names like `features` and `tasks`, when imported, then they come from this repo
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().parent == REPO / name


def test_evidently_imports_under_the_pinned_pandas() -> None:
    # evidently 0.7.23 fails to import under pandas 3; this turns red the day the pin matters
    import pandas

    evidently = importlib.import_module("evidently")
    assert evidently is not None
    assert int(pandas.__version__.split(".")[0]) == 2


def test_lower_layers_do_not_import_prefect() -> None:
    # plain functions stay orchestrator-free: no file below ingest/ or xsell/ imports prefect
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("ingest", "xsell", "features", "training", "registry", "monitoring")
        for path in (REPO / folder).rglob("*.py")
        if "import prefect" in path.read_text() or "from prefect" in path.read_text()
    ]
    assert offenders == []
