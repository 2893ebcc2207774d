"""The governance site: one static HTML site under `HOME/reports/` (entry `index.html`) that links, per month,
the data-quality reports, drift reports and decisions, the champion and challenger, the model cards with their
tier, adoption and fairness tables (downloaded from MLflow), promotion verdicts and the audit trail.

Two homes can feed it. The live home (`HOME`) is shown at `index.html` with its pages under `site/`. A replay
(`xsell simulate`) keeps its own home in `HOME/simulation/` (warehouse, MLflow store, reports); when one exists the
index opens with its timeline (`HOME/reports/simulation/timeline.csv`: decision and action per month) and the replay
gets the same pages under `site/replay/` (its index, months, model versions, audit trail), its report files
(data-quality reports, drift reports, decisions, gate verdicts) linked into `site/replay/reports/`, so the site
never points outside `reports/`. Every page links only files that exist.

Offline by construction: no script, font or style is fetched (one inline stylesheet), every link is relative to
the page, so the `reports/` folder can be zipped and moved. The generated pages live in `reports/site/`, replaced
as one folder; `reports/index.html` is written last, atomically, and then every link under `reports/` is checked
(`monitoring.site_links`). Rebuilding from the same state gives the same pages (the build time is shown in the
index only).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitoring.replay import SimulationPaths, TimelineRow, own_tracking_store, read_timeline, simulation_paths
from monitoring.site_links import LinkCheck, check_links
from monitoring.site_models import MODEL_ARTIFACTS, model_page, render_markdown
from monitoring.site_sources import HomeReports, gather_home, relative_file
from xsell import progress
from xsell.fileio import atomic_dir, write_text_atomic
from xsell.settings import Settings

__all__ = ["MODEL_ARTIFACTS", "SiteSummary", "build_site", "render_markdown", "replay_settings"]

logger = logging.getLogger(__name__)

SITE = "site"


@dataclass(frozen=True)
class SiteSummary:
    """What a build wrote: the index, how many pages, the months and model versions covered (live and replay), and
    the link check of `reports/` after the build."""

    index: Path
    pages: int
    months: tuple[str, ...]
    model_versions: tuple[int, ...]
    audit_events: int
    checks: int
    files: tuple[str, ...] = field(default_factory=tuple)  # every file of the site, relative to reports/
    replay_months: tuple[str, ...] = ()  # the replay's timeline months (YYYY-MM), oldest first
    replay_model_versions: tuple[int, ...] = ()
    links: LinkCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the file list and the failing links left out)."""
        return {
            "index": str(self.index),
            "pages": self.pages,
            "months": list(self.months),
            "model_versions": list(self.model_versions),
            "audit_events": self.audit_events,
            "checks": self.checks,
            "replay_months": list(self.replay_months),
            "replay_model_versions": list(self.replay_model_versions),
            "links_checked": self.links.links if self.links else 0,
            "broken_links": len(self.links.broken) if self.links else 0,
        }


@dataclass(frozen=True)
class Section:
    """One home as pages of the site: where its pages and its report files sit, relative to `reports/`."""

    name: str  # "live" | "replay"
    base: str  # its pages: "site/" or "site/replay/"
    files: str  # its report files: "" (reports/ itself) or "site/replay/reports/"
    known: frozenset[int]  # its registered versions (those with a page)
    latest_dq: str | None  # its latest data-quality report, relative to reports/, when it exists


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


# ---- the replay's home ------------------------------------------------------------------------------------------


def replay_settings(settings: Settings) -> Settings | None:
    """The settings of the replay kept in `HOME/simulation/`, or None when no replay has run there."""
    paths = simulation_paths(settings)
    if not (paths.home / "reports").is_dir() and not paths.timeline.is_file():
        return None
    return settings.model_copy(update={"home": paths.home})


def _link_reports(source: Path, target: Path) -> None:
    """Make every file under `source` reachable under `target` (hard links when the file system allows, else
    copies), so the site can link the replay's reports without leaving `reports/`."""
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
        except OSError:
            shutil.copy2(path, destination)


def _timeline(rows: list[TimelineRow], data: HomeReports, section: Section, sim_reports: Path) -> list[dict[str, Any]]:
    """The replay's months for the templates: decision, action and champion, linked to the month page, its drift
    report and decision (as linked into the site)."""
    checks = {c["as_of"]: c for c in data.checks}
    months = set(data.months)
    out = []
    for row in rows:
        check = checks.get(row.as_of, {})
        decision = relative_file(Path(row.decision_json), sim_reports) if row.decision_json else None
        decision = decision or check.get("decision_json")
        out.append(
            {
                **row.to_dict(),
                "month": row.as_of[:7],
                "month_page": f"{section.base}months/{row.as_of[:7]}.html" if row.as_of[:7] in months else None,
                "drift_html": f"{section.files}{check['drift_html']}" if check.get("drift_html") else None,
                "decision_link": f"{section.files}{decision}" if decision else None,
            }
        )
    return out


# ---- assembling the site ----------------------------------------------------------------------------------------


def _up(page: str) -> str:
    """The prefix from a page (relative to reports/) back to reports/."""
    return "../" * page.count("/")


def _section(name: str, base: str, files: str, data: HomeReports, source: Path) -> Section:
    """A home as a section of the site; `source` is its own `reports/` folder (what `files` will lead to)."""
    return Section(
        name=name,
        base=base,
        files=files,
        known=frozenset(v.version for v in data.versions),
        latest_dq=f"{files}data_quality/latest.html" if (source / "data_quality" / "latest.html").is_file() else None,
    )


