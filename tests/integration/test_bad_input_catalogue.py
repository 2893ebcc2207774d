"""The bad-input catalogue: each corruption of a small generated export, and each bad option, config or environment
variable, run through the real `xsell` entry point. A refusal is exit 2 with one `error:` line naming the file,
column, field or option, no traceback and the existing warehouse unchanged; a value-level defect is counted in the
data-quality report, never silently accepted.

One export (120 accounts, 2025) is generated and consolidated once per module; each case runs on copies of it. The
commands share one local Prefect API (started once) instead of each starting its own temporary server. A case is a
real `xsell` process (2-11 s each on an idle 2-core box, 8-70 s on a busy one), so the module is marked slow: about
6 minutes for its 52 cases when the box is idle, 25 when it is busy. Checks and preparations are in
tests/catalogue_checks.py, the corruptions in tests/corruptions.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import catalogue_checks as k
import corruptions as c
import pytest

from synth import generate_raw
from xsell.settings import ENV_PREFIX, GeneratorSettings

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class World:
    """The base export, its consolidated home, its data-quality report and the environment of every command."""

    raw: Path
    home: Path
    report: k.Report
    env: dict[str, str]


@dataclass(frozen=True)
class Case:
    """One corruption: how to make it, the command to run, and what must come of it.

    `args` and `names` may use {home}, {raw} and {tmp}. `expect`: `refused` (exit `code`, one error line holding
    every name, warehouse unchanged), `counted` (exit 0, `check` on the new and the base report), `reported`
    (refused as above, or exit 0 with every name in a warning)."""

    name: str
    args: tuple[str, ...]
    expect: str
    names: tuple[str, ...] = ()
    corrupt: Callable[[Path], None] | None = None
    check: Callable[[k.Report, k.Report], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Path, Path], None] | None = None  # (home, tmp): files the command needs
    cwd: str = "{tmp}"
    code: int = 2


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real `xsell` entry point in a subprocess, progress off."""
    return subprocess.run(
        [sys.executable, "-c", "from flows.cli import run; run()", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=cwd,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    root = tmp_path_factory.mktemp("catalogue")
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith(ENV_PREFIX)}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "PREFECT_API_URL", "PREFECT_HOME"):
        env.pop(name, None)
    env |= {"XSELL_INGEST__DUCKDB_MEMORY_LIMIT": "1GB", "PYTHONPATH": os.pathsep.join(sys.path)}
    generate_raw(
        root / "raw",
        GeneratorSettings(accounts=120, start="2025-01", end="2025-12", usage_rows_per_account_month=20),
        seed=3,
    )
    with prefect_test_harness(server_startup_timeout=180):
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
        done = run_cli(["--home", str(root / "home"), "consolidate", "--raw", str(root / "raw")], env, root)
        assert done.returncode == 0, done.stderr
        report = json.loads((root / "home/reports/data_quality/latest.json").read_text())
        yield World(raw=root / "raw", home=root / "home", report=report, env=env)


def consolidate(*extra: str) -> tuple[str, ...]:
    return ("--home", "{home}", *extra, "consolidate", "--raw", "{raw}")


def features_out(out: str) -> tuple[str, ...]:
    return ("--home", "{home}", "features", "--as-of", "2025-06-30", "--out", out)


