"""The governance site of a home that holds a replay, hand-built as `xsell simulate` leaves it (its own reports under
`HOME/simulation/reports/`, the timeline under `HOME/reports/simulation/`), with no live report: the index shows the
replayed months, decisions and drift reports, the replay gets its own pages, and every link resolves inside
`reports/`. (The slow `tests/integration/test_simulate.py` builds the site of a real replay.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from monitoring.governance_site import SiteSummary, build_site, replay_settings
from monitoring.replay import TimelineRow, write_timeline, write_timeline_html, write_timeline_plot
from monitoring.site_links import check_links
from xsell.settings import Settings, load_settings

MONTHS = {"2025-03-31": "none", "2025-04-30": "retrain"}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _replay_home(root: Path) -> Settings:
    """A home after a two-month replay: per month a load's data-quality report and a check's decision and drift
    report in the replay's reports, and the timeline (CSV, plot, page) in the home's."""
    settings = load_settings(home=root / "home")
    sim = settings.home / "simulation" / "reports"
    rows = []
    for as_of, decision in MONTHS.items():
        run_id = f"run-{as_of}"
        report = {"run_id": run_id, "data_end": as_of, "generated_at": f"{as_of}T23:00:00Z", "gate": {"enabled": False}}
        _write(sim / "data_quality" / "history" / f"{run_id}.json", json.dumps(report))
        _write(sim / "data_quality" / "history" / f"{run_id}.html", "<html><body>data quality</body></html>")
        _write(sim / "data_quality" / "latest.html", "<html><body>latest data quality</body></html>")
        folder = sim / "monitoring" / as_of
        check = {"as_of": as_of, "decision": decision, "reasons": ["drift share 0.30"], "drift_share": 0.3}
        _write(folder / "decision.json", json.dumps(check))
        _write(folder / "drift.html", "<html><body><script>var u = 'https://cdn.example/x.js';</script></body></html>")
        rows.append(
            TimelineRow(
                as_of=as_of,
                champion_version=1,
                challenger_version=2 if decision == "retrain" else None,
                decision=decision,
                drift_share=0.3,
                reasons="drift share 0.30",
                action=decision,
                action_detail="trained v2" if decision == "retrain" else "nothing to do",
                decision_json=str(folder / "decision.json"),
            )
        )
    timeline = settings.reports_dir / "simulation"
    write_timeline(timeline / "timeline.csv", rows)
    write_timeline_html(timeline / "timeline.html", rows, write_timeline_plot(timeline / "timeline.png", rows, 0.2))
    return settings


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, SiteSummary]:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = _replay_home(tmp_path)
    return settings, build_site(settings)


def test_the_index_shows_the_replay_months_decisions_and_drift_reports(built: tuple[Settings, SiteSummary]) -> None:
    settings, summary = built
    reports = settings.reports_dir
    index = (reports / "index.html").read_text(encoding="utf-8")
    # then the summary names the replayed months, and the index links each month, its drift report and decision
    assert summary.replay_months == ("2025-03", "2025-04") and summary.months == ()
    assert 'href="site/replay/index.html"' in index and 'src="simulation/timeline.png"' in index
    for as_of in MONTHS:
        assert f'href="site/replay/months/{as_of[:7]}.html"' in index
        assert f'href="site/replay/reports/monitoring/{as_of}/drift.html"' in index
        assert f'href="site/replay/reports/monitoring/{as_of}/decision.json"' in index
    assert "trained v2" in index and 'class="retrain"' in index
    # and the replay's month page says what was decided and done, with its data-quality report
    month = (reports / "site" / "replay" / "months" / "2025-04.html").read_text(encoding="utf-8")
    assert "Replayed as of 2025-04-30" in month and "trained v2" in month
    assert 'href="../../../site/replay/reports/data_quality/history/run-2025-04-30.html"' in month
    # and the replay's report files sit inside reports/, so the site never points outside it
    assert (reports / "site" / "replay" / "reports" / "monitoring" / "2025-04-30" / "drift.html").is_file()


def test_only_existing_files_are_linked_and_every_link_resolves(built: tuple[Settings, SiteSummary]) -> None:
    settings, summary = built
    reports = settings.reports_dir
    # then the live home, which has no data-quality report, links none (the replay's pages link the replay's)
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert "data_quality/latest.html" not in index
    replay_index = (reports / "site" / "replay" / "index.html").read_text(encoding="utf-8")
    assert 'href="../../site/replay/reports/data_quality/latest.html"' in replay_index
    # and a walk of every page under reports/ finds no broken, external or absolute link
    walk = check_links(reports)
    assert walk.ok and walk.pages >= 10 and walk.links >= 40, walk
    assert summary.links == walk
    # and only the replay's own timeline page links outside reports/: to the decisions in the replay's home
    assert {link.split(" -> ")[0] for link in walk.outside} == {"simulation/timeline.html"}


def test_a_moved_site_keeps_its_links(built: tuple[Settings, SiteSummary], tmp_path: Path) -> None:
    settings, _ = built
    moved = shutil.copytree(settings.reports_dir, tmp_path / "moved" / "reports")
    walk = check_links(moved)
    # then every page of the governance site still resolves (the timeline page points into the home it left)
    assert not [link for link in walk.broken if not link.startswith("simulation/timeline.html")], walk.broken
    assert walk.external == walk.absolute == ()


def test_a_missing_drift_report_is_not_linked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = _replay_home(tmp_path)
    # given a replayed month whose drift report was removed
    (settings.home / "simulation" / "reports" / "monitoring" / "2025-03-31" / "drift.html").unlink()
    # when the site is built
    summary = build_site(settings)
    index = summary.index.read_text(encoding="utf-8")
    # then that month links its decision but no drift report, and still no link is broken
    assert "site/replay/reports/monitoring/2025-03-31/drift.html" not in index
    assert 'href="site/replay/reports/monitoring/2025-03-31/decision.json"' in index
    assert summary.links is not None and summary.links.ok and summary.to_dict()["broken_links"] == 0


def test_a_replay_stopped_before_its_first_month_shows_no_month(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(home=tmp_path / "home")
    assert replay_settings(settings) is None
    # given a replay home with no finished month
    (settings.home / "simulation" / "reports").mkdir(parents=True)
    # when built
    summary = build_site(settings)
    # then the index says so, and links nothing that does not exist
    assert summary.replay_months == () and "No replayed month finished yet" in summary.index.read_text()
    assert summary.links is not None and summary.links.ok
    assert not (settings.home / "simulation" / "mlflow.db").exists()


def test_a_rebuild_gives_the_same_replay_pages(built: tuple[Settings, SiteSummary]) -> None:
    settings, first = built
    # the two index pages say when the site was built (to the second): a rebuild may fall in the next second
    stamped = {"index.html", "site/replay/index.html"}

    def unstamped(page: str) -> list[str]:
        lines = (settings.reports_dir / page).read_text(encoding="utf-8").splitlines()
        assert sum(line.startswith('<p class="muted">Built ') for line in lines) == 1
        return [line for line in lines if not line.startswith('<p class="muted">Built ')]

    before = {f: (settings.reports_dir / f).read_bytes() for f in first.files if f not in stamped}
    indexes = {page: unstamped(page) for page in stamped}
    second = build_site(settings)
    assert second.files == first.files and len(first.files) > 10
    assert {f: (settings.reports_dir / f).read_bytes() for f in second.files if f not in stamped} == before
    assert {page: unstamped(page) for page in stamped} == indexes
