"""The feature and scoring flows on Dask equal the local run. Feature snapshots: the same rows, types and records in
`features.*`, whether the flow starts its own LocalCluster or is pointed at a running scheduler's address. Batch
scores (slow: a model is trained): the same published rows, CRM records and alerts, scored in chunks of accounts on
the scheduler's workers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pytest
from factories import generated_home

from features.build import build_snapshot, compute_snapshot, store_snapshot
from features.errors import FeatureError
from features.store import connect_warehouse
from xsell.settings import Settings

if TYPE_CHECKING:
    from flows.features import FeatureBuild
    from flows.score import Scored

FROM, TO = "2025-05", "2025-08"  # four month-end snapshots of the generated export (2024-01..2025-12)
SCORE_AS_OF = date(2025, 9, 30)
RECORD_KEYS = ["as_of", "rows", "labelled_rows", "positives", "data_end", "horizon_days", "code_version", "load_run_id"]


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def consolidated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A consolidated generated export (200 accounts) that no test writes to: each run works on a copy."""
    with generated_home(tmp_path_factory.mktemp("dask-features")) as settings:
        yield settings


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A running Dask scheduler with 2 one-thread workers, reached over TCP (task inputs and results serialised)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def copy_of(settings: Settings, home: Path, **compute: Any) -> Settings:
    """Settings homed at `home` on a copy of the warehouse (and MLflow store, if any), `compute.*` fields replaced."""
    home.mkdir(parents=True)
    for name in ("warehouse.duckdb", "mlflow.db"):
        if (settings.home / name).is_file():
            shutil.copyfile(settings.home / name, home / name)
    return settings.model_copy(update={"home": home, "compute": settings.compute.model_copy(update=compute)})


def run_features(settings: Settings) -> FeatureBuild:
    """The `build-features` flow on the task runner that the settings choose (as the CLI runs it)."""
    from flows.compute import on_compute
    from flows.features import build_features_flow

    return on_compute(build_features_flow, settings)(from_month=FROM, to_month=TO, settings=settings)


def stored(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, str]]]:
    """Every materialised row (sorted), the snapshot records without timings, and the rows table's column types."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute("SELECT * FROM features.snapshot_rows ORDER BY as_of, account_id, product").df()
        records = con.execute(f"SELECT {', '.join(RECORD_KEYS)} FROM features.snapshots ORDER BY as_of").df()
        types = [(r[0], r[1]) for r in con.execute("DESCRIBE features.snapshot_rows").fetchall()]
    finally:
        con.close()
    return rows, records, types


def test_dask_feature_build_equals_the_local_run(
    prefect_api: None, consolidated: Settings, scheduler: str, tmp_path: Path
) -> None:
    # given three copies of one warehouse
    local = copy_of(consolidated, tmp_path / "local")
    own_cluster = copy_of(consolidated, tmp_path / "own", backend="dask", n_workers=2, threads_per_worker=1)
    remote = copy_of(consolidated, tmp_path / "remote", backend="dask", dask_address=scheduler)
    # when the flow builds the same months locally, on a LocalCluster of its own, and on a running scheduler
    results = {name: run_features(s) for name, s in (("local", local), ("own", own_cluster), ("remote", remote))}
    # then four snapshots with rows were stored each time
    assert [r["as_of"] for r in results["local"].snapshots] == [
        "2025-05-31",
        "2025-06-30",
        "2025-07-31",
        "2025-08-31",
    ]
    assert results["local"].rows > 0
    # and the stored rows, their column types and the snapshot records are equal
    rows, records, types = stored(local)
    for settings in (own_cluster, remote):
        other_rows, other_records, other_types = stored(settings)
        assert other_types == types
        pd.testing.assert_frame_equal(other_rows, rows, check_exact=True)
        pd.testing.assert_frame_equal(other_records, records)
    # and the local run's rows are what the plain function builds for one of the dates
    con = connect_warehouse(local, read_only=True)
    try:
        built = build_snapshot(con, date(2025, 7, 31), local)
    finally:
        con.close()
    july = rows[rows["as_of"] == pd.Timestamp("2025-07-31")].reset_index(drop=True)
    assert len(july) == len(built)
    assert (july["account_id"].to_numpy() == built["account_id"].to_numpy()).all()
    pd.testing.assert_series_equal(july["label"].astype("Int64"), built["label"], check_names=False)


def test_storing_a_snapshot_computed_on_another_load_is_refused(consolidated: Settings, tmp_path: Path) -> None:
    # given a snapshot computed on the warehouse's latest load
    settings = copy_of(consolidated, tmp_path / "home")
    computed = compute_snapshot(settings, date(2025, 6, 30))
    # when another load lands before it is stored
    con = connect_warehouse(settings)
    try:
        con.execute(
            "INSERT INTO meta.load_runs SELECT * REPLACE ('newer-load' AS run_id, loaded_at + INTERVAL 1 DAY AS"
            " loaded_at) FROM meta.load_runs ORDER BY loaded_at DESC LIMIT 1"
        )
        # then storing it fails naming both loads, and nothing was written
        with pytest.raises(
            FeatureError, match=rf"computed on load {computed.load_run_id} .* now holds load newer-load"
        ):
            store_snapshot(con, computed, settings)
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'features'").fetchall()[0][0] == 0
    finally:
        con.close()


@pytest.fixture(scope="module")
def trained(consolidated: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the consolidated home with one small model registered as champion (tier policy logged)."""
    from registry.log_training import log_training
    from serving.model_artifacts import serving_artifacts
    from training.dataset import load_training_frame
    from training.pipeline import train_propensity

    overrides = {"trials": 2, "n_jobs": 1, "num_threads": 2, "n_seeds": 2}
    settings = copy_of(consolidated, tmp_path_factory.mktemp("dask-scoring") / "home")
    settings = settings.model_copy(update={"training": settings.training.model_copy(update=overrides)})
    con = connect_warehouse(settings)
    try:
        frame = load_training_frame(con, settings)
    finally:
        con.close()
    result = train_propensity(frame, settings)
    log_training(result, settings, reason="dask scoring test", extra=serving_artifacts(result, settings))
    return settings


