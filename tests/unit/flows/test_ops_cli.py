"""The demo's closing summary: each step's time, and next commands that run as printed in a fresh shell."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from subprocess import PIPE

from factories import make_settings

from flows.console import err_console
from flows.demo import STEPS
from flows.ops_cli import demo_next_steps, print_next_steps, print_timings


def test_the_step_table_lists_each_step_then_the_rest_and_the_total() -> None:
    timings = tuple((step, float(i + 1)) for i, step in enumerate(STEPS))
    with err_console.capture() as captured:
        print_timings(timings, wall_seconds=40.0)
    rows = [line.split() for line in captured.get().splitlines() if line.startswith("  ")]
    assert [" ".join(row[:-2]) for row in rows[: len(STEPS)]] == list(STEPS)
    assert rows[len(STEPS)] == ["start-up,", "other", "4.0", "s"]  # 40 s wall - 36 s of steps
    assert rows[-1][:3] == ["total", "40.0", "s"] and "(0.7 min)" in captured.get()


def test_the_demo_names_its_steps_in_the_order_they_run() -> None:
    assert STEPS == (
        "generate",
        "consolidate",
        "features",
        "train champion",
        "train challenger",
        "score",
        "monitor",
        "report",
    )


def test_every_suggested_command_runs_as_printed_in_a_fresh_shell(tmp_path: Path, clean_env: None) -> None:
    # given the demo's closing suggestions, printed as a user sees them (a home path with a space in it)
    settings = make_settings(tmp_path / "demo home")
    with err_console.capture() as captured:
        print_next_steps(demo_next_steps(settings))
    text = captured.get()
    lines = [line for line in text.splitlines() if re.match(r"  \S[^:]*: ", line)]
    assert [line.split(":")[0].strip() for line in lines] == ["registry", "MLflow UI", "Prefect flow runs"]
    assert "mlflow ui" not in text and "MLFLOW_SERVER_ENABLE_JOB_EXECUTION" not in text
    # when each is run through a shell that has no virtualenv activated (PATH without it), with --help
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "PREFECT_API_URL")}
    env["PATH"] = "/usr/bin:/bin"
    commands = [line.split(": ", 1)[1].strip() for line in lines]
    running = [
        subprocess.Popen(["/bin/sh", "-c", f"{command} --help"], stdout=PIPE, stderr=PIPE, text=True, env=env)
        for command in commands
    ]
    for command, process in zip(commands, running, strict=True):
        out, err = process.communicate(timeout=120)
        # then xsell answers with that command's help, on the demo's home
        words = shlex.split(command)
        assert words[1:3] == ["--home", str((tmp_path / "demo home").resolve())]
        assert process.returncode == 0, f"{command}: {err}"
        assert f"Usage: xsell {words[3]}" in out.replace("\n", " "), out
