"""`xsell simulate` on a tiny generated export over four months: a champion trained at the first month, a degraded
model forced to champion at the third, rolled back by the next monitoring decision; the timeline, its plot and
page, the audit trail with the decision as evidence, a rerun that resumes with nothing left to do, and the governance
site built by `xsell report` after it: the replay's months, models and decisions, every link of it resolving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import run_xsell

from monitoring.check import history_path
from monitoring.history import read_history
from monitoring.replay import TIMELINE_COLUMNS, read_timeline
from monitoring.site_links import check_links
from registry.audit import read_events
from synth import generate_raw
from xsell.settings import load_settings

pytestmark = pytest.mark.slow

ENV = {
    "XSELL_INGEST__GATE__ENABLED": "false",
    "XSELL_INGEST__DUCKDB_MEMORY_LIMIT": "1GB",
    "XSELL_TRAINING__N_SEEDS": "1",
    "XSELL_TRAINING__N_JOBS": "1",
    "XSELL_TRAINING__NUM_THREADS": "2",
    # 200 accounts give ~5 positives per snapshot: act on realised metrics from 3 positives at this scale
    "XSELL_MONITORING__POLICY__MIN_POSITIVES": "3",
}


def test_simulate_replays_months_rolls_back_a_forced_bad_champion_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    # given a tiny generated export (200 accounts, 2024-01..2025-12) and a quiet environment
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(key, raising=False)
    raw = tmp_path / "raw"
    generate_raw(raw, load_settings(**{"generator.accounts": 200, "generator.end": "2025-12"}).generator, seed=7)
    home = tmp_path / "home"
    args = ("simulate", "--raw", str(raw), "--from", "2025-03", "--to", "2025-06", "--trials", "2")
    # when replayed with a degraded champion forced at 2025-05
    done = run_xsell(*args, "--degrade-at", "2025-05", home=home, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    # then the timeline has one row per month, the columns first, with its plot and page
    timeline = home / "reports" / "simulation" / "timeline.csv"
    rows = read_timeline(timeline)
    assert [r.as_of for r in rows] == ["2025-03-31", "2025-04-30", "2025-05-31", "2025-06-30"]
    assert timeline.read_text().splitlines()[0].split(",") == list(TIMELINE_COLUMNS)
    assert (timeline.parent / "timeline.png").stat().st_size > 0
    assert "timeline.png" in (timeline.parent / "timeline.html").read_text()
    first, forced, after = rows[0], rows[2], rows[3]
    assert first.champion_version == 1 and forced.champion_version == 2  # v2: trained on permuted labels
    assert "forced degraded v2" in forced.action_detail
    # and the next monitoring decision rolls the degraded champion back to v1, audited with the decision
    assert after.decision == "rollback" and after.action == "rollback" and after.champion_after == 1, after
    assert after.previous_pr_auc is not None and after.realised_pr_auc is not None
    assert after.realised_pr_auc < after.previous_pr_auc
    decision = json.loads(Path(after.decision_json).read_text())
    assert decision["decision"] == "rollback"
    sim = load_settings(home=home / "simulation")
    events = read_events(sim)
    assert [e.action for e in events if e.action in ("promote", "rollback")] == ["promote", "rollback"]
    rollback = next(e for e in events if e.action == "rollback")
    assert rollback.evidence["decision_json"] == after.decision_json and rollback.to_version == 1
    assert rollback.actor == "xsell monitor"
    # and the checks history notes what was done about each check
    actions = {r.as_of: r.action for r in read_history(history_path(sim))}
    assert actions[after.as_of] == "rollback" and set(actions.values()) <= {"none", "retrain", "rollback", "defer"}
    assert not (home / "warehouse.duckdb").exists()  # the main home's warehouse is never touched
    # when rerun with the same export, range start and settings, it resumes: nothing is left to do
    again = run_xsell(*args, "--degrade-at", "2025-05", home=home, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["months_run"] == []
    assert read_timeline(timeline) == rows
    # when the governance site is built after the replay
    report = run_xsell("report", home=home, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    site = json.loads(report.stdout)
    # then it shows the replay's months, its model versions (with their cards) and each month's decision
    assert site["replay_months"] == ["2025-03", "2025-04", "2025-05", "2025-06"]
    assert site["replay_model_versions"][:2] == [1, 2]
    reports = home / "reports"
    index = (reports / "index.html").read_text(encoding="utf-8")
    for r in rows:
        month = r.as_of[:7]
        assert f'href="site/replay/months/{month}.html"' in index
        assert f'href="site/replay/reports/monitoring/{r.as_of}/decision.json"' in index
        assert f'href="site/replay/reports/monitoring/{r.as_of}/drift.html"' in index
    for version in site["replay_model_versions"]:
        assert f'href="site/replay/models/v{version}/index.html#card"' in index
        assert (reports / "site" / "replay" / "models" / f"v{version}" / "model_card.md").is_file()
    assert "rollback" in (reports / "site" / "replay" / "months" / "2025-06.html").read_text(encoding="utf-8")
    # and a walk of every page under reports/ follows every link: none broken, external or absolute
    walk = check_links(reports)
    assert walk.ok, (walk.broken, walk.external, walk.absolute)
    assert site["links_checked"] == walk.links and site["broken_links"] == 0 and walk.pages >= 20
    assert {link.split(" -> ")[0] for link in walk.outside} <= {"simulation/timeline.html"}
    print(f"site after the replay: {walk.pages} pages, {walk.links} links checked, {len(walk.broken)} broken")
