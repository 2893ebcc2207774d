"""Checks and preparations of the bad-input catalogue (tests/integration/test_bad_input_catalogue.py): what a
data-quality report must show after a corruption (new report vs the base export's), and files a case needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import corruptions as c

Report = dict[str, Any]


# ---- checks on the data-quality report (new vs base) -------------------------------------------------------------


def table(report: Report, name: str) -> dict[str, Any]:
    return dict(report["tables"][name])


def nulled(name: str, column: str) -> Callable[[Report, Report], None]:
    """The value is nulled and counted under its field; the row is kept."""

    def check(new: Report, base: Report) -> None:
        now, was = table(new, name), table(base, name)
        assert now["nulled_values"].get(column, 0) == was["nulled_values"].get(column, 0) + 1, now["nulled_values"]
        assert now["rows_kept"] == was["rows_kept"], (now["rows_kept"], was["rows_kept"])
        assert now["invalid"] == was["invalid"]

    return check


def set_aside(name: str, column: str) -> Callable[[Report, Report], None]:
    """The row is set aside as invalid, its reason naming the column."""

    def check(new: Report, base: Report) -> None:
        now, was = table(new, name), table(base, name)
        assert now["invalid"] == was["invalid"] + 1, (now["invalid"], now["invalid_reasons"])
        grown = {k: v for k, v in now["invalid_reasons"].items() if v > was["invalid_reasons"].get(k, 0)}
        assert any(column in reason for reason in grown), now["invalid_reasons"]

    return check


def future_dated(new: Report, base: Report) -> None:
    assert table(new, c.NPS)["future_dated"] == table(base, c.NPS)["future_dated"] + 1


def ids_cleaned(new: Report, base: Report) -> None:
    now, was = table(new, c.NPS), table(base, c.NPS)
    assert now["ids_whitespace"] == was["ids_whitespace"] + 1
    assert now["ids_case"] == was["ids_case"] + 1
    assert (now["rows_kept"], now["orphans"]) == (was["rows_kept"], was["orphans"])


def counted_somewhere(name: str) -> Callable[[Report, Report], None]:
    """The row is counted as invalid or orphan, or a value of it as nulled: not silently kept as it was."""

    def total(report: Report) -> int:
        t = table(report, name)
        return int(t["invalid"] + t["orphans"] + sum(t["nulled_values"].values()))

    def check(new: Report, base: Report) -> None:
        assert total(new) == total(base) + 1, table(new, name)

    return check


def extra_column_warned(new: Report, base: Report) -> None:
    assert any("colour" in cols for cols in table(new, c.NPS)["unknown_columns"].values())
    assert table(new, c.NPS)["rows_kept"] == table(base, c.NPS)["rows_kept"]


def header_only_accepted(new: Report, base: Report) -> None:
    assert table(new, c.NPS)["rows_read"] == table(base, c.NPS)["rows_read"]


# ---- preparations ------------------------------------------------------------------------------------------------


def symlink_to_warehouse(home: Path, tmp: Path) -> None:
    (tmp / "snapshot.parquet").symlink_to(home / "warehouse.duckdb")


def corrupt_mlflow_db(home: Path, tmp: Path) -> None:
    (home / "mlflow.db").write_bytes(b"not a database\n" * 400)


def user_table(home: Path, tmp: Path) -> None:
    (tmp / "table.csv").write_text("id,x\n1,0.5\n", encoding="utf-8")


def folder_named_parquet(home: Path, tmp: Path) -> None:
    (tmp / "dir.parquet").mkdir()


def config_files(home: Path, tmp: Path) -> None:
    c.not_yaml(tmp / "broken.yaml")
    c.unknown_key_yaml(tmp / "typo.yaml")
