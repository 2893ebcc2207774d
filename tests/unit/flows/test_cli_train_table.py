"""`xsell train --table` options for the periods of --time: refused before any flow starts when they cannot apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "table.csv"
    path.write_text("t,x,y\n1,0.5,0\n2,0.7,1\n", encoding="utf-8")
    return path


def train(home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--home", str(home), "--no-progress", "train", *args])
    return result.exit_code, " ".join(result.output.replace("│", " ").split())  # rich boxes: text only


@pytest.mark.parametrize("option", [["--time-grain", "week"], ["--purge-periods", "0"]])
def test_period_options_need_a_time_column(tmp_path: Path, table: Path, option: list[str]) -> None:
    code, output = train(tmp_path / "home", "--table", str(table), "--label", "y", *option)
    assert code == 2 and "--time-grain and --purge-periods go with --time COL" in output


def test_period_options_need_a_table(tmp_path: Path) -> None:
    code, output = train(tmp_path / "home", "--time-grain", "week")
    assert code == 2 and "--time-grain, --purge-periods and --id go with --table FILE" in output


def test_an_unknown_grain_is_one_line_naming_the_choices(tmp_path: Path, table: Path) -> None:
    code, output = train(tmp_path / "home", "--table", str(table), "--label", "y", "--time", "t", "--time-grain", "2w")
    assert code == 2 and "error: --time-grain '2w': use day, week, month or quarter (dates)" in output
    assert "Traceback" not in output


def test_a_negative_gap_is_refused(tmp_path: Path, table: Path) -> None:
    code, _ = train(tmp_path / "home", "--table", str(table), "--label", "y", "--time", "t", "--purge-periods", "-1")
    assert code == 2
