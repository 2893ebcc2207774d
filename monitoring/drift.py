"""Feature and prediction drift with Evidently, behind our own types: the only module that imports evidently.

`compare_frames` runs one Evidently report (every feature column with the distance of its type, plus the
prediction column) on a reference and a current frame, writes its JSON (and, for a report that is kept, its HTML)
atomically, and returns a `DriftResult`. The frames are usually stratified samples (`monitoring.sampling`: a few
thousand rows per side put the distances' sampling noise far below the thresholds); the result records the sizes
compared, the full sizes and that noise under `extra.sample`. Only distance measures are allowed (see `xsell.settings.DriftSettings`): a column drifts when its
distance reaches the threshold, which stays meaningful on large samples where every p-value test fires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.errors import MonitoringError
from monitoring.sampling import sample_note
from xsell import progress
from xsell.fileio import write_text_atomic
from xsell.settings import DriftSettings

__all__ = ["MISSING", "ColumnDrift", "DriftResult", "compare_frames", "prepare_frame"]

logger = logging.getLogger(__name__)

#: Category standing for a missing categorical value (a change in the missing share is drift too).
MISSING = "(missing)"

#: Held while Evidently's per-column widget renderer is swapped (see `_unrendered`).
_render_lock = threading.Lock()


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift: its distance to the reference, the method and threshold, and the verdict."""

    column: str
    kind: str  # numeric | categorical | prediction
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    """Drift of the current frame against the reference: share and names of drifted features, every score, the
    prediction drift, and where the Evidently report was written."""

    drift_share: float
    drifted_features: tuple[str, ...]
    columns: dict[str, ColumnDrift]
    prediction: ColumnDrift | None = None
    skipped: tuple[str, ...] = ()  # columns without a value in the reference or the current frame
    reference_rows: int = 0
    current_rows: int = 0
    html_path: str = ""
    json_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scores(self) -> dict[str, float]:
        """Distance per feature column."""
        return {name: c.score for name, c in self.columns.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "drift_share": self.drift_share,
            "drifted_features": list(self.drifted_features),
            "columns": {name: asdict(c) for name, c in self.columns.items()},
            "prediction": asdict(self.prediction) if self.prediction is not None else None,
            "skipped": list(self.skipped),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "html_path": self.html_path,
            "json_path": self.json_path,
            "extra": self.extra,
        }


