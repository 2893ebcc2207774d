"""Fault injection: `kill -9` at scripted points of consolidate, features, train, promote and score (markers e2e and
slow; `make e2e`), through the real `xsell` entry point.

Each fault starts from a copy of a reference home at the right stage, runs the command with XSELL_FAULT_POINT
naming the point (`xsell/faults.py`: the process SIGKILLs itself there), then checks that no process it started
is left, that the champion alias still loads, that the warehouse and the registry open, and that a rerun
completes with the result of the uninterrupted run (warehouse row counts, registered versions, scores). Last,
two `train` on one home at the same time: both complete, one after the other, two versions registered.

One small world (300 accounts, 30 months, 2 trials, one Optuna worker so that tuning is deterministic); about
30 CLI runs. The reference homes are built once per module.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from synth import generate_raw
from xsell.faults import FAULT_ENV
from xsell.reaper import GRACE_SECONDS, TOKEN_ENV
from xsell.settings import Settings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACCOUNTS, SEED, TRIALS = 300, 3, 2  # 150 accounts give too few positives for the holdout
START, END = "2024-01", "2026-06"
SCORE_AS_OF = "2026-06-30"
CHAMPION_AS_OF = "2026-03-31"
#: Settings of every run: deterministic and small (one Optuna worker, one seed per booster, few rounds).
ENV = {
    "XSELL_TRAINING__N_JOBS": "1",
    "XSELL_TRAINING__N_SEEDS": "1",
    "XSELL_TRAINING__MAX_ROUNDS": "120",
    "XSELL_INGEST__DUCKDB_MEMORY_LIMIT": "1GB",
}
TIMEOUT = 900


def xsell(home: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `xsell` entry point on `home` (progress off), dying at `fault` when given."""
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, TOKEN_ENV)} | ENV
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PREFECT_API_URL", None)
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-c", "from flows.cli import run; run()", "--home", str(home), "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


