"""The governance site: one static HTML site under `HOME/reports/` (entry `index.html`) that links, per month,
the data-quality reports, drift reports and decisions, the champion and challenger, the model cards with their
tier, adoption and fairness tables (downloaded from MLflow), promotion verdicts and the audit trail.

Offline by construction: no script, font or style is fetched (one inline stylesheet), every link is relative to
the page, so the `reports/` folder can be zipped and moved. The generated pages live in `reports/site/`, replaced
as one folder; `reports/index.html` is written last, atomically. Rebuilding from the same state gives the same
pages (the build time is shown in the index only).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from registry.audit import AuditEvent, read_events
from registry.models import ModelVersionInfo, model_versions
from xsell.fileio import atomic_dir, write_text_atomic
from xsell.settings import Settings

__all__ = ["MODEL_ARTIFACTS", "SiteSummary", "build_site", "render_markdown"]

logger = logging.getLogger(__name__)

SITE = "site"
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


@dataclass(frozen=True)
class SiteSummary:
    """What a build wrote: the index, how many pages, the months and model versions covered."""

    index: Path
    pages: int
    months: tuple[str, ...]
    model_versions: tuple[int, ...]
    audit_events: int
    checks: int
    files: tuple[str, ...] = field(default_factory=tuple)  # every file of the site, relative to reports/

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the file list left out)."""
        return {
            "index": str(self.index),
            "pages": self.pages,
            "months": list(self.months),
            "model_versions": list(self.model_versions),
            "audit_events": self.audit_events,
            "checks": self.checks,
        }


def render_markdown(text: str) -> str:
    """Markdown (CommonMark with tables) as HTML; raw HTML in the text is escaped."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("monitoring", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )
    env.filters["num"] = _num
    return env


def _num(value: Any, digits: int = 3) -> str:
    """A metric for a table cell: counts with separators, ratios rounded, missing as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 100 else f"{value:.{digits}f}"
    return str(value)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("skipping unreadable report %s", path)
        return None
    return data if isinstance(data, dict) else None


def _rel(path: Path, reports: Path) -> str | None:
    """`path` relative to `reports/` as a POSIX string when it is a file under it, else None."""
    try:
        relative = path.resolve().relative_to(reports.resolve())
    except ValueError:
        return None
    return relative.as_posix() if path.is_file() else None


# ---- gathering what exists --------------------------------------------------------------------------------------


def data_quality_runs(reports: Path) -> list[dict[str, Any]]:
    """Every data-quality report in `reports/data_quality/history/`, oldest data first."""
    runs = []
    for path in sorted((reports / "data_quality" / "history").glob("*.json")):
        report = _read_json(path)
        if report is None or "run_id" not in report:
            continue
        gate = report.get("gate") or {}
        totals = report.get("totals") or {}
        data_end = str(report.get("data_end") or "")
        runs.append(
            {
                "run_id": str(report["run_id"]),
                "data_end": data_end,
                "month": data_end[:7],
                "generated_at": str(report.get("generated_at") or ""),
                "gate": "disabled" if not gate.get("enabled", True) else ("passed" if gate.get("passed") else "failed"),
                "rows_read": totals.get("rows_read"),
                "rows_kept": totals.get("rows_kept"),
                "html": _rel(path.with_suffix(".html"), reports),
                "json": _rel(path, reports),
            }
        )
    return sorted(runs, key=lambda r: (r["data_end"], r["generated_at"], r["run_id"]))


def _version(ref: Any) -> int | None:
    return int(ref["version"]) if isinstance(ref, Mapping) and ref.get("version") is not None else None


def monitoring_checks(reports: Path) -> list[dict[str, Any]]:
    """Every monitoring decision in `reports/monitoring/<as_of>/decision.json`, oldest first."""
    checks = []
    for path in sorted((reports / "monitoring").glob("*/decision.json")):
        decision = _read_json(path)
        if decision is None or "as_of" not in decision:
            continue
        folder = path.parent
        plan = decision.get("plan") or {}
        as_of = str(decision["as_of"])
        checks.append(
            {
                "as_of": as_of,
                "month": as_of[:7],
                "decision": str(decision.get("decision", "")),
                "reasons": [str(r) for r in decision.get("reasons") or ()],
                "drift_share": decision.get("drift_share"),
                "drifted_features": [str(f) for f in decision.get("drifted_features") or ()],
                "drifted_checks": decision.get("drifted_checks"),
                "window": decision.get("window"),
                "champion": decision.get("champion_version") or _version(plan.get("champion")),
                "challenger": _version(plan.get("challenger")),
                "previous_champion": _version(plan.get("previous_champion")),
                "metrics": _performance_rows(decision.get("metrics") or {}),
                "drift_html": _rel(folder / "drift.html", reports),
                "drift_json": _rel(folder / "drift.json", reports),
                "performance_json": _rel(folder / "performance.json", reports),
                "decision_json": _rel(path, reports),
            }
        )
    return sorted(checks, key=lambda c: c["as_of"])


