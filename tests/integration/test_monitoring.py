"""`xsell monitor` on a tiny generated home: a champion trained as of 2025-03-31 is checked at later dates; the
Evidently reports, decision.json, the history and the MLflow attachments are checked, reruns count once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from factories import generated_home, run_xsell
from mlflow import MlflowClient

from features.store import connect_warehouse
from monitoring.check import history_path, monitoring_dir, run_check
from monitoring.errors import MonitoringError
from monitoring.history import read_history
from monitoring.reference import reference_dir
from registry.log_training import log_training
from registry.models import RegisteredModel
from training.dataset import load_training_frame
from training.pipeline import train_propensity
from xsell.settings import Settings

pytestmark = pytest.mark.slow

TRAINED_AS_OF = date(2025, 3, 31)  # training data end 2024-12-31 (90-day horizon)
FIRST = date(2025, 4, 30)
LATER = date(2025, 9, 30)  # 2025-04-30 .. 2025-06-30 have matured labels by then
DECISION_KEYS = {"as_of", "decision", "reasons", "drift_share", "drifted_features", "metrics", "report_html"}

Home = tuple[Settings, RegisteredModel]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    # given a tiny generated export and a champion trained as of 2025-03-31 (2 trials, one seed)
    overrides = {"training.trials": 2, "training.n_jobs": 1, "training.num_threads": 2, "training.n_seeds": 1}
    with generated_home(tmp_path_factory.mktemp("monitoring"), **overrides) as settings:
        con = connect_warehouse(settings)
        try:
            frame = load_training_frame(con, settings, TRAINED_AS_OF)
        finally:
            con.close()
        champion = log_training(train_propensity(frame, settings), settings, reason="integration: monitoring")
        yield settings, champion


def test_xsell_monitor_writes_reports_decision_and_attachments(home: Home) -> None:
    settings, champion = home
    # when monitored through the command line
    done = run_xsell("monitor", "--as-of", FIRST.isoformat(), home=settings.home, timeout=400)
    assert done.returncode == 0, done.stderr
    # then the reports and the decision are under reports/monitoring/<as_of>/
    folder = monitoring_dir(settings) / FIRST.isoformat()
    decision = json.loads((folder / "decision.json").read_text())
    assert set(decision) >= DECISION_KEYS and decision["decision"] in ("none", "retrain", "rollback")
    assert decision["as_of"] == FIRST.isoformat() and decision["champion_version"] == champion.version
    assert Path(decision["report_html"]) == folder / "drift.html" and (folder / "drift.json").is_file()
    assert 0 <= decision["drift_share"] <= 1 and set(decision["drifted_features"]) <= set(decision["drift"]["columns"])
    assert decision["plan"]["reference_dates"][-1] == "2024-12-31" and len(decision["plan"]["reference_dates"]) == 6
    assert decision["metrics"]["prediction_drift"]["method"] == "wasserstein"
    assert decision["metrics"]["realised"] is None  # no snapshot after the training data has matured by 2025-04-30
    assert "months_to_fiscal_year_start" not in decision["drift"]["columns"]  # calendar feature excluded
    sample = decision["drift"]["extra"]["sample"]
    assert sample["sample_rows"] == settings.monitoring.drift.sample_rows and sample["reason"]
    assert sample["reference_rows"] == min(sample["reference_total"], sample["sample_rows"])
    assert decision["drift"]["reference_rows"] == sample["reference_rows"]
    printed = json.loads(done.stdout)
    assert printed["decision"] == decision["decision"] and printed["report_html"] == decision["report_html"]
    # and attached to the champion's MLflow run
    client = MlflowClient(tracking_uri=settings.mlflow_uri)
    attached = {a.path for a in client.list_artifacts(champion.run_id, f"monitoring/{FIRST.isoformat()}")}
    assert {f"monitoring/{FIRST.isoformat()}/{name}" for name in ("drift.html", "decision.json")} <= attached
    assert client.get_run(champion.run_id).data.tags["monitoring.last_decision"] == decision["decision"]


def test_rerun_counts_once_and_later_check_has_realised_metrics(home: Home) -> None:
    settings, champion = home
    first = run_check(settings, FIRST)
    again = run_check(settings, FIRST)  # a rerun of the same date replaces its record
    later = run_check(settings, LATER)
    # the champion's reference was built once (by the first check of this version) and read by every later check
    assert all(d.extra["drift"]["extra"]["reference_cached"] for d in (again, later))
    assert len(list(reference_dir(settings).glob(f"*-v{champion.version}-*.parquet"))) == 1
    assert again.drift_share == first.drift_share and again.drifted_features == first.drifted_features
    assert [r.as_of for r in read_history(history_path(settings))].count(FIRST.isoformat()) == 1
    assert later.window == 2  # this check and the one at FIRST
    realised = later.metrics["realised"]
    assert realised["snapshots"] == ["2025-04-30", "2025-05-31", "2025-06-30"]
    assert realised["out_of_sample"] is True  # labelled after the training labels (to 2025-03-31) ended
    assert realised["champion"]["version"] == champion.version and realised["champion"]["rows"] > 0
    assert 0.5 <= realised["champion"]["roc_auc"] <= 1
    assert realised["challenger"] is None  # the only version is both champion and challenger
    performance = json.loads((monitoring_dir(settings) / LATER.isoformat() / "performance.json").read_text())
    assert performance["performance"]["champion"] == realised["champion"]


def test_as_of_outside_the_data_is_named(home: Home) -> None:
    settings, _ = home
    with pytest.raises(MonitoringError, match=r"as-of date 2027-01-31 is outside the data \(2024-01-01"):
        run_check(settings, date(2027, 1, 31))
