"""`xsell features`: a month range through the Prefect flow, one as-of date to Parquet, one-line errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from factories import run_xsell
from typer.testing import CliRunner

from flows.cli import app
from xsell.settings import Settings


def test_as_of_writes_the_snapshot_and_the_catalog(
    writable_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # keep the CLI's environment defaults out of this process
    for key in ("PREFECT_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(key, str(tmp_path / key.lower()))
    out = tmp_path / "snap" / "2025-12-31.parquet"
    result = CliRunner().invoke(
        app,
        [
            "--home",
            str(writable_settings.home),
            "--no-progress",
            "features",
            "--as-of",
            "2025-12-31",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert len(frame) == 4 and frame["label"].sum() == 1
    assert set(frame["as_of"]) == {date(2025, 12, 31)}
    assert (writable_settings.reports_dir / "feature_catalog.md").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("features", "--as-of", "2025-02-30", "--out", "x.parquet"), "not a valid date: '2025-02-30'"),
        (("features", "--from", "2025-01"), "give --from YYYY-MM --to YYYY-MM"),
        (("features", "--as-of", "2031-01-31", "--out", "x.parquet"), "outside the data"),
    ],
)
def test_bad_input_is_one_line_error(writable_settings: Settings, args: tuple[str, ...], message: str) -> None:
    result = run_xsell(*args, home=writable_settings.home)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr


def test_without_a_warehouse_the_error_says_what_to_run(tmp_path: Path) -> None:
    result = run_xsell("features", "--from", "2025-01", "--to", "2025-02", home=tmp_path / "home")
    assert result.returncode == 2
    assert "run `xsell consolidate --raw DIR` first" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr


def test_month_range_runs_the_flow_and_materialises_each_snapshot(writable_settings: Settings) -> None:
    # given the scenario warehouse, when building a range that runs past the data end (2026-03-31)
    result = run_xsell("features", "--from", "2026-02", "--to", "2026-05", home=writable_settings.home)
    assert result.returncode == 0, result.stderr
    # then the month ends within the data are materialised, and the catalog is written
    con = duckdb.connect(str(writable_settings.warehouse_path), read_only=True)
    try:
        rows = con.execute("SELECT as_of, rows FROM features.snapshots ORDER BY as_of").fetchall()
    finally:
        con.close()
    assert rows == [(date(2026, 2, 28), 5), (date(2026, 3, 31), 5)]
    assert (writable_settings.reports_dir / "feature_catalog.md").is_file()
    assert '"rows": 10' in result.stdout