CASES = [
    # -- value-level defects: counted in the report, the row kept when only a non-key, non-date value is bad
    Case(
        "negative seats",
        consolidate(),
        "counted",
        corrupt=lambda r: c.edit_subscription(r, "seats", "-21"),
        check=k.nulled(c.SUBSCRIPTIONS, "seats"),
    ),
    Case(
        "unparsable mrr",
        consolidate(),
        "counted",
        corrupt=lambda r: c.edit_subscription(r, "mrr", "12,5 EUR"),
        check=k.nulled(c.SUBSCRIPTIONS, "mrr"),
    ),
    Case(
        "NPS 11",
        consolidate(),
        "counted",
        corrupt=lambda r: c.edit_nps(r, "score", "11"),
        check=k.set_aside(c.NPS, "score"),
    ),
    Case(
        "negative event_count",
        consolidate(),
        "counted",
        corrupt=c.negative_event_count,
        check=k.nulled(c.USAGE, "event_count"),
    ),
    Case(
        "offset +25:00",
        consolidate(),
        "counted",
        corrupt=lambda r: c.edit_nps(r, "submitted_at", "2025-03-01T10:00:00+25:00"),
        check=k.set_aside(c.NPS, "submitted_at"),
    ),
    Case(
        "unparsable start_date",
        consolidate(),
        "counted",
        corrupt=lambda r: c.edit_subscription(r, "start_date", "31/02/2025"),
        check=k.set_aside(c.SUBSCRIPTIONS, "start_date"),
    ),
    Case(
        "future-dated row",
        consolidate(),
        "counted",
        corrupt=lambda r: c.edit_nps(r, "submitted_at", "2031-01-01T00:00:00Z"),
        check=k.future_dated,
    ),
    Case("id with whitespace and case", consolidate(), "counted", corrupt=c.nps_id_mangled, check=k.ids_cleaned),
    Case(
        "product not in catalogue",
        consolidate(),
        "counted",
        corrupt=lambda r: c.edit_subscription(r, "product", "teleport"),
        check=k.counted_somewhere(c.SUBSCRIPTIONS),
    ),
    Case("unknown extra column", consolidate(), "counted", corrupt=c.extra_column, check=k.extra_column_warned),
    Case("header-only part", consolidate(), "counted", corrupt=c.header_only_part, check=k.header_only_accepted),
    # -- files that are not tables, or not the contract's table: refused naming the file (and column, line)
    Case("duplicated header column", consolidate(), "refused", ("nps_2025.csv", "score"), corrupt=c.duplicate_header),
    Case("missing required column", consolidate(), "refused", ("nps_2025.csv", "score"), corrupt=c.drop_column),
    Case("truncated gzip", consolidate(), "refused", ("subscription_items.csv.gz",), corrupt=c.truncated_gzip),
    Case("binary file named .csv", consolidate(), "refused", ("nps_2025.csv",), corrupt=c.binary_csv),
    Case("wrong delimiter", consolidate(), "refused", ("nps_2025.csv",), corrupt=c.semicolons),
    Case("empty file", consolidate(), "refused", ("nps_2025.csv",), corrupt=c.empty_file),
    Case("10 MB line", consolidate(), "refused", ("tickets_2025.csv", "line 200"), corrupt=c.long_line(200)),
    Case(
        "Latin-1 bytes", consolidate(), "refused", ("accounts_extract_2025-03-31.csv", "latin-1"), corrupt=c.latin1_name
    ),
    Case("orphans over the gate", consolidate(), "refused", ("survey/nps", "orphan"), corrupt=c.all_nps_orphans),
    Case(
        "two primary products",
        consolidate(),
        "refused",
        ("products.csv", "primary"),
        corrupt=c.set_kind("analytics", "primary"),
    ),
    Case(
        "no primary product",
        consolidate(),
        "refused",
        ("products.csv", "primary"),
        corrupt=c.set_kind("core", "adjacent"),
    ),
    Case("looping symlink", consolidate(), "reported", ("loop.csv",), corrupt=c.looping_symlink),
    Case("dangling symlink", consolidate(), "reported", ("ghost.csv",), corrupt=c.dangling_symlink),
    Case("subfolder in a table folder", consolidate(), "reported", ("archive",), corrupt=c.subfolder),
    # -- the raw folder itself
    Case("nonexistent --raw", ("--home", "{home}", "consolidate", "--raw", "{tmp}/nope"), "refused", ("{tmp}/nope",)),
    Case("empty raw folder", ("--home", "{home}", "consolidate", "--raw", "{tmp}"), "refused", ("catalog",)),
    # -- environment and config
    Case("XSELL_BOGUS=1", consolidate(), "refused", ("XSELL_BOGUS",), env={"XSELL_BOGUS": "1"}),
    Case(
        "XSELL_TRAINING__TRIALZ",
        consolidate(),
        "refused",
        ("XSELL_TRAINING__TRIALZ", "training.trialz"),
        env={"XSELL_TRAINING__TRIALZ": "3"},
    ),
    Case("bad value in env", consolidate(), "refused", ("training.trials",), env={"XSELL_TRAINING__TRIALS": "zero"}),
    Case(
        "unknown key in YAML",
        consolidate("--config", "{tmp}/typo.yaml"),
        "refused",
        ("trainnig",),
        prepare=k.config_files,
    ),
    Case(
        "config not YAML",
        consolidate("--config", "{tmp}/broken.yaml"),
        "refused",
        ("broken.yaml", "YAML"),
        prepare=k.config_files,
    ),
    Case("missing config file", consolidate("--config", "{tmp}/absent.yaml"), "refused", ("absent.yaml",)),
    Case("bad --log-level", consolidate("--log-level", "LOUD"), "refused", ("log_level", "LOUD")),
    # -- outputs never touch state
    Case(
        "features --out warehouse.duckdb",
        features_out("{home}/warehouse.duckdb"),
        "refused",
        ("--out", "{home}/warehouse.duckdb"),
    ),
    Case(
        "features --out warehouse WAL",
        features_out("{home}/warehouse.duckdb.wal"),
        "refused",
        ("--out", "warehouse.duckdb.wal"),
    ),
    Case("features --out mlflow.db", features_out("{home}/mlflow.db"), "refused", ("--out", "{home}/mlflow.db")),
    Case(
        "features --out in reports/site",
        features_out("{home}/reports/site/snap.parquet"),
        "refused",
        ("--out", "reports/site"),
    ),
    Case(
        "features --out wrong extension", features_out("{tmp}/snap.csv"), "refused", ("--out", "snap.csv", ".parquet")
    ),
    Case(
        "features --out symlink to the warehouse",
        features_out("{tmp}/snapshot.parquet"),
        "refused",
        ("--out", "snapshot.parquet", "warehouse.duckdb"),
        prepare=k.symlink_to_warehouse,
    ),
    Case(
        "features --out relative path onto the warehouse",
        features_out("tmp/../warehouse.duckdb"),
        "refused",
        ("--out", "warehouse.duckdb"),
        cwd="{home}",
    ),
    Case(
        "features --out an existing folder",
        features_out("{tmp}/dir.parquet"),
        "refused",
        ("--out", "dir.parquet"),
        prepare=k.folder_named_parquet,
    ),
    Case(
        "score --out bad extension",
        ("--home", "{home}", "score", "--as-of", "2025-06-30", "--out", "{tmp}/s.xlsx"),
        "refused",
        ("--out", "s.xlsx", ".csv"),
    ),
    Case(
        "score --out onto the warehouse",
        ("--home", "{home}", "score", "--as-of", "2025-06-30", "--out", "{home}/warehouse.duckdb"),
        "refused",
        ("--out", "warehouse.duckdb"),
    ),
    Case(
        "predict --out onto mlflow.db",
        (
            "--home",
            "{home}",
            "predict",
            "--table",
            "{tmp}/table.csv",
            "--model",
            "models:/m@champion",
            "--out",
            "{home}/mlflow.db",
        ),
        "refused",
        ("--out", "mlflow.db"),
        prepare=k.user_table,
    ),
    Case(
        "generate --out the home",
        ("--home", "{home}", "generate", "--out", "{home}", "--accounts", "20"),
        "refused",
        ("--out", "{home}"),
    ),
    Case(
        "generate --out prefect state",
        ("--home", "{home}", "generate", "--out", "{home}/prefect"),
        "refused",
        ("--out", "prefect"),
    ),
    # -- bad arguments
    Case(
        "bad --as-of",
        (*features_out("{tmp}/snap.parquet")[:4], "2025-13-45", "--out", "{tmp}/s.parquet"),
        "refused",
        ("2025-13-45",),
    ),
    Case(
        "--from after --to",
        ("--home", "{home}", "features", "--from", "2025-06", "--to", "2025-01"),
        "refused",
        ("2025-06", "2025-01"),
    ),
    Case(
        "score --as-of not a date",
        ("--home", "{home}", "score", "--as-of", "2025-02-30", "--out", "{tmp}/s.csv"),
        "refused",
        ("--as-of", "2025-02-30"),
    ),
    Case(
        "train --table missing",
        ("--home", "{home}", "train", "--table", "{tmp}/no.csv", "--label", "y"),
        "refused",
        ("no.csv",),
    ),
    Case(
        "corrupt mlflow.db",
        ("--home", "{home}", "registry", "status"),
        "refused",
        ("mlflow.db",),
        prepare=k.corrupt_mlflow_db,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, world: World, tmp_path: Path) -> None:
    # given a copy of the consolidated home and, when the case corrupts it, a corrupted copy of the export
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    shutil.copytree(world.home, home, ignore=shutil.ignore_patterns("prefect", "tmp"))
    tmp.mkdir()
    raw = world.raw
    if case.corrupt is not None:
        raw = tmp_path / "raw"
        shutil.copytree(world.raw, raw)
        case.corrupt(raw)
    if case.prepare is not None:
        case.prepare(home, tmp)
    places = {"home": str(home), "raw": str(raw), "tmp": str(tmp)}
    before = digest(home / "warehouse.duckdb")

    # when the real command runs on it
    done = run_cli([a.format(**places) for a in case.args], world.env | case.env, Path(case.cwd.format(**places)))

    # then no traceback, and a refusal is one line naming what is wrong with the warehouse untouched, or the
    # defect is counted
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-3000:]
    names = [n.format(**places) for n in case.names]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    if case.expect == "refused" or (case.expect == "reported" and done.returncode != 0):
        assert done.returncode == case.code, output[-3000:]
        assert len(errors) == 1, done.stderr[-3000:]
        for name in names:
            assert name.lower() in errors[0].lower(), (name, errors[0])
        assert digest(home / "warehouse.duckdb") == before
        assert not (home / "warehouse.duckdb.wal").exists()
    elif case.expect == "reported":
        warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
        for name in names:
            assert any(name in line for line in warnings), (name, done.stderr[-3000:])
    else:
        assert done.returncode == 0, output[-3000:]
        assert not errors
        report = json.loads((home / "reports/data_quality/latest.json").read_text())
        assert case.check is not None
        case.check(report, world.report)


def test_the_catalogue_is_complete() -> None:
    # the issue asks for at least 30 corruptions
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)
