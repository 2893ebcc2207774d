"""Model versions on the governance site: the artifacts of each version's training run, downloaded from MLflow
beside its page, and what the page shows (rendered model card, tier and adoption tables, fairness table, plots)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.site_sources import records
from registry.client import registry_client
from registry.models import ModelVersionInfo
from xsell.settings import Settings

__all__ = ["MODEL_ARTIFACTS", "download_model_artifacts", "model_page", "render_markdown"]

logger = logging.getLogger(__name__)

#: Artifacts of each model version's training run copied into the site (those a run lacks are skipped).
MODEL_ARTIFACTS: tuple[str, ...] = (
    "model_card.md",
    "tiers/tier_table.md",
    "tiers/tier_table.csv",
    "tiers/policy.json",
    "adoption/adoption_path.md",
    "adoption/adoption_path.csv",
    "evaluation/segment_metrics.csv",
    "evaluation/metrics.json",
    "plots/cumulative_gains.png",
    "plots/calibration.png",
    "plots/precision_recall.png",
    "plots/shap_summary.png",
    "plots/feature_importance.png",
)
#: Markdown artifacts also rendered to HTML beside themselves.
_RENDERED = ("model_card.md", "tiers/tier_table.md", "adoption/adoption_path.md")


def render_markdown(text: str) -> str:
    """Markdown (CommonMark with tables) as HTML; raw HTML in the text is escaped."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))


def download_model_artifacts(settings: Settings, run_id: str, out: Path) -> list[str]:
    """Copy the run's `MODEL_ARTIFACTS` that exist into `out` (same relative paths); returns those copied."""
    client = registry_client(settings)
    present: set[str] = set()
    for folder in sorted({"", *(a.rpartition("/")[0] for a in MODEL_ARTIFACTS)}):
        present |= {item.path for item in client.list_artifacts(run_id, folder or None) if not item.is_dir}
    copied = []
    for artifact in MODEL_ARTIFACTS:
        if artifact not in present:
            continue
        target = out / artifact
        target.parent.mkdir(parents=True, exist_ok=True)
        local = Path(client.download_artifacts(run_id, artifact, str(target.parent)))
        if local.resolve() != target.resolve():
            shutil.copyfile(local, target)
        copied.append(artifact)
    return copied


def _number(text: str) -> float | str:
    """A metric tag (MLflow tags are strings) as a number when it reads as one, so the tables can round it."""
    try:
        return float(text)
    except ValueError:
        return text


def _table_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    frame = pd.read_csv(path)
    return [str(c) for c in frame.columns], records(frame)


def model_page(settings: Settings, info: ModelVersionInfo, folder: Path) -> dict[str, Any]:
    """Download a version's artifacts into `folder` and return what its page shows."""
    copied = download_model_artifacts(settings, info.run_id, folder) if info.run_id else []
    rendered: dict[str, str] = {}
    for artifact in _RENDERED:
        if artifact in copied:
            rendered[artifact] = render_markdown((folder / artifact).read_text(encoding="utf-8"))
    fairness: tuple[list[str], list[dict[str, Any]]] = ([], [])
    if "evaluation/segment_metrics.csv" in copied:
        fairness = _table_rows(folder / "evaluation/segment_metrics.csv")
    metrics = {k.removeprefix("metric."): _number(v) for k, v in sorted(info.tags.items()) if k.startswith("metric.")}
    return {
        "version": info.version,
        "aliases": list(info.aliases),
        "run_id": info.run_id,
        "created_at": info.created_at.isoformat(timespec="seconds") if info.created_at else "",
        "data_window": info.tags.get("data_window", ""),
        "reason": info.tags.get("reason", ""),
        "metrics": metrics,
        "artifacts": copied,
        "card_html": rendered.get("model_card.md", ""),
        "tier_html": rendered.get("tiers/tier_table.md", ""),
        "adoption_html": rendered.get("adoption/adoption_path.md", ""),
        "fairness_columns": fairness[0],
        "fairness_rows": fairness[1],
        "plots": [a for a in copied if a.endswith(".png")],
    }
