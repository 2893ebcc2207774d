"""Replay of the monthly cycle over history: the timeline (CSV, plot, HTML), the month grid, the run manifest.

Plain functions: the flows (`flows/simulate.py`) run each month and hand a `TimelineRow` here. The timeline is
`HOME/reports/simulation/timeline.csv` (rewritten atomically after every month, so a stopped replay leaves the
months it finished), with `timeline.png` and `timeline.html` beside it.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from features.calendar import month_end, parse_month, snapshot_dates
from features.errors import FeatureError
from features.store import warehouse
from monitoring.check import plan_check
from monitoring.errors import MonitoringError
from training.dataset import labelled_snapshot_dates
from xsell.fileio import atomic_path, write_text_atomic
from xsell.settings import Settings

__all__ = [
    "TIMELINE_COLUMNS",
    "TimelineRow",
    "cycle_snapshot_dates",
    "month_ends",
    "read_timeline",
    "replay_fingerprint",
    "shuffle_labels",
    "write_timeline",
    "write_timeline_html",
    "write_timeline_plot",
]

logger = logging.getLogger(__name__)


_MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@dataclass(frozen=True)
class SimulationPaths:
    """Where a replay keeps its state and writes its timeline."""

    home: Path  # the simulation's own xsell home
    raw_cut: Path  # the export cut at the current month
    manifest: Path
    timeline: Path
    plot: Path
    html: Path


def simulation_paths(settings: Settings) -> SimulationPaths:
    """`HOME/simulation/` for state, `HOME/reports/simulation/` for the timeline."""
    home = settings.home / "simulation"
    reports = settings.reports_dir / "simulation"
    return SimulationPaths(
        home=home,
        raw_cut=home / "raw-asof",
        manifest=home / "simulation.json",
        timeline=reports / "timeline.csv",
        plot=reports / "timeline.png",
        html=reports / "timeline.html",
    )


@contextmanager
def own_tracking_store() -> Iterator[None]:
    """Hide MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI while a replay's registry is used, so it is the SQLite store
    under the simulation home and never a team server."""
    saved = {key: os.environ.pop(key) for key in _MLFLOW_ENV if key in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@dataclass(frozen=True)
class TimelineRow:
    """One replayed month: who served, what monitoring decided and did, and the realised metrics when known."""

    as_of: str  # YYYY-MM-DD
    champion_version: int | None  # the champion monitored at `as_of`
    challenger_version: int | None  # the challenger after acting
    decision: str  # none | retrain | rollback (bootstrap for the first champion's month when not monitored)
    drift_share: float | None
    reasons: str  # "; "-joined
    action: str = ""  # none | retrain | rollback | defer
    action_detail: str = ""
    promoted: str = ""  # "vA -> vB" when the gates promoted the challenger at this month's scoring
    champion_after: int | None = None  # the champion once the month is done
    drifted: bool | None = None
    realised_roc_auc: float | None = None  # the champion's, on the latest matured snapshots after its training data
    realised_pr_auc: float | None = None
    realised_positives: int | None = None
    previous_pr_auc: float | None = None
    challenger_pr_auc: float | None = None
    holdout_pr_auc: float | None = None
    decision_json: str = ""
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values, NaN as None."""
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(self).items()}


#: CSV columns, in order: `as_of, champion_version, challenger_version, decision, drift_share, reasons` first.
TIMELINE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TimelineRow))
_INTS = {"champion_version", "challenger_version", "champion_after", "realised_positives"}
_FLOATS = {
    "drift_share",
    "realised_roc_auc",
    "realised_pr_auc",
    "previous_pr_auc",
    "challenger_pr_auc",
    "holdout_pr_auc",
    "seconds",
}


def month_ends(from_month: str, to_month: str) -> list[date]:
    """Month-end dates of `from_month`..`to_month` (YYYY-MM, inclusive); FeatureError on a bad or reversed range."""
    parse_month(from_month)
    parse_month(to_month)
    return snapshot_dates(from_month, to_month, "month_end")


def month_of(value: str) -> date:
    """The month end of `YYYY-MM`."""
    return month_end(*parse_month(value))


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_timeline(path: Path, rows: Sequence[TimelineRow]) -> Path:
    """Write the timeline CSV atomically, one row per month in as-of order (empty cells for unknown values)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TIMELINE_COLUMNS)
    for row in sorted(rows, key=lambda r: r.as_of):
        values = row.to_dict()
        writer.writerow([_cell(values[c]) for c in TIMELINE_COLUMNS])
    return write_text_atomic(path, buffer.getvalue())


def _parse(column: str, text: str) -> Any:
    if text == "":
        return None if column in _INTS | _FLOATS or column == "drifted" else ""
    if column in _INTS:
        return int(float(text))
    if column in _FLOATS:
        return float(text)
    if column == "drifted":
        return text == "true"
    return text


def read_timeline(path: Path) -> list[TimelineRow]:
    """The rows of a timeline CSV (empty when the file does not exist); unknown columns are ignored."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [
            TimelineRow(**{c: _parse(c, record.get(c) or "") for c in TIMELINE_COLUMNS if c in record})
            for record in reader
        ]
    return sorted(rows, key=lambda r: r.as_of)


_MARKERS = {"retrain": ("^", "tab:orange"), "rollback": ("v", "tab:red"), "defer": ("x", "tab:gray")}


