"""A refused command leaves one `error:` line on stderr and nothing else: no traceback, no `CancelledError`, from
this process or from the Prefect server it started (issue 13: a CancelledError traceback was once seen at shutdown).

Each case runs the real entry point in a subprocess a few times: what reaches stderr at shutdown is timing-bound.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from factories import run_xsell

REPEATS = 3


def assert_one_clean_error(stderr: str, message: str) -> None:
    """stderr is exactly one error line (the console may wrap it) holding `message`, and no traceback text."""
    for marker in ("Traceback", "CancelledError", "Exception ignored", "Task was destroyed", "Error in atexit"):
        assert marker not in stderr, stderr[-3000:]
    text = " ".join(stderr.split())
    assert text.startswith("error: ") and text.count("error:") == 1 and message in text, stderr[-3000:]


@pytest.mark.parametrize("attempt", range(REPEATS))
def test_a_bad_as_of_is_one_line(tmp_path: Path, attempt: int) -> None:
    done = run_xsell("score", "--as-of", "2025-13-01", "--out", str(tmp_path / "s.csv"), home=tmp_path / "home")
    assert done.returncode == 2
    assert_one_clean_error(done.stderr, "--as-of: expected YYYY-MM-DD, got '2025-13-01'")


@pytest.mark.parametrize("attempt", range(REPEATS))
def test_a_home_without_a_warehouse_is_one_line(tmp_path: Path, attempt: int) -> None:
    done = run_xsell("monitor", "--as-of", "2025-06-30", home=tmp_path / "missing")
    assert done.returncode == 2
    assert_one_clean_error(done.stderr, "warehouse")


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(REPEATS))
def test_a_refusal_inside_a_flow_stops_the_prefect_server_quietly(tmp_path: Path, attempt: int) -> None:
    # given a home whose warehouse holds nothing yet, when a feature build starts (the Prefect server with it) and
    # is refused inside the flow, then stderr holds the one error line only, the server's shutdown included
    home = tmp_path / "home"
    home.mkdir()
    duckdb.connect(str(home / "warehouse.duckdb")).close()
    done = run_xsell("features", "--from", "2025-01", "--to", "2025-02", home=home, timeout=600)
    assert done.returncode == 2
    assert_one_clean_error(done.stderr, "holds no Customer 360 yet")