def _performance_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Realised metrics of each model in a decision (`metrics.<role>` objects), one row per model."""
    rows = []
    for role in ("champion", "challenger", "previous_champion"):
        values = metrics.get(role)
        if isinstance(values, Mapping):
            rows.append(
                {
                    "role": role,
                    **{k: values.get(k) for k in ("version", "rows", "positives", "roc_auc", "pr_auc", "ece")},
                }
            )
    return rows


def promotion_verdicts(reports: Path) -> list[dict[str, Any]]:
    """Every gate verdict in `reports/promotion/`, in file-name (time) order."""
    verdicts = []
    for path in sorted((reports / "promotion").glob("*.json")):
        verdict = _read_json(path)
        if verdict is None:
            continue
        verdicts.append(
            {
                "name": path.stem,
                "champion": verdict.get("champion_version"),
                "challenger": verdict.get("challenger_version"),
                "mode": verdict.get("mode", ""),
                "passed": bool(verdict.get("passed")),
                "failed": [str(f) for f in verdict.get("failed") or ()],
                "checks": [c for c in verdict.get("checks") or () if isinstance(c, Mapping)],
                "json": _rel(path, reports),
            }
        )
    return verdicts


def serving_runs(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Published scoring runs (per as-of date and model version) and shadow runs, from the warehouse (read-only;
    empty lists before the first scoring)."""
    if not settings.warehouse_path.is_file():
        return [], []
    from features.store import connect_warehouse, table_exists

    queries = {
        "scores": "SELECT CAST(as_of AS VARCHAR) AS as_of, model_version, count(*) AS rows, "
        "count(DISTINCT account_id) AS accounts, count(*) FILTER (WHERE tier = 'ready_now') AS ready_now "
        "FROM serving.scores GROUP BY ALL ORDER BY as_of, model_version",
        "shadow_runs": "SELECT CAST(as_of AS VARCHAR) AS as_of, champion_version, challenger_version, rows, psi, ks, "
        "spearman, top_decile_overlap, labelled_rows, champion_pr_auc, challenger_pr_auc "
        "FROM serving.shadow_runs ORDER BY as_of, challenger_version",
    }
    con = connect_warehouse(settings, read_only=True)
    try:
        found = {
            t: _records(con.execute(q).df()) if table_exists(con, "serving", t) else [] for t, q in queries.items()
        }
    finally:
        con.close()
    scores, shadows = found["scores"], found["shadow_runs"]
    for row in [*scores, *shadows]:
        row["month"] = str(row["as_of"])[:7]
    return scores, shadows


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as dicts of plain Python values (missing values as None)."""
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


# ---- model versions: artifacts from MLflow ----------------------------------------------------------------------


def download_model_artifacts(settings: Settings, run_id: str, out: Path) -> list[str]:
    """Copy the run's `MODEL_ARTIFACTS` that exist into `out` (same relative paths); returns those copied."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
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


def _table_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    frame = pd.read_csv(path)
    return [str(c) for c in frame.columns], _records(frame)


def _model_page(settings: Settings, info: ModelVersionInfo, folder: Path) -> dict[str, Any]:
    """Download a version's artifacts into `folder` and return what its page shows."""
    copied = download_model_artifacts(settings, info.run_id, folder) if info.run_id else []
    rendered: dict[str, str] = {}
    for artifact in _RENDERED:
        if artifact in copied:
            rendered[artifact] = render_markdown((folder / artifact).read_text(encoding="utf-8"))
    fairness: tuple[list[str], list[dict[str, Any]]] = ([], [])
    if "evaluation/segment_metrics.csv" in copied:
        fairness = _table_rows(folder / "evaluation/segment_metrics.csv")
    metrics = {k.removeprefix("metric."): v for k, v in sorted(info.tags.items()) if k.startswith("metric.")}
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


