"""Only I/O failures are worth a retry; a broken contract fails at once."""

from __future__ import annotations

import duckdb
import pytest

from ingest.errors import ContractError
from tasks.retry import retry_on_io


class _State:
    def __init__(self, error: BaseException | None) -> None:
        self._error = error

    def result(self) -> object:
        if self._error is not None:
            raise self._error
        return None


@pytest.mark.parametrize("error", [OSError("disk hiccup"), duckdb.IOException("could not read")])
def test_io_errors_are_retried(error: BaseException) -> None:
    assert retry_on_io(None, None, _State(error)) is True


@pytest.mark.parametrize(
    "error", [ContractError("a.csv", "missing column"), FileNotFoundError("gone"), ValueError("bad"), None]
)
def test_other_outcomes_are_not_retried(error: BaseException | None) -> None:
    assert retry_on_io(None, None, _State(error)) is False
