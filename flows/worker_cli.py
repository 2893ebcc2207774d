"""`xsell tune-worker`: join the Optuna study of a running `xsell train` (team mode) and run its remaining trials."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from flows.console import OptionError, err_console, friendly_errors
from flows.context import command_settings, print_json
from flows.options import optional_day
from training.pipeline import load_labelled_frame, tune_propensity_worker
from training.study import check_shared_storage

commands = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@commands.command(name="tune-worker")
@friendly_errors
def tune_worker_command(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option(help="The coordinator's --as-of: train rows whose labels matured by then.")
    ] = None,
    frame: Annotated[
        Path | None, typer.Option(help="Training rows as Parquet (the coordinator's) instead of this home's warehouse.")
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="Study to join; refused when this worker's rows name another.")
    ] = None,
    worker: Annotated[
        int, typer.Option(min=1, help="Worker number (offsets the sampler seed; unique per worker).")
    ] = 1,
    timeout: Annotated[float | None, typer.Option(help="Stop claiming trials after this many seconds.")] = None,
) -> None:
    """Join the study of a running `xsell train` (same data, settings and training.optuna_storage on a database
    server) and run its remaining trials; never fits or registers (the coordinator does, once)."""
    settings = command_settings(ctx)
    check_shared_storage(settings.optuna_uri)
    if frame is not None:
        if as_of is not None:
            raise OptionError("give --frame or --as-of, not both")
        if not frame.is_file():
            raise FileNotFoundError(f"{frame}: training rows not found")
        rows = pd.read_parquet(frame)
    else:
        rows = load_labelled_frame(settings, optional_day(as_of, "--as-of"))
    name, ran = tune_propensity_worker(rows, settings, study_name=study, worker=worker, timeout=timeout)
    err_console.print(f"worker {worker}: ran {ran} trials of study {name}")
    print_json({"study": name, "worker": worker, "trials_run": ran})
