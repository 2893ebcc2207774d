"""`xsell train`: tune and register a model on the warehouse's labelled snapshots or on your own table.

The flows are imported inside the commands, after `command_settings` has put Prefect's state under the home.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from features.store import require_warehouse
from flows.console import OptionError, err_console, friendly_errors
from flows.context import command_settings, print_json, with_progress
from flows.options import optional_day
from flows.ui_cli import command_line
from training.periods import parse_grain

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
        require_warehouse(settings)  # fail fast, before the orchestrator starts
        day = optional_day(as_of, "--as-of")
        from flows.train import train_flow

        result = with_progress(settings, train_flow, settings=settings, as_of=day, trials=trials, timeout=timeout)
    err_console.print(result.plan, highlight=False, soft_wrap=True)
    err_console.print(f"registered {result.name} version {result.version} (aliases: {', '.join(result.aliases)})")
    err_console.print(f"MLflow UI: {command_line(settings, 'ui')}", highlight=False, markup=False, soft_wrap=True)
    print_json(result.registration())
