"""The replay timeline: CSV round trip, plot and page, month grid, permuted labels, resume or start clean."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.errors import FeatureError
from flows.simulate import prepare_home, simulation_paths
from monitoring.replay import (
    TIMELINE_COLUMNS,
    TimelineRow,
    month_ends,
    read_timeline,
    shuffle_labels,
    write_timeline,
    write_timeline_html,
    write_timeline_plot,
)
from xsell.settings import Settings


def row(as_of: str, decision: str = "none", action: str = "none", **over: object) -> TimelineRow:
    values: dict[str, object] = {
        "as_of": as_of,
        "champion_version": 1,
        "challenger_version": None,
        "decision": decision,
        "drift_share": 0.1,
        "reasons": "no drift: share 0.10 below 0.20",
        "action": action,
    }
    return TimelineRow(**(values | over))  # type: ignore[arg-type]


ROWS = [
    row("2025-02-28", realised_pr_auc=0.31, realised_positives=40, drifted=False),
    row("2025-01-31"),
    row("2025-03-31", "retrain", "retrain", drift_share=0.35, challenger_version=2, reasons="drift; floor, a, b"),
]


def test_timeline_csv_round_trips_in_as_of_order(tmp_path: Path) -> None:
    path = write_timeline(tmp_path / "timeline.csv", ROWS)
    header = path.read_text().splitlines()[0].split(",")
    # the columns come first, in order
    assert header[:6] == ["as_of", "champion_version", "challenger_version", "decision", "drift_share", "reasons"]
    assert tuple(header) == TIMELINE_COLUMNS
    back = read_timeline(path)
    assert [r.as_of for r in back] == ["2025-01-31", "2025-02-28", "2025-03-31"]
    assert back == sorted(ROWS, key=lambda r: r.as_of)  # values survive, commas in reasons included
    frame = pd.read_csv(path)
    assert frame["challenger_version"].isna().tolist() == [True, True, False]


def test_missing_timeline_reads_empty(tmp_path: Path) -> None:
    assert read_timeline(tmp_path / "none.csv") == []


def test_plot_and_page(tmp_path: Path) -> None:
    png = write_timeline_plot(tmp_path / "timeline.png", ROWS, drift_threshold=0.2)
    page = write_timeline_html(tmp_path / "timeline.html", ROWS, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert 'src="timeline.png"' in text and text.count("<tr") == 1 + len(ROWS)
    assert '<tr class="retrain">' in text


def test_page_links_each_decision_relative_to_itself(tmp_path: Path) -> None:
    # given a month whose decision lies in the replay's own home, beside the reports folder of the page
    decision = tmp_path / "home" / "simulation" / "reports" / "monitoring" / "2025-03-31" / "decision.json"
    decision.parent.mkdir(parents=True)
    decision.write_text("{}")
    rows = [row("2025-03-31", decision_json=str(decision))]
    page_dir = tmp_path / "home" / "reports" / "simulation"
    # when the page is written
    page = write_timeline_html(page_dir / "timeline.html", rows, page_dir / "timeline.png")
    # then the decision is linked by a relative path that resolves from the page, never by a file:// URI
    text = page.read_text()
    assert 'href="../../simulation/reports/monitoring/2025-03-31/decision.json"' in text and "file:" not in text


def test_month_ends() -> None:
    assert month_ends("2024-11", "2025-02") == [
        date(2024, 11, 30),
        date(2024, 12, 31),
        date(2025, 1, 31),
        date(2025, 2, 28),
    ]
    with pytest.raises(FeatureError):
        month_ends("2025-03", "2025-01")
    with pytest.raises(FeatureError):
        month_ends("2025-3", "2025-04")


def test_shuffle_labels_permutes_within_each_snapshot() -> None:
    frame = pd.DataFrame({"as_of": [1] * 50 + [2] * 50, "label": [1] * 10 + [0] * 40 + [1] * 3 + [0] * 47})
    shuffled = shuffle_labels(frame, seed=7)
    assert shuffled.groupby("as_of")["label"].sum().tolist() == [10, 3]  # same positives per snapshot
    assert not shuffled["label"].equals(frame["label"])
    assert shuffle_labels(frame, seed=7)["label"].equals(shuffled["label"])  # seeded
    assert frame["label"].iloc[:10].eq(1).all()  # input untouched


def test_prepare_home_resumes_a_matching_replay_and_else_starts_clean(settings: Settings) -> None:
    paths = simulation_paths(settings)
    # given a replay that finished two months
    assert prepare_home(paths, "abc", fresh=False) == []
    (paths.home / "warehouse.duckdb").write_text("state")
    write_timeline(paths.timeline, ROWS[:2])
    # when rerun with the same fingerprint, it resumes with the finished months
    assert [r.as_of for r in prepare_home(paths, "abc", fresh=False)] == ["2025-01-31", "2025-02-28"]
    assert (paths.home / "warehouse.duckdb").exists()
    # when the export or settings changed, or fresh is asked, it starts clean
    assert prepare_home(paths, "other", fresh=False) == []
    assert not (paths.home / "warehouse.duckdb").exists() and not paths.timeline.exists()
    write_timeline(paths.timeline, ROWS[:1])
    assert prepare_home(paths, "other", fresh=True) == []