# ---- audit trail ------------------------------------------------------------------------------------------------


def _evidence_links(evidence: Any, reports: Path) -> list[str]:
    """Paths under `reports/` named anywhere in an event's evidence, relative to `reports/`."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, str) and ("/" in value or "\\" in value) and len(value) < 1000:
            rel = _rel(Path(value), reports)
            if rel is not None and rel not in found:
                found.append(rel)

    walk(evidence)
    return found


def _audit_rows(events: Iterable[AuditEvent], reports: Path) -> list[dict[str, Any]]:
    rows = []
    for event in events:
        evidence = {k: v for k, v in event.evidence.items() if k not in ("checks", "metrics")}
        rows.append(
            {
                "seq": event.seq,
                "at": f"{event.at:%Y-%m-%d %H:%M:%S}Z",
                "actor": event.actor,
                "action": event.action,
                "from_version": event.from_version,
                "to_version": event.to_version,
                "reason": event.reason,
                "outcome": event.outcome,
                "evidence": json.dumps(evidence, sort_keys=True, default=str)[:600] if evidence else "",
                "links": _evidence_links(event.evidence, reports),
            }
        )
    return rows


# ---- assembling the site ----------------------------------------------------------------------------------------


def _months(*groups: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({str(item["month"]) for group in groups for item in group if item.get("month")}, reverse=True)


def _by_month(items: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault(str(item.get("month", "")), []).append(item)
    return grouped


def build_site(settings: Settings) -> SiteSummary:
    """Write `reports/index.html` and `reports/site/` from every report, model version and audit event that exists
    now; idempotent (a rebuild replaces the whole site)."""
    reports = settings.reports_dir
    reports.mkdir(parents=True, exist_ok=True)
    quality = data_quality_runs(reports)
    checks = monitoring_checks(reports)
    verdicts = promotion_verdicts(reports)
    scores, shadows = serving_runs(settings)
    versions = model_versions(settings)
    events = read_events(settings)
    audit = _audit_rows(events, reports)
    months = _months(quality, checks, scores, shadows)
    grouped = {
        "quality": _by_month(quality),
        "checks": _by_month(checks),
        "scores": _by_month(scores),
        "shadows": _by_month(shadows),
    }
    env = _env()
    common = {
        "model_name": settings.registry.model_name,
        "known_versions": {v.version for v in versions},
    }
    pages = 0
    with atomic_dir(reports / SITE) as tmp:
        models = []
        for info in versions:
            folder = tmp / "models" / f"v{info.version}"
            folder.mkdir(parents=True)
            page = _model_page(settings, info, folder)
            page["events"] = [r for r in audit if info.version in (r["from_version"], r["to_version"])]
            models.append(page)
            html = env.get_template("site_model.html.j2").render(up="../../../", m=page, **common)
            write_text_atomic(folder / "index.html", html)
            pages += 1
        for month in months:
            month_items = {key: group.get(month, []) for key, group in grouped.items()}
            html = env.get_template("site_month.html.j2").render(up="../../", month=month, **month_items, **common)
            write_text_atomic(tmp / "months" / f"{month}.html", html)
            pages += 1
        html = env.get_template("site_audit.html.j2").render(up="../", events=audit, **common)
        write_text_atomic(tmp / "audit.html", html)
        pages += 1
        site_files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    champion = next((m for m in models if "champion" in m["aliases"]), None)
    timeline = [
        {
            "month": month,
            "quality": grouped["quality"].get(month, []),
            "checks": grouped["checks"].get(month, []),
            "scores": grouped["scores"].get(month, []),
            "shadows": grouped["shadows"].get(month, []),
        }
        for month in months
    ]
    index_html = env.get_template("site_index.html.j2").render(
        up="",
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        home=str(settings.home),
        timeline=timeline,
        models=models,
        champion=champion,
        verdicts=verdicts,
        audit_count=len(audit),
        latest_events=audit[-10:][::-1],
        **common,
    )
    index = write_text_atomic(reports / "index.html", index_html)
    pages += 1
    summary = SiteSummary(
        index=index,
        pages=pages,
        months=tuple(months),
        model_versions=tuple(sorted(v.version for v in versions)),
        audit_events=len(audit),
        checks=len(checks),
        files=("index.html", *(f"{SITE}/{f}" for f in site_files)),
    )
    logger.info("governance site: %d pages, %d months, %d model versions", pages, len(months), len(versions))
    return summary
