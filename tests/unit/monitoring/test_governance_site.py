"""The governance site on a small real home: a consolidated export (data-quality report), a registered model
version whose run holds a model card, tier table and segment metrics, its registration in the audit trail, a
monitoring decision and a shadow run; every link of every page resolves inside `reports/`, nothing points at the
network, and a rebuild gives the same site. (The demo test builds the site after real training and monitoring.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest
from factories import quiet_env, write_raw

from ingest.pipeline import consolidate_raw
from monitoring.check import CheckPlan, monitoring_dir, record_decision
from monitoring.governance_site import SiteSummary, build_site, render_markdown
from monitoring.model_refs import ModelRef
from monitoring.site_links import check_links
from registry.audit import record_registration
from registry.models import RegisteredModel
from registry.tracking import configure_tracking
from tests.unit.monitoring.factories import drift_result
from tests.unit.registry.governance import insert_shadow_runs
from xsell.settings import Settings, load_settings

CHECKED = date(2026, 3, 31)
TIER_TABLE = "| product | tier | rows |\n|---|---|---|\n| analytics | ready_now | 12 |\n"
CARD = "# xsell-propensity v1\n\nTrained for the site test.\n\n" + TIER_TABLE
SEGMENTS = "model,segment,rows,positives,roc_auc,pr_auc\nxsell,smb,120,14,0.71,0.33\nxsell,enterprise,80,9,0.69,0.3\n"
LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)

Home = tuple[Settings, RegisteredModel, SiteSummary]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    # given a consolidated export, a registered model (card, tier table, segment metrics), its audit record,
    # a monitoring decision at 2026-03-31 and a shadow run that day
    root = tmp_path_factory.mktemp("governance-site")
    with quiet_env():
        settings = load_settings(home=root / "home", **{"ingest.duckdb_memory_limit": "1GB"})
        consolidate_raw(write_raw(root / "raw"), settings)
        registered = _register_version(settings)
        record_registration(settings, registered, "unit: site")
        out_dir = monitoring_dir(settings) / CHECKED.isoformat()
        drift = drift_result(share=0.3)
        html = out_dir / "drift.html"
        html.parent.mkdir(parents=True)
        html.write_text("<html><body>drift</body></html>", encoding="utf-8")
        drift = type(drift)(**{**drift.__dict__, "html_path": str(html)})
        champion = ModelRef("champion", registered.version, registered.model_uri, registered.run_id, None, None)
        plan = CheckPlan(CHECKED, date(2024, 1, 1), CHECKED, champion, None, None, (), (), out_dir)
        record_decision(settings, plan, drift, None)
        insert_shadow_runs(settings, challenger=registered.version, champion=registered.version, days=[CHECKED])
        # when the site is built
        summary = build_site(settings)
        yield settings, registered, summary


def _register_version(settings: Settings) -> RegisteredModel:
    """A version registered through the MLflow client, its run holding the artifacts a training logs."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    run = client.create_run(configure_tracking(settings), tags={"xsell.kind": "training"})
    run_id = run.info.run_id
    for text, artifact in (
        (CARD, "model_card.md"),
        (TIER_TABLE, "tiers/tier_table.md"),
        (SEGMENTS, "evaluation/segment_metrics.csv"),
    ):
        client.log_text(run_id, text, artifact)
    client.set_terminated(run_id)
    name = settings.registry.model_name
    client.create_registered_model(name)
    tags = {"data_window": "2025-01-31..2025-12-31", "reason": "unit: site", "metric.pr_auc": "0.31"}
    version = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run_id, tags=tags)
    client.set_registered_model_alias(name, settings.registry.champion_alias, version.version)
    return RegisteredModel(name, int(version.version), run_id, f"models:/{name}/{version.version}", ("champion",))


def _pages(reports: Path) -> list[Path]:
    return [reports / "index.html", *sorted((reports / "site").rglob("*.html"))]


