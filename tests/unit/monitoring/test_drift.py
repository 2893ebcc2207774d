"""The Evidently wrapper on synthetic frames: no drift stays low, shifted numeric and categorical columns drift,
the report is written as HTML and JSON, and bad input fails naming the problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import MISSING, DriftResult, compare_frames, prepare_frame
from monitoring.errors import MonitoringError
from xsell.settings import DriftSettings

NUMERIC = ["seats", "events_30d", "share"]
CATEGORICAL = ["segment", "tier"]
SETTINGS = DriftSettings()


def frame(rows: int, seed: int, *, shift: float = 0.0, segment_p: tuple[float, ...] = (0.5, 0.3, 0.2)) -> pd.DataFrame:
    """Feature rows; `shift` moves `seats` and `events_30d` by that many standard deviations."""
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(
        {
            "seats": rng.normal(50 + 10 * shift, 10, rows),
            "events_30d": pd.array(rng.poisson(20 + 4.5 * shift, rows), dtype="Int64"),
            "share": rng.uniform(0, 1, rows),
            "segment": rng.choice(["smb", "mid_market", "enterprise"], rows, p=list(segment_p)),
            "tier": rng.choice(["starter", "professional", None], rows, p=[0.5, 0.4, 0.1]),
            "propensity": rng.beta(2, 20, rows),
        }
    )
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DriftResult]:
    # given a reference and three current frames: same distribution, shifted numerics, shifted categories
    root = tmp_path_factory.mktemp("drift")
    reference = frame(3000, seed=1)
    currents = {
        "same": frame(2000, seed=2),
        "numeric": frame(2000, seed=3, shift=1.0),
        "categorical": frame(2000, seed=4, segment_p=(0.1, 0.3, 0.6)),
    }
    return {
        name: compare_frames(
            reference,
            current,
            numeric=NUMERIC,
            categorical=CATEGORICAL,
            prediction="propensity",
            settings=SETTINGS,
            out_dir=root / name,
        )
        for name, current in currents.items()
    }


def test_same_distribution_has_low_drift_share(runs: dict[str, DriftResult]) -> None:
    result = runs["same"]
    assert result.drift_share == 0.0 and result.drifted_features == ()
    assert max(result.scores.values()) < SETTINGS.num_threshold
    assert result.prediction is not None and not result.prediction.drifted


def test_shifted_numeric_columns_drift_with_wasserstein(runs: dict[str, DriftResult]) -> None:
    result = runs["numeric"]
    assert set(result.drifted_features) == {"seats", "events_30d"}
    assert result.drift_share == pytest.approx(2 / 5)
    seats = result.columns["seats"]
    assert (seats.method, seats.kind, seats.threshold) == ("wasserstein", "numeric", SETTINGS.num_threshold)
    assert seats.score == pytest.approx(1.0, abs=0.15)  # a one-std shift, normed by the reference std


def test_shifted_categories_drift_with_jensen_shannon(runs: dict[str, DriftResult]) -> None:
    result = runs["categorical"]
    assert result.drifted_features == ("segment",)
    assert result.columns["segment"].method == "jensenshannon" and result.columns["segment"].kind == "categorical"


def test_report_is_written_as_html_and_json(runs: dict[str, DriftResult]) -> None:
    result = runs["numeric"]
    html, payload = Path(result.html_path), json.loads(Path(result.json_path).read_text())
    assert html.name == "drift.html" and html.stat().st_size > 10_000
    assert {m["config"]["column"] for m in payload["metrics"] if "column" in m["config"]} == {
        *NUMERIC,
        *CATEGORICAL,
        "propensity",
    }
    assert result.extra["evidently_drift_share"] == pytest.approx(result.drift_share)
    assert result.to_dict()["drifted_features"] == ["seats", "events_30d"]
    assert not list(html.parent.glob(".*.tmp"))  # atomic writes leave no temporary file


def test_prepare_frame_types_columns() -> None:
    prepared = prepare_frame(frame(5, seed=1), NUMERIC, CATEGORICAL)
    assert str(prepared["events_30d"].dtype) == "float64"
    assert prepared["tier"].isna().sum() == 0
    assert set(prepared["tier"]) <= {"starter", "professional", MISSING}


def test_empty_or_incomplete_frames_fail(tmp_path: Path) -> None:
    kwargs = {"numeric": NUMERIC, "categorical": CATEGORICAL, "settings": SETTINGS, "out_dir": tmp_path}
    with pytest.raises(MonitoringError, match="current frame has no rows"):
        compare_frames(frame(10, 1), frame(10, 1).iloc[:0], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(MonitoringError, match=r"reference frame lacks columns \['seats'\]"):
        compare_frames(frame(10, 1).drop(columns="seats"), frame(10, 1), **kwargs)  # type: ignore[arg-type]


def test_only_the_wrapper_imports_evidently() -> None:
    root = Path(__file__).resolve().parents[3]
    importers = {
        str(path.relative_to(root))
        for folder in ("flows", "tasks", "ingest", "features", "training", "registry", "monitoring", "deploy", "xsell")
        for path in (root / folder).rglob("*.py")
        if "import evidently" in (text := path.read_text()) or "from evidently" in text
    }
    assert importers == {"monitoring/drift.py"}


def test_skipping_the_discarded_widgets_changes_no_score_nor_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given one comparison run as Evidently does it (every per-column widget built) and one as the wrapper does
    from contextlib import nullcontext

    from evidently.metrics.column_statistics import ValueDriftCalculation

    import monitoring.drift as drift

    original = ValueDriftCalculation._render
    kwargs = {"numeric": NUMERIC, "categorical": CATEGORICAL, "prediction": "propensity", "settings": SETTINGS}
    reference, current = frame(400, seed=1), frame(300, seed=3, shift=1.0)
    ours = compare_frames(reference, current, out_dir=tmp_path / "ours", **kwargs)  # type: ignore[arg-type]
    assert ValueDriftCalculation._render is original  # restored after the run
    monkeypatch.setattr(drift, "_unrendered", lambda columns: nullcontext())
    full = compare_frames(reference, current, out_dir=tmp_path / "full", **kwargs)  # type: ignore[arg-type]
    # then the scores and the page's size are the same: the skipped widgets were never shown
    assert ours.scores == full.scores and ours.prediction == full.prediction
    size = Path(full.html_path).stat().st_size
    assert abs(Path(ours.html_path).stat().st_size - size) < 0.01 * size
