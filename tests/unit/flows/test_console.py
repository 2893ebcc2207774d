"""One-line errors: the platform's error family and a missing file exit with their code, other errors with 1."""

from __future__ import annotations

import pytest
import typer

from features.errors import FeatureError
from flows.compute import ComputeError
from flows.console import exit_code, friendly_errors
from ingest.errors import QualityGateError
from xsell.homelock import HomeBusyError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (FeatureError("--as-of: bad"), 2),
        (QualityGateError(["too few rows"]), 2),
        (FileNotFoundError("raw: not found"), 2),
        (HomeBusyError("home is busy"), 1),
        (ComputeError("no scheduler"), 1),
        (RuntimeError("worker died"), 1),
    ],
)
def test_an_expected_failure_is_one_line_with_its_code(
    error: Exception, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a command failing with an error the CLI expects, then one error line with its message and code
    @friendly_errors
    def command() -> None:
        raise error

    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == code == exit_code(error)
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {error}"]