def test_every_link_resolves_to_a_file_under_reports_and_none_leaves_it(home: Home) -> None:
    settings, _, summary = home
    reports = settings.reports_dir.resolve()
    assert summary.index == settings.reports_dir / "index.html"
    checked = 0
    for page in _pages(reports):
        text = page.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, page
        for link in LINK.findall(text):
            target = unquote(link.split("#", 1)[0])
            if not target:
                continue
            assert not target.startswith(("/", "file:", "data:")), f"{page}: {link}"
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(reports), f"{page}: {link} leaves reports/"
            assert resolved.is_file(), f"{page}: {link} does not resolve"
            checked += 1
    assert checked > 20
    # and the walk of every page under reports/ (the data-quality and drift pages too) agrees, as the build's own
    walk = check_links(reports)
    assert walk.ok and walk.outside == () and walk.links >= checked and walk.pages > len(_pages(reports)), walk
    assert summary.links == walk and summary.to_dict()["broken_links"] == 0


def test_index_links_the_month_reports_model_card_and_audit_trail(home: Home) -> None:
    settings, registered, summary = home
    index = (settings.reports_dir / "index.html").read_text(encoding="utf-8")
    # then the month of the check and of the data links its data-quality report, drift report and decision
    assert summary.months == ("2026-03",) and summary.checks == 1
    assert 'href="site/months/2026-03.html"' in index
    assert 'href="data_quality/history/' in index
    assert f'href="monitoring/{CHECKED}/drift.html"' in index and f'href="monitoring/{CHECKED}/decision.json"' in index
    # and the model version's page holds the rendered card, tier table and fairness table from MLflow
    folder = settings.reports_dir / "site" / "models" / f"v{registered.version}"
    assert f'href="site/models/v{registered.version}/index.html"' in index
    assert (folder / "model_card.md").is_file() and (folder / "tiers" / "tier_table.md").is_file()
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "<h1>" in page and "<td>ready_now</td>" in page and 'id="fairness"' in page and "<td>smb</td>" in page
    # and the audit trail shows the registration, linked from the model page
    audit = (settings.reports_dir / "site" / "audit.html").read_text(encoding="utf-8")
    assert summary.audit_events >= 1 and "register" in audit and "unit: site" in audit
    assert 'site/audit.html#event-1"' in page
    month = (settings.reports_dir / "site" / "months" / "2026-03.html").read_text(encoding="utf-8")
    assert "Check at 2026-03-31" in month and "Shadow scoring" in month and ("retrain" in month or "none" in month)


def test_a_rebuild_gives_the_same_site(home: Home) -> None:
    settings, _, first = home
    before = {f: (settings.reports_dir / f).read_bytes() for f in first.files if f != "index.html"}
    # when built again from the same state
    second = build_site(settings)
    # then the same files hold the same bytes (the index differs only in its build time)
    assert second.files == first.files
    assert {f: (settings.reports_dir / f).read_bytes() for f in second.files if f != "index.html"} == before
    assert not list(settings.reports_dir.glob(".site.*"))


def test_an_empty_home_gives_an_index_that_says_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(home=tmp_path / "home")
    summary = build_site(settings)
    text = summary.index.read_text(encoding="utf-8")
    assert summary.months == () and summary.model_versions == () and "No report yet" in text
    # and links no page that does not exist (no data-quality report yet, no replay)
    assert "data_quality/latest.html" not in text and "site/replay/" not in text
    assert summary.links is not None and summary.links.ok and summary.replay_months == ()
    assert not (settings.home / "mlflow.db").exists() and not settings.warehouse_path.exists()


def test_markdown_is_rendered_with_tables_and_raw_html_escaped() -> None:
    html = render_markdown("# Card\n\n" + TIER_TABLE + "\n<script>alert(1)</script>\n")
    assert "<h1>Card</h1>" in html and "<td>ready_now</td>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
