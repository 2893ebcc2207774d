"""Errors that stop a run: each names the file (and column) at fault."""

from __future__ import annotations

from pathlib import Path

from xsell.errors import XsellError


class ContractError(XsellError, ValueError):
    """A raw file breaks the data contract: not a table, or a required column is missing."""

    def __init__(self, file: Path | str, message: str, column: str | None = None) -> None:
        self.file = str(file)
        self.column = column
        super().__init__(f"{file}: {message}")


class QualityGateError(XsellError, RuntimeError):
    """The data-quality gate refused the export; `failures` lists each reason."""

    def __init__(self, failures: list[str], report_path: Path | None = None) -> None:
        self.failures = failures
        self.report_path = report_path
        where = f" (report: {report_path})" if report_path else ""
        super().__init__("data-quality gate failed: " + "; ".join(failures) + where)
