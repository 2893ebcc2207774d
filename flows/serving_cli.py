"""`xsell score`, `predict` and `serve`: batch scores of the eligible pairs at a date, scores of your own table, and
the scoring API.

The flows are imported inside the commands, after `command_settings` has put Prefect's state under the home.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploy.api.app import serve as serve_api
from features.store import require_warehouse
from flows.console import err_console, friendly_errors
from flows.context import command_settings, output, print_json, with_progress
from flows.options import option_day
from registry.models import load_model
from serving.scoring import TABLE_FORMATS, predict_table, read_table, write_table

commands = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@commands.command()
@friendly_errors
def score(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option(help="Score the eligible pairs of this as-of date, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="Output file, .csv or .parquet.")],
    model: Annotated[str | None, typer.Option(help="Model URI (default models:/NAME@champion).")] = None,
) -> None:
    """Score every eligible account x product at a date with the champion (or --model): tiers, reasons, next
    product, a CRM upsert file and the accounts that entered ready_now; the challenger is scored in shadow."""
    settings = command_settings(ctx)
    day = option_day(as_of, "--as-of")
    target = output(settings, out, "--out", suffixes=TABLE_FORMATS)
    require_warehouse(settings)
    from flows.compute import on_compute
    from flows.score import score_flow

    result = with_progress(
        settings, on_compute(score_flow, settings), as_of=day, out=target, settings=settings, model_uri=model
    )
    tiers = ", ".join(f"{k} {v:,}" for k, v in result.tiers.items())
    err_console.print(
        f"scored {result.rows:,} account x product rows ({result.accounts:,} accounts; {tiers}) with "
        f"{result.model_name} v{result.model_version} -> {result.out}"
    )
    err_console.print(f"CRM upsert file: {result.crm}")
    err_console.print(f"alerts ({result.alert_rows:,} entered ready_now): {result.alerts}")
    shadow = result.shadow
    if shadow:
        err_console.print(
            f"shadow: challenger v{shadow['challenger_version']} vs champion v{shadow['champion_version']}: "
            f"PSI {shadow['psi']:.3f}, KS {shadow['ks']:.3f}, Spearman {shadow['spearman']:.3f}, "
            f"top-decile overlap {shadow['top_decile_overlap']:.0%}"
        )
    print_json(result.to_dict())


@commands.command()
@friendly_errors
def predict(
    ctx: typer.Context,
    table: Annotated[Path, typer.Option(help="CSV or Parquet feature table to score.")],
    model: Annotated[str, typer.Option(help="Model URI, e.g. models:/NAME@champion or models:/NAME/3.")],
    out: Annotated[Path, typer.Option(help="Output file, .csv or .parquet (columns id, propensity).")],
) -> None:
    """Score your own feature table with a registered model."""
    settings = command_settings(ctx)
    target = output(settings, out, "--out", suffixes=TABLE_FORMATS)
    if not table.is_file():
        raise FileNotFoundError(f"{table}: feature table not found")
    loaded = load_model(model, settings)
    scores = predict_table(loaded.model, read_table(table))
    write_table(scores, target)
    err_console.print(f"scored {len(scores):,} rows with {loaded.name} v{loaded.version} -> {out}")
    print_json({"out": str(out), "rows": len(scores), "model_name": loaded.name, "model_version": loaded.version})


@commands.command()
@friendly_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default api.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default api.port, 8000).")] = None,
) -> None:
    """Serve the scoring API: champion scores with tier and reasons by account id or feature rows, the challenger
    in shadow, reloads when the champion alias moves (see README, Scoring API)."""
    settings = command_settings(ctx, **{"api.host": host, "api.port": port})
    err_console.print(f"starting the scoring API on http://{settings.api.host}:{settings.api.port} (docs at /docs)")
    serve_api(settings)
