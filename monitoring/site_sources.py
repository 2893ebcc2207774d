"""What the governance site shows, gathered from what exists in a home: data-quality reports, monitoring decisions,
promotion verdicts (files under its `reports/`), published scoring and shadow runs (its warehouse, read-only) and
its audit trail. Each item is a plain dict for the templates; paths are relative to the home's `reports/` folder
and named only when the file exists.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.store import table_exists, warehouse
from registry.audit import AuditEvent, read_events
from registry.models import ModelVersionInfo, model_versions
from xsell.settings import Settings

__all__ = [
    "HomeReports",
    "audit_rows",
    "data_quality_runs",
    "gather_home",
    "monitoring_checks",
    "promotion_verdicts",
    "records",
    "relative_file",
    "serving_runs",
]

logger = logging.getLogger(__name__)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("skipping unreadable report %s", path)
        return None
    return data if isinstance(data, dict) else None


def relative_file(path: Path, reports: Path) -> str | None:
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
                "html": relative_file(path.with_suffix(".html"), reports),
                "json": relative_file(path, reports),
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
                "drift_html": relative_file(folder / "drift.html", reports),
                "drift_json": relative_file(folder / "drift.json", reports),
                "performance_json": relative_file(folder / "performance.json", reports),
                "decision_json": relative_file(path, reports),
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
                "json": relative_file(path, reports),
            }
        )
    return verdicts


def serving_runs(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Published scoring runs (per as-of date and model version) and shadow runs, from the warehouse (read-only;
    empty lists before the first scoring)."""
    if not settings.warehouse_path.is_file():
        return [], []
    queries = {
        "scores": "SELECT CAST(as_of AS VARCHAR) AS as_of, CAST(model_version AS INTEGER) AS model_version, "
        "count(*) AS rows, count(DISTINCT account_id) AS accounts, count(*) FILTER (WHERE tier = 'ready_now') AS ready_now "
        "FROM serving.scores GROUP BY ALL ORDER BY as_of, model_version",
        "shadow_runs": "SELECT CAST(as_of AS VARCHAR) AS as_of, champion_version, challenger_version, rows, psi, ks, "
        "spearman, top_decile_overlap, labelled_rows, champion_pr_auc, challenger_pr_auc "
        "FROM serving.shadow_runs ORDER BY as_of, challenger_version",
    }
    with warehouse(settings, read_only=True) as con:
        found = {t: records(con.execute(q).df()) if table_exists(con, "serving", t) else [] for t, q in queries.items()}
    scores, shadows = found["scores"], found["shadow_runs"]
    for row in [*scores, *shadows]:
        row["month"] = str(row["as_of"])[:7]
    return scores, shadows


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as dicts of plain Python values (missing values as None)."""
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


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
            rel = relative_file(Path(value), reports)
            if rel is not None and rel not in found:
                found.append(rel)

    walk(evidence)
    return found


def audit_rows(events: Iterable[AuditEvent], reports: Path) -> list[dict[str, Any]]:
    """The audit events as table rows, the report files named in each one's evidence as links."""
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


# ---- one home ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HomeReports:
    """Everything the site shows of one home (the live one or the replay's), paths relative to its `reports/`."""

    quality: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    shadows: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    versions: list[ModelVersionInfo]

    @property
    def months(self) -> list[str]:
        """The data months of the home, newest first (the data end of a load, a check's or a scoring's as-of)."""
        items = (*self.quality, *self.checks, *self.scores, *self.shadows)
        return sorted({str(item["month"]) for item in items if item.get("month")}, reverse=True)

    def month(self, month: str) -> dict[str, list[dict[str, Any]]]:
        """The loads, checks, scoring and shadow runs of one month."""
        groups = {"quality": self.quality, "checks": self.checks, "scores": self.scores, "shadows": self.shadows}
        return {key: [item for item in items if item.get("month") == month] for key, items in groups.items()}


def gather_home(settings: Settings) -> HomeReports:
    """Read what exists in the home of `settings` (nothing is created by reading)."""
    reports = settings.reports_dir
    scores, shadows = serving_runs(settings)
    return HomeReports(
        quality=data_quality_runs(reports),
        checks=monitoring_checks(reports),
        verdicts=promotion_verdicts(reports),
        scores=scores,
        shadows=shadows,
        audit=audit_rows(read_events(settings), reports),
        versions=model_versions(settings),
    )