def _render_home(
    env: Environment, settings: Settings, data: HomeReports, section: Section, out: Path, common: dict[str, Any]
) -> tuple[list[dict[str, Any]], int]:
    """Write a home's model, month and audit pages into `out` (its `section.base` folder); returns the model pages'
    contents and the number of pages written."""
    s = {"s": section, **common}
    models, pages = [], 0
    for info in data.versions:
        folder = out / "models" / f"v{info.version}"
        folder.mkdir(parents=True)
        page = model_page(settings, info, folder)
        page["events"] = [r for r in data.audit if info.version in (r["from_version"], r["to_version"])]
        models.append(page)
        progress.advance("site.pages", description=f"model v{info.version}")
        name = f"{section.base}models/v{info.version}/index.html"
        write_text_atomic(
            folder / "index.html", env.get_template("site_model.html.j2").render(up=_up(name), m=page, **s)
        )
        pages += 1
    replay_rows = common["replay"]["rows"] if common["replay"] and section.name == "replay" else ()
    rows = {r["month"]: r for r in replay_rows}
    for month in data.months:
        name = f"{section.base}months/{month}.html"
        html = env.get_template("site_month.html.j2").render(
            up=_up(name), month=month, replay_row=rows.get(month), **data.month(month), **s
        )
        write_text_atomic(out / "months" / f"{month}.html", html)
        pages += 1
    html = env.get_template("site_audit.html.j2").render(up=_up(f"{section.base}audit.html"), events=data.audit, **s)
    write_text_atomic(out / "audit.html", html)
    return models, pages + 1


def _index_html(
    env: Environment, page: str, data: HomeReports, models: list[dict[str, Any]], section: Section, **context: Any
) -> str:
    """The index of one home (`index.html` for the live one, `site/replay/index.html` for the replay)."""
    return env.get_template("site_index.html.j2").render(
        up=_up(page),
        s=section,
        timeline=[{"month": m, **data.month(m)} for m in data.months],
        models=models,
        champion=next((m for m in models if "champion" in m["aliases"]), None),
        verdicts=data.verdicts,
        audit_count=len(data.audit),
        latest_events=data.audit[-10:][::-1],
        **context,
    )


def _replay_pages(
    env: Environment,
    sim: Settings,
    data: HomeReports,
    paths: SimulationPaths,
    reports: Path,
    out: Path,
    common: dict[str, Any],
) -> int:
    """Link the replay's reports into `out/reports/`, write its pages and index into `out` (`site/replay/`), and
    put what the live index shows of it in `common["replay"]`; returns the number of pages written."""
    _link_reports(sim.reports_dir, out / "reports")
    section = _section("replay", f"{SITE}/replay/", f"{SITE}/replay/reports/", data, sim.reports_dir)
    rows = read_timeline(paths.timeline)
    replay: dict[str, Any] = {
        "s": section,
        "rows": _timeline(rows, data, section, sim.reports_dir),
        "plot": relative_file(paths.plot, reports) if paths.plot.is_file() else None,
        "csv": relative_file(paths.timeline, reports) if rows else None,
        "index": f"{SITE}/replay/index.html",
        "models": [],
    }
    common["replay"] = replay
    with own_tracking_store():
        replay["models"], pages = _render_home(env, sim, data, section, out, common)
    html = _index_html(env, replay["index"], data, replay["models"], section, heading="Replay", **common)
    write_text_atomic(out / "index.html", html)
    return pages + 1


def build_site(settings: Settings) -> SiteSummary:
    """Write `reports/index.html` and `reports/site/` from every report, model version and audit event that exists
    now, in the live home and in the replay's; idempotent (a rebuild replaces the whole site)."""
    reports = settings.reports_dir
    reports.mkdir(parents=True, exist_ok=True)
    with progress.step("site.gather", "reading reports, model versions and audit events"):
        live = gather_home(settings)
        sim = replay_settings(settings)
        replay: HomeReports | None = None
        if sim is not None:
            with own_tracking_store():
                replay = gather_home(sim)
    env = _env()
    section = _section("live", f"{SITE}/", "", live, reports)
    common: dict[str, Any] = {
        "model_name": settings.registry.model_name,
        "replay": None,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "home": str(settings.home),
    }
    pages = 0
    with progress.step("site.pages", "writing the governance site pages"), atomic_dir(reports / SITE) as tmp:
        if sim is not None and replay is not None:
            pages += _replay_pages(env, sim, replay, simulation_paths(settings), reports, tmp / "replay", common)
        models, written = _render_home(env, settings, live, section, tmp, common)
        pages += written
        site_files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    html = _index_html(env, "index.html", live, models, section, heading="Governance index", **common)
    index = write_text_atomic(reports / "index.html", html)
    pages += 1
    with progress.step("site.links", "checking the site's links"):
        links = check_links(reports)
    if not links.ok:
        failing = (*links.broken, *links.external, *links.absolute)
        logger.warning("governance site: %d links fail the check under %s, e.g. %s", len(failing), reports, failing[0])
    summary = SiteSummary(
        index=index,
        pages=pages,
        months=tuple(live.months),
        model_versions=tuple(sorted(v.version for v in live.versions)),
        audit_events=len(live.audit),
        checks=len(live.checks),
        files=("index.html", *(f"{SITE}/{f}" for f in site_files)),
        replay_months=tuple(r["month"] for r in common["replay"]["rows"]) if common["replay"] else (),
        replay_model_versions=tuple(sorted(v.version for v in replay.versions)) if replay else (),
        links=links,
    )
    logger.info(
        "governance site: %d pages, %d months, %d model versions; replay: %d months, %d model versions; "
        "%d links checked, %d broken",
        pages,
        len(summary.months),
        len(summary.model_versions),
        len(summary.replay_months),
        len(summary.replay_model_versions),
        links.links,
        len(links.broken),
    )
    return summary