def run_scoring(settings: Settings, out: Path) -> Scored:
    """The `score` flow on the task runner that the settings choose (as the CLI runs it)."""
    from flows.compute import on_compute
    from flows.score import score_flow

    return on_compute(score_flow, settings)(as_of=SCORE_AS_OF, out=out, settings=settings)


@pytest.mark.slow
def test_dask_batch_scores_equal_the_local_run(
    prefect_api: None, trained: Settings, scheduler: str, tmp_path: Path
) -> None:
    # given two copies of a home with a champion, the Dask one scoring chunks of at most 60 rows of whole accounts
    local = copy_of(trained, tmp_path / "local")
    remote = copy_of(trained, tmp_path / "remote", backend="dask", dask_address=scheduler, scoring_chunk_rows=60)
    # when the score flow runs locally and on the scheduler's workers
    one = run_scoring(local, tmp_path / "local.csv")
    two = run_scoring(remote, tmp_path / "remote.csv")
    # then the Dask run scored several chunks and published the same rows
    assert one.rows == two.rows > 3 * 60
    keys = ["product", "account_id"]
    left = pd.read_csv(one.out).sort_values(keys).reset_index(drop=True)
    right = pd.read_csv(two.out).sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(right, left, check_exact=False, rtol=0, atol=1e-12)
    assert (right["tier"] == left["tier"]).all() and (right["rank"] == left["rank"]).all()
    # and the CRM records and alerts are the same
    for suffix in (".crm.jsonl", ".alerts.csv"):
        assert Path(two.out).with_suffix(suffix).read_text() == Path(one.out).with_suffix(suffix).read_text()
    # and so are the rows stored in the warehouse
    stored = []
    for settings in (local, remote):
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        try:
            frame = con.execute("SELECT * EXCLUDE (run_id, scored_at) FROM serving.scores ORDER BY product, account_id")
            stored.append(frame.df())
        finally:
            con.close()
    pd.testing.assert_frame_equal(stored[1], stored[0], check_exact=False, rtol=0, atol=1e-12)
