"""`xsell train` and `xsell tune-worker`: tune and register a model on the warehouse or on your own table, and join
a running study as a tuning worker.

The flows are imported inside the commands, after `command_settings` has put Prefect's state under the home.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.store import connect_warehouse
from flows.console import OptionError, err_console, friendly_errors
from flows.context import command_settings, print_json, with_progress
from flows.options import optional_day
from training.dataset import load_training_frame
from training.periods import parse_grain
from training.pipeline import tune_propensity_worker
from training.tuning import check_shared_storage

commands = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@commands.command()
@friendly_errors
def train(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option(help="Train on snapshots whose labels matured by this date (default: data end).")
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Optuna trials (default training.trials).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop tuning after this many seconds.")] = None,
    table: Annotated[Path | None, typer.Option(help="Train on your own CSV/Parquet feature table instead.")] = None,
    label: Annotated[str | None, typer.Option(help="Label column of --table (0/1).")] = None,
    time: Annotated[str | None, typer.Option("--time", help="Time column of --table (time-based CV).")] = None,
    id_col: Annotated[str | None, typer.Option("--id", help="Id column of --table (kept out of the features).")] = None,
    time_grain: Annotated[
        str | None,
        typer.Option(
            help="Periods of --time: day, week, month or quarter (dates), N equal-count periods, or value (one per "
            "distinct value); default automatic (README, Bring your own table)."
        ),
    ] = None,
    purge_periods: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Whole periods of --time purged before each validation period and the holdout (default 1 when "
            "--time is binned, 0 with one period per value).",
        ),
    ] = None,
    model_name: Annotated[str | None, typer.Option(help="Registered model name (default registry.model_name).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Tuning worker processes on one shared study (default training.workers; >1 needs "
            "training.optuna_storage on a database server, see README Team mode)."
        ),
    ] = None,
) -> None:
    """Tune LightGBM with Optuna under time-based CV, calibrate, evaluate, and register a challenger in MLflow."""
    settings = command_settings(
        ctx, **{"registry.model_name": model_name, "training.timeout_seconds": timeout, "training.workers": workers}
    )
    if table is not None:
        if label is None:
            raise OptionError("--table needs --label COL")
        if not table.is_file():
            raise FileNotFoundError(f"{table}: feature table not found")
        if (time_grain is not None or purge_periods is not None) and time is None:
            raise OptionError("--time-grain and --purge-periods go with --time COL")
        grain = parse_grain(time_grain)  # a bad value fails before the orchestrator starts
        from flows.train import train_table_flow

        result = with_progress(
            settings,
            train_table_flow,
            table=table.resolve(),
            label=label,
            settings=settings,
            time_col=time,
            id_col=id_col,
            trials=trials,
            time_grain=grain,
            purge_periods=purge_periods,
        )
    else:
        if label or time or id_col or time_grain is not None or purge_periods is not None:
            raise OptionError("--label, --time, --time-grain, --purge-periods and --id go with --table FILE")
        connect_warehouse(settings, read_only=True).close()  # fail fast, before the orchestrator starts
        day = optional_day(as_of, "--as-of")
        from flows.train import train_flow

        result = with_progress(settings, train_flow, settings=settings, as_of=day, trials=trials, timeout=timeout)
    err_console.print(result.plan, highlight=False, soft_wrap=True)
    err_console.print(f"registered {result.name} version {result.version} (aliases: {', '.join(result.aliases)})")
    err_console.print(f"MLflow UI: mlflow ui --backend-store-uri {settings.mlflow_uri}")
    print_json(result.registration())


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
        con = connect_warehouse(settings)
        try:
            rows = load_training_frame(con, settings, optional_day(as_of, "--as-of"))
        finally:
            con.close()
    name, ran = tune_propensity_worker(rows, settings, study_name=study, worker=worker, timeout=timeout)
    err_console.print(f"worker {worker}: ran {ran} trials of study {name}")
    print_json({"study": name, "worker": worker, "trials_run": ran})