def leftovers(home: Path) -> list[str]:
    """Processes (other than this test's) whose environment or command line names `home`."""
    needle, found = str(home).encode(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes() or needle in (entry / "cmdline").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")[:150]
                if state != "Z":
                    found.append(f"{entry.name}: {command!r}")
        except OSError:
            continue
    return found


def wait_no_leftovers(home: Path, seconds: float = GRACE_SECONDS + 5) -> list[str]:
    """What still runs for `home` after `seconds` (an empty list as soon as nothing does)."""
    deadline = time.monotonic() + seconds
    while (left := leftovers(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def settings_of(home: Path) -> Settings:
    return load_settings(home=home)


def table_counts(home: Path, schemas: tuple[str, ...]) -> dict[str, int]:
    """Rows per table of `schemas` (the warehouse opens read-only: it is usable)."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        names = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ? ORDER BY 1, 2", [list(schemas)]
        ).fetchall()
        return {f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchall()[0][0] for s, t in names}
    finally:
        con.close()


def registry_state(home: Path) -> tuple[list[int], dict[str, int], list[str]]:
    """Registered versions, aliases, and runs still RUNNING (every experiment) of a home's MLflow store."""
    from mlflow import MlflowClient

    settings = settings_of(home)
    uri = settings.mlflow_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = settings.registry.model_name
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    aliases = {k: int(v) for k, v in client.get_registered_model(name).aliases.items()} if versions else {}
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = [
        r.info.run_id
        for r in client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000)
    ]
    return versions, aliases, running


def champion_loads(home: Path) -> int:
    """Load the champion alias and score one row with it; its version."""
    from registry.models import load_model

    settings = settings_of(home)
    loaded = load_model(f"models:/{settings.registry.model_name}@champion", settings)
    return loaded.version


def version_tags(home: Path, version: int) -> dict[str, str]:
    from mlflow import MlflowClient

    settings = settings_of(home)
    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    tags = client.get_model_version(settings.registry.model_name, str(version)).tags
    return {k: v for k, v in tags.items() if k.startswith("metric.") or k == "data_hash"}


def study_trials(home: Path) -> list[tuple[str, str, int]]:
    """Trials per Optuna study and state in a home's SQLite study storage."""
    import sqlite3

    con = sqlite3.connect(home / "optuna.db")
    try:
        query = "SELECT s.study_name, t.state, count(*) FROM trials t JOIN studies s USING (study_id) GROUP BY 1, 2"
        return sorted(con.execute(query).fetchall())
    finally:
        con.close()


def read_scores(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    return frame[["account_id", "product", "propensity"]].sort_values(["account_id", "product"]).reset_index(drop=True)


@dataclass(frozen=True)
class World:
    """The raw export and reference homes after each stage of an uninterrupted run."""

    root: Path
    raw: Path
    empty: Path
    consolidated: Path
    featured: Path
    trained_once: Path
    trained_twice: Path
    scored: Path
    promoted: Path

    def copy(self, stage: Path, name: str) -> Path:
        """A fresh copy of a reference home (it must not be in use)."""
        target = self.root / name
        shutil.copytree(stage, target, ignore=shutil.ignore_patterns(homelock_name()))
        return target


def homelock_name() -> str:
    from xsell.homelock import LOCK_NAME

    return LOCK_NAME


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("faults")
    generator = load_settings(home=root / "gen", **{"generator.accounts": ACCOUNTS}).generator  # type: ignore[arg-type]
    generator = generator.model_copy(update={"start": START, "end": END})
    generate_raw(root / "raw", generator, SEED)
    home = root / "ref"
    stages: dict[str, Path] = {"empty": root / "empty"}
    (root / "empty").mkdir()

    def snapshot(name: str) -> None:
        assert wait_no_leftovers(home) == []
        stages[name] = root / f"stage-{name}"
        shutil.copytree(home, stages[name], ignore=shutil.ignore_patterns(homelock_name()))

    ok(xsell(home, "consolidate", "--raw", str(root / "raw")))
    snapshot("consolidated")
    ok(xsell(home, "features", "--from", START, "--to", END))
    snapshot("featured")
    ok(xsell(home, "train", "--as-of", CHAMPION_AS_OF, "--trials", str(TRIALS)))
    snapshot("trained_once")
    ok(xsell(home, "train", "--trials", str(TRIALS)))
    snapshot("trained_twice")
    ok(xsell(home, "score", "--as-of", SCORE_AS_OF, "--out", str(root / "ref-scores.csv")))
    snapshot("scored")
    promoted = root / "stage-promoted"
    shutil.copytree(stages["trained_twice"], promoted)
    ok(xsell(promoted, "registry", "promote", "--force", "--reason", "fault suite"))
    print(f"reference homes built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    yield World(root=root, raw=root / "raw", promoted=promoted, **stages)  # type: ignore[arg-type]


def after_kill(result: subprocess.CompletedProcess[str], home: Path) -> None:
    """The command died at its fault point; nothing it started runs on; warehouse and registry open."""
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr[-2000:])
    assert wait_no_leftovers(home) == []
    if (home / "warehouse.duckdb").exists():
        table_counts(home, ("c360",))
    if (home / "mlflow.db").exists():
        registry_state(home)


# ---- consolidate ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("point", "stage"), [("consolidate.staged", "empty"), ("consolidate.loading", "consolidated")])
def test_consolidate_killed_then_rerun(world: World, point: str, stage: str) -> None:
    home = world.copy(getattr(world, stage), f"consolidate-{point}")
    after_kill(xsell(home, "consolidate", "--raw", str(world.raw), fault=point), home)
    if stage == "consolidated":  # the transaction never committed: the warehouse is as it was
        assert table_counts(home, ("c360", "rejected")) == table_counts(world.consolidated, ("c360", "rejected"))
    ok(xsell(home, "consolidate", "--raw", str(world.raw)))
    assert table_counts(home, ("c360", "rejected")) == table_counts(world.consolidated, ("c360", "rejected"))
    assert wait_no_leftovers(home) == []


# ---- features ------------------------------------------------------------------------------------------------
def test_features_killed_then_rerun(world: World) -> None:
    home = world.copy(world.consolidated, "features")
    after_kill(xsell(home, "features", "--from", START, "--to", END, fault="features.storing"), home)
    ok(xsell(home, "features", "--from", START, "--to", END))
    assert table_counts(home, ("features",)) == table_counts(world.featured, ("features",))
    assert wait_no_leftovers(home) == []


# ---- train ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["train.tuning", "train.fitting", "train.logging", "train.registration"])
def test_train_killed_then_rerun(world: World, point: str) -> None:
    # given a home with a champion (v1), when the next training dies at `point`
    home = world.copy(world.trained_once, f"train-{point}")
    after_kill(xsell(home, "train", "--trials", str(TRIALS), fault=point), home)
    assert champion_loads(home) == 1
    # then a rerun registers exactly one more version, as the uninterrupted run did, and no run stays RUNNING
    # (a version cut short at registration is deleted; MLflow never reuses its number, so roles are compared)
    ok(xsell(home, "train", "--trials", str(TRIALS)))
    versions, aliases, running = registry_state(home)
    ref_versions, ref_aliases, _ = registry_state(world.trained_twice)
    assert len(versions) == len(ref_versions) == 2 and running == []
    assert aliases == {"champion": versions[0], "challenger": versions[-1]}
    assert ref_aliases == {"champion": ref_versions[0], "challenger": ref_versions[-1]}
    assert study_trials(home) == study_trials(world.trained_twice)  # N trials run once: none lost, none extra
    tags, ref_tags = version_tags(home, versions[-1]), version_tags(world.trained_twice, ref_versions[-1])
    # the study kept the trial finished before a kill in tuning and ran only the missing one, with the parameters the
    # uninterrupted run sampled (the sampler's random state is saved with each trial and restored on resume,
    # training/study.py): the same best trial, the same fit, the same metrics, whichever point the kill hit
    assert tags == ref_tags
    assert champion_loads(home) == 1
    assert wait_no_leftovers(home) == []


# ---- promote -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["promote.moving", "promote.recording"])
def test_promote_killed_then_rerun(world: World, point: str) -> None:
    home = world.copy(world.trained_twice, f"promote-{point}")
    args = ("registry", "promote", "--force", "--reason", "fault suite")
    after_kill(xsell(home, *args, fault=point), home)
    assert champion_loads(home) in (1, 2)  # before the commit point v1 serves, after it v2: never nothing
    rerun = xsell(home, *args)
    # a kill after the commit point already made v2 champion: the rerun then says so (exit 1 or 2, one line)
    assert rerun.returncode in (0, 1, 2) and "Traceback" not in rerun.stderr, rerun.stderr[-2000:]
    assert registry_state(home)[:2] == registry_state(world.promoted)[:2]
    assert champion_loads(home) == 2
    assert wait_no_leftovers(home) == []


# ---- score ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["score.publishing", "score.shadow"])
def test_score_killed_then_rerun(world: World, point: str) -> None:
    home = world.copy(world.trained_twice, f"score-{point}")
    out = home.parent / f"scores-{point}.csv"
    after_kill(xsell(home, "score", "--as-of", SCORE_AS_OF, "--out", str(out), fault=point), home)
    assert champion_loads(home) == 1
    ok(xsell(home, "score", "--as-of", SCORE_AS_OF, "--out", str(out)))
    pd.testing.assert_frame_equal(read_scores(out), read_scores(world.root / "ref-scores.csv"))
    assert table_counts(home, ("serving",)) == table_counts(world.scored, ("serving",))
    assert registry_state(home)[2] == []
    assert wait_no_leftovers(home) == []


# ---- two writers on one home ---------------------------------------------------------------------------------
def test_two_concurrent_trains_run_one_after_the_other(world: World) -> None:
    home = world.copy(world.featured, "concurrent")
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, TOKEN_ENV, "MLFLOW_TRACKING_URI")} | ENV
    argv = [sys.executable, "-c", "from flows.cli import run; run()", "--home", str(home), "--no-progress"]
    first = subprocess.Popen([*argv, "train", "--trials", str(TRIALS)], env=env, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen([*argv, "train", "--trials", str(TRIALS)], env=env, stderr=subprocess.PIPE, text=True)
    errors = [p.communicate(timeout=2 * TIMEOUT)[1] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], errors
    assert sum("waiting for home" in e for e in errors) == 1  # the one that came second said who held the home
    versions, aliases, running = registry_state(home)
    assert versions == [1, 2] and running == []
    assert aliases == {"champion": 1, "challenger": 2}
    assert wait_no_leftovers(home) == []