def write_timeline_plot(path: Path, rows: Sequence[TimelineRow], drift_threshold: float | None = None) -> Path:
    """A PNG of the timeline: drift share (with the policy's threshold), the champion's realised PR-AUC and ROC-AUC,
    the champion version as a step line, and a marker per retrain, rollback or deferred action."""
    from matplotlib.figure import Figure

    ordered = sorted(rows, key=lambda r: r.as_of)
    days = pd.to_datetime([r.as_of for r in ordered])
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.4))
    drift = np.array([r.drift_share if r.drift_share is not None else np.nan for r in ordered], dtype=float)
    top.plot(days, drift, "o-", color="tab:blue", label="drift share")
    if drift_threshold is not None:
        top.axhline(drift_threshold, color="tab:blue", linestyle=":", linewidth=1, label="drift threshold")
    for name, color, values in (
        ("realised PR-AUC", "tab:green", [r.realised_pr_auc for r in ordered]),
        ("realised ROC-AUC", "tab:purple", [r.realised_roc_auc for r in ordered]),
        ("previous champion PR-AUC", "tab:brown", [r.previous_pr_auc for r in ordered]),
    ):
        series = np.array([v if v is not None else np.nan for v in values], dtype=float)
        if np.isfinite(series).any():
            top.plot(days, series, "s--", color=color, label=name, markersize=4)
    for kind, (marker, color) in _MARKERS.items():
        hits = [(d, s) for d, s, r in zip(days, drift, ordered, strict=True) if r.action == kind]
        if hits:
            top.scatter(
                [h[0] for h in hits],
                [h[1] if np.isfinite(h[1]) else 0.0 for h in hits],
                marker=marker,
                s=140,
                color=color,
                zorder=5,
                label=kind,
            )
    top.set_ylabel("share / metric")
    top.set_ylim(bottom=0)
    top.legend(loc="upper left", fontsize=8, ncols=3)
    top.set_title("Replay: monitoring decisions per month")
    champions = [r.champion_after if r.champion_after is not None else r.champion_version for r in ordered]
    bottom.step(days, [c if c is not None else np.nan for c in champions], where="post", color="black")
    bottom.set_ylabel("champion version")
    bottom.yaxis.get_major_locator().set_params(integer=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def write_timeline_html(path: Path, rows: Sequence[TimelineRow], png: Path, title: str = "Replay timeline") -> Path:
    """A small self-contained page: the plot and the timeline table, each decision linked to its decision.json by a
    path relative to the page (so the home can be moved as a whole)."""
    ordered = sorted(rows, key=lambda r: r.as_of)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in TIMELINE_COLUMNS if c != "decision_json")
    body = []
    for row in ordered:
        values = row.to_dict()
        cells = []
        for column in TIMELINE_COLUMNS:
            if column == "decision_json":
                continue
            text = html.escape(_cell(values[column]))
            if column == "decision" and row.decision_json:
                href = os.path.relpath(Path(row.decision_json).resolve(), path.parent.resolve())
                text = f'<a href="{html.escape(quote(Path(href).as_posix()))}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        css = f' class="{html.escape(row.action)}"' if row.action in _MARKERS else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; font-size: 12px; }}
td, th {{ border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; }}
tr.retrain {{ background: #fff3e0; }} tr.rollback {{ background: #fdecea; }} tr.defer {{ background: #f2f2f2; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p><img src="{html.escape(png.name)}" alt="timeline plot" style="max-width: 100%"></p>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
</body></html>
"""
    return write_text_atomic(path, page)


def replay_fingerprint(raw_dir: Path, from_month: str, settings_payload: dict[str, Any]) -> str:
    """What a replay depends on: the export (file names, sizes and modification times), the first month and the
    settings that change its results; a resumed replay must match it."""
    files = sorted(p for p in raw_dir.rglob("*") if p.is_file())
    listing = [(str(p.relative_to(raw_dir)), p.stat().st_size, int(p.stat().st_mtime)) for p in files]
    text = json.dumps({"files": listing, "from": from_month, "settings": settings_payload}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def shuffle_labels(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The training frame with its labels permuted within each snapshot (seeded): a model trained on it has
    learnt nothing, which is how a replay forces a degraded champion."""
    out = frame.copy()
    rng = np.random.default_rng(seed)
    labels = out["label"].to_numpy().copy()
    for positions in out.groupby("as_of", sort=True).indices.values():
        labels[positions] = rng.permutation(labels[positions])
    out["label"] = labels
    return out


def cycle_snapshot_dates(settings: Settings, as_of: date) -> list[date]:
    """The snapshot dates one monthly cycle at `as_of` reads: `as_of` (scoring, current drift), the champion's
    reference and matured performance snapshots (monitoring) and the most recent fully labelled ones (gates)."""
    wanted = {as_of}
    with warehouse(settings, read_only=True) as con:
        try:
            wanted.update(labelled_snapshot_dates(con, settings)[-settings.registry.gates.eval_snapshots :])
        except (FeatureError, ValueError):
            logger.info("no labelled snapshot by %s", as_of)
    try:
        plan = plan_check(settings, as_of)
    except MonitoringError as exc:
        logger.info("no monitoring plan at %s: %s", as_of, exc)
    else:
        wanted.update(plan.reference_dates)
        wanted.update(plan.performance_dates)
    return sorted(wanted)
