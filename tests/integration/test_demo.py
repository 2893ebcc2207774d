"""`xsell demo` end to end on a small export: every stage runs and leaves its outputs where it says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from factories import run_xsell

from flows.demo import STEPS
from tests.unit.registry.factories import QUIET

pytestmark = pytest.mark.slow


def test_demo_runs_the_platform_and_points_at_its_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a clean environment and a small world (two years, quality gate off for so few accounts)
    for key, value in QUIET.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("XSELL_GENERATOR__START", "2024-01")
    monkeypatch.setenv("XSELL_GENERATOR__END", "2025-12")
    monkeypatch.setenv("XSELL_INGEST__GATE__ENABLED", "false")
    home = tmp_path / "home"

    # when the demo runs
    done = run_xsell("demo", "--accounts", "250", "--trials", "3", home=home, timeout=900)

    # then it succeeds and every output it lists exists
    assert done.returncode == 0, done.stderr[-3000:]
    scores = sorted((home / "scores").glob("scores-????-??-??.csv"))
    assert len(scores) == 1
    frame = pd.read_csv(scores[0])
    assert list(frame.columns[:4]) == ["account_id", "product", "as_of", "propensity"]
    assert set(frame["tier"]) <= {"ready_now", "building", "not_ready"} and len(frame) > 0
    assert scores[0].with_name(scores[0].stem + ".crm.jsonl").is_file()
    assert "demo outputs" in done.stderr and "MLflow UI" in done.stderr
    # and the closing summary times every step the flow ran, under the names and in the order of `STEPS`
    table = done.stderr.split("step times", 1)[1].split("demo outputs", 1)[0]
    timed = [m.group(1).strip() for m in re.finditer(r"^\s+(\D+?)\s+[\d.]+ s", table, re.MULTILINE)]
    assert timed[: len(STEPS)] == list(STEPS) and timed[len(STEPS)] == "start-up, other", timed
    # and two trainings left a champion (as of three months earlier) and a challenger scored in shadow
    status = run_xsell("registry", "status", "--json", home=home)
    assert status.returncode == 0, status.stderr[-2000:]
    versions = json.loads(status.stdout)
    assert versions["champion"] == 1 and versions["challenger"] == 2
    assert "in shadow" in done.stderr
    # and the champion was monitored at the scored date, and the governance site links its outputs offline
    as_of = scores[0].stem.removeprefix("scores-")
    decision = json.loads((home / "reports" / "monitoring" / as_of / "decision.json").read_text())
    assert decision["decision"] in ("none", "retrain", "rollback") and decision["champion_version"] == 1
    index = home / "reports" / "index.html"
    listed = done.stderr.replace("\n", "")  # the console wraps long lines
    assert index.is_file() and "reports index" in listed and str(index) in listed
    text = index.read_text(encoding="utf-8")
    assert f'href="monitoring/{as_of}/drift.html"' in text and 'href="data_quality/history/' in text
    for version in (1, 2):
        card = home / "reports" / "site" / "models" / f"v{version}"
        assert f'href="site/models/v{version}/index.html"' in text and (card / "model_card.md").is_file()
        assert (card / "tiers" / "tier_table.md").is_file() and (card / "evaluation" / "segment_metrics.csv").is_file()
    pages = [index, *(home / "reports" / "site").rglob("*.html")]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "http://" not in html and "https://" not in html, page
        for link in re.findall(r'(?:href|src)="([^"#]+)', html):
            assert (page.parent / link).resolve().is_file(), f"{page}: {link}"
