"""The scoring API fuzzed from its own OpenAPI document: schemathesis (every check) against `xsell serve` on loopback.

A real server, not the ASGI app in process: what is fuzzed is what a client meets (uvicorn's parsing, the body
limit in front of the app, the shadow worker and reloads running beside the requests). The home is a generated
export trained on twice (`api_server.trained_home`: v1 champion, v2 challenger in shadow); the admin token is set and
given to schemathesis, so reloads are fuzzed too and `ignored_auth` checks that a call without it is refused.
The run is bounded (`MAX_EXAMPLES` per operation and phase, a fixed seed, `RUN_SECONDS` at most) and must end with
0 failures and 0 errors; the server must still be up, its log without a traceback.

The one rule JSON Schema cannot say (no two rows of one account_id x product) is taught to the generator by
`tests/e2e/schemathesis_hooks.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_server import serve_log, served_api, trained_home

from xsell.settings import Settings

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TOKEN = "fuzz-admin-token"
MAX_EXAMPLES = 50
RUN_SECONDS = 900
SEED = 13


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    """A trained home served on loopback with an admin token."""
    with trained_home(tmp_path_factory.mktemp("api-fuzz")) as settings:
        env = {"XSELL_API__ADMIN_TOKEN": TOKEN, "XSELL_API__RELOAD_POLL_SECONDS": "0"}
        with served_api(settings, env) as base:
            yield settings, base


def run_schemathesis(base: str, out: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    """`st run` of the served document with every check; its process and JSON report."""
    report = out / "schemathesis.json"
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json"),
        *("--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1"),
        *("--request-timeout", "60", "--generation-database", "none", "--no-color"),
        *("--header", f"Authorization: Bearer {TOKEN}"),
        *("--report", "json", "--report-json-path", str(report)),
    ]
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks", "PYTHONPATH": path}
    done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=RUN_SECONDS)
    assert report.exists(), done.stdout[-4000:] + done.stderr[-4000:]
    return done, json.loads(report.read_text())


def test_schemathesis_finds_no_failure(api: tuple[Settings, str], tmp_path: Path) -> None:
    settings, base = api
    done, summary = run_schemathesis(base, tmp_path)
    cases = summary["test_cases"]
    print(
        f"schemathesis {summary['schemathesis_version']}: {summary['operations']['tested']} operations, "
        f"{cases['generated']} test cases, checks all, {len(summary['failures'])} failures, "
        f"{len(summary['errors'])} errors in {summary['running_time']:.0f} s (seed {SEED})"
    )
    assert done.returncode == 0, done.stdout[-8000:]
    assert summary["failures"] == [] and summary["errors"] == []
    assert summary["operations"]["tested"] == 4 and cases["generated"] >= 200
    # and the server is still serving, with no unexpected error logged
    assert httpx.get(f"{base}/health", timeout=10).json()["status"] == "ok"
    assert "Traceback" not in serve_log(settings).read_text(errors="replace")


def test_the_document_says_every_answer_of_the_score_endpoint(api: tuple[Settings, str]) -> None:
    _, base = api
    document = httpx.get(f"{base}/openapi.json", timeout=10).json()
    score = document["paths"]["/v1/score"]["post"]
    assert set(score["responses"]) >= {"200", "400", "404", "413", "422", "503"}
    assert set(document["paths"]["/v1/admin/reload"]["post"]["responses"]) >= {"200", "401", "403", "500"}
    schemas = document["components"]["schemas"]
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in schemas["ScoreRequest"]["oneOf"]] == [
        "AccountIdsRequest",
        "FeatureRowsRequest",
    ]
    assert schemas["FeatureRow"]["additionalProperties"] is False