def prepare_frame(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], prediction: str | None = None
) -> pd.DataFrame:
    """The columns to compare with stable types: numeric as float64 (NA as NaN), categorical as strings with
    missing values as `MISSING`."""
    out: dict[str, Any] = {}
    for name in numeric:
        out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in categorical:
        values = frame[name].astype(object)
        out[name] = values.where(values.notna(), MISSING).astype(str)
    if prediction is not None:
        out[prediction] = pd.to_numeric(frame[prediction], errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def _comparable(reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Columns with at least one value on both sides, and the others."""
    kept: list[str] = []
    skipped: list[str] = []
    for name in columns:
        (kept if reference[name].notna().any() and current[name].notna().any() else skipped).append(name)
    return kept, skipped


def compare_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    settings: DriftSettings,
    out_dir: Path,
    prediction: str | None = None,
    stem: str = "drift",
    drift_share: float = 0.5,
    html: bool = True,
    sample_rows: int = 0,
    totals: tuple[int, int] | None = None,
) -> DriftResult:
    """Run the Evidently drift report of `current` against `reference` and write `<stem>.json` and, when `html`,
    `<stem>.html` under `out_dir` (atomically); `drift_share` only sets the dataset-level line of the HTML.
    `totals` (reference, current) are the row counts the frames were sampled from (default: their own sizes),
    `sample_rows` the sample setting, both recorded with the sampling noise under `extra.sample`.

    MonitoringError when either frame is empty, a column is missing, or no feature column can be compared.
    """
    wanted = [*numeric, *categorical, *([prediction] if prediction else [])]
    for name, frame in (("reference", reference), ("current", current)):
        if frame.empty:
            raise MonitoringError(f"the {name} frame has no rows: nothing to compare")
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise MonitoringError(f"the {name} frame lacks columns {missing}")
    ref = prepare_frame(reference, numeric, categorical, prediction)
    cur = prepare_frame(current, numeric, categorical, prediction)
    num, skipped_num = _comparable(ref, cur, numeric)
    cat, skipped_cat = _comparable(ref, cur, categorical)
    if not num and not cat:
        raise MonitoringError("no feature column has values in both the reference and the current frame")
    if prediction is not None and not (ref[prediction].notna().any() and cur[prediction].notna().any()):
        raise MonitoringError(f"the prediction column {prediction!r} has no values to compare")
    started = time.perf_counter()
    progress.start("monitor-drift", f"drift report: {len(ref):,} reference x {len(cur):,} current rows", total=3)
    try:
        snapshot = _run_report(ref, cur, num, cat, prediction, settings, drift_share)
        progress.advance("monitor-drift", description="drift report: writing JSON")
        payload = snapshot.dict()
        json_path = out_dir / f"{stem}.json"
        write_text_atomic(json_path, snapshot.json())
        progress.advance("monitor-drift", description="drift report: writing HTML" if html else None)
        html_path = out_dir / f"{stem}.html"
        if html:
            write_text_atomic(html_path, snapshot.get_html_str(as_iframe=False))
        progress.advance("monitor-drift")
    finally:
        progress.finish("monitor-drift")
    kinds = {**dict.fromkeys(num, "numeric"), **dict.fromkeys(cat, "categorical")}
    if prediction is not None:
        kinds[prediction] = "prediction"
    scores = _value_drifts(payload, kinds)
    columns = {name: scores[name] for name in [*num, *cat]}
    drifted = tuple(name for name, c in columns.items() if c.drifted)
    reference_total, current_total = totals or (len(ref), len(cur))
    note = sample_note(
        sample_rows,
        (len(ref), max(reference_total, len(ref))),
        (len(cur), max(current_total, len(cur))),
        max((int(ref[c].nunique()) for c in cat), default=2),
        (settings.num_threshold, settings.cat_threshold),
    )
    result = DriftResult(
        drift_share=len(drifted) / len(columns),
        drifted_features=drifted,
        columns=columns,
        prediction=scores.get(prediction) if prediction is not None else None,
        skipped=tuple(skipped_num + skipped_cat),
        reference_rows=len(ref),
        current_rows=len(cur),
        html_path=str(html_path) if html else "",
        json_path=str(json_path),
        extra={"evidently_drift_share": _evidently_share(payload), "sample": note.to_dict()},
    )
    logger.info(
        "drift of %d/%d features (share %.2f) on %d reference vs %d current rows in %.1f s",
        len(drifted),
        len(columns),
        result.drift_share,
        len(ref),
        len(cur),
        time.perf_counter() - started,
    )
    return result


def _run_report(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    num: list[str],
    cat: list[str],
    prediction: str | None,
    settings: DriftSettings,
    drift_share: float,
) -> Any:
    """The Evidently snapshot: the drift preset over the features, one value drift of the prediction."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[*num, *([prediction] if prediction else [])], categorical_columns=list(cat)
    )
    metrics: list[Any] = [
        DataDriftPreset(
            columns=[*num, *cat],
            drift_share=drift_share,
            num_method=settings.num_method,
            num_threshold=settings.num_threshold,
            cat_method=settings.cat_method,
            cat_threshold=settings.cat_threshold,
        )
    ]
    if prediction is not None:
        metrics.append(
            ValueDrift(column=prediction, method=settings.prediction_method, threshold=settings.prediction_threshold)
        )
    columns = [*num, *cat, *([prediction] if prediction else [])]
    report = Report(metrics)
    with _unrendered({*num, *cat}):
        return report.run(
            Dataset.from_pandas(cur[columns], data_definition=definition),
            Dataset.from_pandas(ref[columns], data_definition=definition),
        )


@contextmanager
def _unrendered(columns: set[str]) -> Iterator[None]:
    """Skip the per-column widgets of the drift preset's `ValueDrift` children while a report runs: the preset
    renders its own drift table and discards them, yet building their plotly figures was ~40% of a report's time
    (measured: 11 of 28 s at 73 columns). Their values, in the JSON, are computed as before; the prediction's own
    `ValueDrift` (shown in the HTML) keeps its widget."""
    from evidently.metrics.column_statistics import ValueDriftCalculation

    original = ValueDriftCalculation._render

    def render(self: Any, result: Any, options: Any, color_options: Any) -> Any:
        if self.metric.column in columns:
            return []
        return original(self, result, options, color_options)

    with _render_lock:
        ValueDriftCalculation._render = render  # type: ignore[method-assign]
        try:
            yield
        finally:
            ValueDriftCalculation._render = original  # type: ignore[method-assign]


def _value_drifts(payload: dict[str, Any], kinds: dict[str, str]) -> dict[str, ColumnDrift]:
    """Per column, from the report's ValueDrift results: score, method, threshold; drifted when score >= threshold
    (every allowed method is a distance)."""
    out = {}
    for metric in payload.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith(":ValueDrift"):
            continue
        name = config.get("column")
        if name not in kinds:
            continue
        score = float(metric["value"])
        threshold = float(config["threshold"])
        drifted = bool(np.isfinite(score) and score >= threshold)
        out[name] = ColumnDrift(name, kinds[name], str(config["method"]), score, threshold, drifted)
    missing = [name for name in kinds if name not in out]
    if missing:
        raise MonitoringError(f"the Evidently report has no drift score for columns {missing}")
    return out


def _evidently_share(payload: dict[str, Any]) -> float | None:
    for metric in payload.get("metrics", []):
        if str(metric.get("config", {}).get("type", "")).endswith(":DriftedColumnsCount"):
            return float(metric["value"]["share"])
    return None
