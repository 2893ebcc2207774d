"""`xsell generate`, `consolidate` and `features`: a raw export, the Customer 360 warehouse, feature snapshots.

The flows are imported inside the commands, after `command_settings` has put Prefect's state under the home (Prefect reads its
settings when imported).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from features.build import export_snapshot
from features.calendar import parse_day
from features.catalog import write_catalog
from features.errors import FeatureError
from features.store import require_warehouse, warehouse
from flows.console import err_console, friendly_errors, out_console, showing_progress
from flows.context import command_settings, output, print_json, with_progress
from flows.options import month_range, named
from ingest.pipeline import LoadSummary, check_raw_dir
from synth import generate_raw
from xsell import progress
from xsell.settings import Settings

if TYPE_CHECKING:
    from flows.features import FeatureBuild

commands = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@commands.command()
@friendly_errors
def generate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder to write the raw export into.")],
    accounts: Annotated[int | None, typer.Option(help="Number of CRM accounts.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same export).")] = None,
    start_month: Annotated[str | None, typer.Option("--start", help="First month, YYYY-MM.")] = None,
    end: Annotated[str | None, typer.Option(help="Last month, YYYY-MM.")] = None,
    drift_at: Annotated[str | None, typer.Option(help="Inject drift from this month, YYYY-MM.")] = None,
    drift_kind: Annotated[str | None, typer.Option(help="Kind of drift: covariate or concept.")] = None,
) -> None:
    """Write a synthetic raw export that follows the data contract, defects included."""
    settings = command_settings(
        ctx,
        seed=seed,
        **{
            "generator.accounts": accounts,
            "generator.start": start_month,
            "generator.end": end,
            "generator.drift_at": drift_at,
            "generator.drift_kind": drift_kind,
        },
    )
    output(settings, out, "--out", folder=True)
    with showing_progress(settings.progress):
        reported = progress.fractions("generate", "generating export")
        manifest = generate_raw(out, settings.generator, settings.seed, progress=reported)
    rows = sum(t["rows_written"] for t in manifest.to_dict()["tables"].values())
    err_console.print(f"wrote {rows:,} rows for {settings.generator.accounts:,} accounts to {out}")
    out_console.print(str(out))


@commands.command()
@friendly_errors
def consolidate(
    ctx: typer.Context,
    raw: Annotated[Path, typer.Option(help="Raw export folder (see the data contract).")],
) -> None:
    """Consolidate a raw export into the Customer 360 warehouse and write the data-quality report."""
    settings = command_settings(ctx)
    print_load_summary(run_consolidation(raw, settings))


def run_consolidation(raw: Path, settings: Settings) -> LoadSummary:
    """Run the `consolidate` flow with progress bars (the export folder is checked before Prefect starts)."""
    check_raw_dir(raw)
    from flows.consolidate import consolidate_flow

    return with_progress(settings, consolidate_flow, raw_dir=raw.resolve(), settings=settings)


def print_load_summary(summary: LoadSummary) -> None:
    """The headline counts and paths of a consolidation on stderr, its summary as JSON on stdout."""
    totals = summary.totals
    err_console.print(
        f"kept {totals['rows_kept']:,} of {totals['rows_read']:,} rows "
        f"(duplicates {totals['duplicates']:,}, invalid {totals['invalid']:,}, "
        f"future-dated {totals['future_dated']:,}, orphans {totals['orphans']:,})"
    )
    err_console.print(f"warehouse: {summary.warehouse}")
    err_console.print(f"data-quality report: {summary.report_html}")
    print_json(summary.to_dict())


@commands.command(name="features")
@friendly_errors
def features_command(
    ctx: typer.Context,
    from_month: Annotated[
        str | None, typer.Option("--from", help="First month of the range, YYYY-MM (with --to).")
    ] = None,
    to_month: Annotated[str | None, typer.Option("--to", help="Last month of the range, YYYY-MM (inclusive).")] = None,
    as_of: Annotated[str | None, typer.Option(help="One snapshot's as-of date, YYYY-MM-DD (with --out).")] = None,
    out: Annotated[Path | None, typer.Option(help="Parquet file for the --as-of snapshot's rows.")] = None,
) -> None:
    """Build point-in-time feature snapshots: a month range into the warehouse, or one as-of date to Parquet."""
    usage = "give --from YYYY-MM --to YYYY-MM, or --as-of YYYY-MM-DD --out FILE.parquet"
    if as_of is not None:
        if from_month is not None or to_month is not None:
            raise FeatureError(f"--as-of cannot be combined with --from/--to: {usage}")
        if out is None:
            raise FeatureError("--as-of needs --out FILE.parquet")
        day = named("--as-of", parse_day, as_of)
        settings = command_settings(ctx)
        summary = export_features(day, output(settings, out, "--out", suffixes=(".parquet",)), settings)
        err_console.print(f"wrote {summary['rows']:,} rows of snapshot {day} to {out}")
        err_console.print(f"feature catalog: {summary['catalog']}")
        print_json(summary)
        return
    if from_month is None or to_month is None or out is not None:
        raise FeatureError(usage)
    month_range(from_month, to_month)
    settings = command_settings(ctx)
    built = run_feature_build(from_month, to_month, settings)
    err_console.print(
        f"materialised {len(built.snapshots)} snapshots: {built.rows:,} rows, "
        f"{built.labelled_rows:,} labelled, {built.positives:,} positives"
    )
    err_console.print(f"feature catalog: {built.catalog}")
    print_json(built.to_dict())


def run_feature_build(from_month: str, to_month: str, settings: Settings) -> FeatureBuild:
    """Run the `build-features` flow with progress bars (the warehouse is checked before Prefect starts)."""
    require_warehouse(settings)
    from flows.compute import on_compute
    from flows.features import build_features_flow

    flow = on_compute(build_features_flow, settings)
    return with_progress(settings, flow, from_month=from_month, to_month=to_month, settings=settings)


def export_features(as_of: Any, out: Path, settings: Settings) -> dict[str, Any]:
    """Write one snapshot to Parquet (read when materialised by this code, else built) and the catalog."""
    with warehouse(settings, read_only=True) as con:
        rows = export_snapshot(con, as_of, settings, out)
    catalog = write_catalog(settings.reports_dir, settings.features.horizon_days)
    return {"as_of": str(as_of), "out": str(out), "rows": rows, "catalog": str(catalog)}
