"""The `xsell` command line: every command builds one Settings object and runs a flow or a plain function."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from flows.console import (
    ConsoleStream,
    OptionError,
    RichSink,
    err_console,
    expected_errors,
    friendly_errors,
    make_progress,
    out_console,
    quiet_background_errors,
    silence_stderr_at_exit,
)
from flows.registry_cli import registry_app
from flows.services_cli import services_app
from xsell import homelock, progress, reaper
from xsell.fileio import check_output
from xsell.logs import DropExpectedErrors, OneLine, configure_logging
from xsell.runtime import prepare_environment
from xsell.settings import Settings, load_settings

app = typer.Typer(
    name="xsell",
    help="Cross-sell propensity platform: raw exports -> Customer 360 -> features -> models -> scores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(registry_app, name="registry")
app.add_typer(services_app, name="services")


@dataclass
class _Global:
    config: Path | None
    overrides: dict[str, Any]

    def settings(self, **more: Any) -> Settings:
        settings = load_settings(self.config, **{**self.overrides, **more})
        prepare_environment(settings.home, settings.log_level)
        return settings


def _state(ctx: typer.Context) -> _Global:
    obj = ctx.obj
    if not isinstance(obj, _Global):  # pragma: no cover - the callback always sets it
        raise RuntimeError("CLI state missing")
    return obj


@app.callback()
def main(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="Folder holding all state (env XSELL_HOME; default ./.xsell).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML settings file (env XSELL_CONFIG).", exists=False, dir_okay=False)
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="Log level: DEBUG, INFO, WARNING, ERROR.")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines instead of key=value text.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Do not draw progress bars.")] = False,
    wait_timeout: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds a writing command waits for another one on the same home (default runtime.lock_timeout).",
        ),
    ] = None,
) -> None:
    """Global options, read before any command."""
    overrides: dict[str, Any] = {"home": home, "log_level": log_level, "runtime.lock_timeout": wait_timeout}
    if log_json:
        overrides["log_json"] = True
    if no_progress:
        overrides["progress"] = False
    ctx.obj = _Global(config=config, overrides=overrides)


#: Commands that write to the home: one at a time per home (the others wait, see `xsell.homelock`).
WRITERS = frozenset(
    {"consolidate", "features", "train", "score", "monitor", "simulate", "demo", "report", "promote", "rollback"}
)


def _start(ctx: typer.Context, **more: Any) -> Settings:
    settings = _state(ctx).settings(**more)
    handler = configure_logging(settings.log_level, settings.log_json, stream=ConsoleStream())  # type: ignore[arg-type]
    handler.addFilter(DropExpectedErrors((*expected_errors(), RuntimeError)))  # the CLI prints these in one line
    if settings.log_level != "DEBUG":  # one-line errors; tracebacks only with --log-level DEBUG
        handler.addFilter(OneLine())
        quiet_background_errors()
    _lock_home(ctx, settings)
    return settings


def _lock_home(ctx: typer.Context, settings: Settings) -> None:
    """Take the home's writer lock for a writing command (waiting up to runtime.lock_timeout), until it ends."""
    if ctx.info_name in WRITERS:
        held = homelock.acquire(settings.home, settings.runtime.lock_timeout)
        ctx.call_on_close(held.release)


def _output(settings: Settings, path: Path, option: str, suffixes: tuple[str, ...] = (), folder: bool = False) -> Path:
    """`path` resolved, once it is known to stay off the home's state and to end as its writer writes."""
    return check_output(path, option, settings.state_paths, suffixes=suffixes, folder=folder)


def _print_json(payload: Any) -> None:
    out_console.print_json(json.dumps(payload, default=str))


@app.command()
@friendly_errors
def generate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder to write the raw export into.")],
    accounts: Annotated[int | None, typer.Option(help="Number of CRM accounts.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same export).")] = None,
    start: Annotated[str | None, typer.Option(help="First month, YYYY-MM.")] = None,
    end: Annotated[str | None, typer.Option(help="Last month, YYYY-MM.")] = None,
    drift_at: Annotated[str | None, typer.Option(help="Inject drift from this month, YYYY-MM.")] = None,
    drift_kind: Annotated[str | None, typer.Option(help="Kind of drift: covariate or concept.")] = None,
) -> None:
    """Write a synthetic raw export that follows the data contract, defects included."""
    settings = _start(
        ctx,
        seed=seed,
        **{
            "generator.accounts": accounts,
            "generator.start": start,
            "generator.end": end,
            "generator.drift_at": drift_at,
            "generator.drift_kind": drift_kind,
        },
    )
    from synth import generate_raw

    _output(settings, out, "--out", folder=True)
    bar = make_progress(settings.progress)
    last = {"value": 0.0}

    with bar:
        task = bar.add_task("generating export", total=1.0)

        def on_progress(stage: str, fraction: float) -> None:
            last["value"] = fraction
            bar.update(task, completed=fraction, description=f"generating: {stage}")

        manifest = generate_raw(out, settings.generator, settings.seed, progress=on_progress)
        bar.update(task, completed=1.0)
    rows = sum(t["rows_written"] for t in manifest.to_dict()["tables"].values())
    err_console.print(f"wrote {rows:,} rows for {settings.generator.accounts:,} accounts to {out}")
    out_console.print(str(out))


@app.command()
@friendly_errors
def consolidate(
    ctx: typer.Context,
    raw: Annotated[Path, typer.Option(help="Raw export folder (see the data contract).")],
) -> None:
    """Consolidate a raw export into the Customer 360 warehouse and write the data-quality report."""
    settings = _start(ctx)
    summary = run_consolidation(raw, settings)
    _print_summary(summary)


def run_consolidation(raw: Path, settings: Settings) -> dict[str, Any]:
    """Run the `consolidate` flow with progress bars."""
    from flows.consolidate import consolidate_flow
    from ingest.pipeline import check_raw_dir

    check_raw_dir(raw)  # fail fast, before the orchestrator starts

    bar = make_progress(settings.progress)
    with bar, progress.reporting_to(RichSink(bar)):
        result: dict[str, Any] = consolidate_flow(raw_dir=raw.resolve(), settings=settings)
    return result


def _print_summary(summary: dict[str, Any]) -> None:
    totals = summary["totals"]
    err_console.print(
        f"kept {totals['rows_kept']:,} of {totals['rows_read']:,} rows "
        f"(duplicates {totals['duplicates']:,}, invalid {totals['invalid']:,}, "
        f"future-dated {totals['future_dated']:,}, orphans {totals['orphans']:,})"
    )
    err_console.print(f"warehouse: {summary['warehouse']}")
    err_console.print(f"data-quality report: {summary['report_html']}")
    _print_json(summary)


@app.command()
@friendly_errors
def demo(
    ctx: typer.Context,
    accounts: Annotated[int, typer.Option(help="Accounts in the generated export.")] = 2000,
    raw: Annotated[Path | None, typer.Option(help="Where to write the export (default HOME/demo-raw).")] = None,
    trials: Annotated[int, typer.Option(help="Optuna trials of each of the demo's two trainings.")] = 20,
) -> None:
    """Run the platform end to end on the embedded defaults: generate, consolidate, build feature snapshots, train a
    champion as of three months before the data end and a challenger at the end, score the latest snapshot with
    the champion (the challenger in shadow), monitor it (decision recorded, not acted on) and write the governance
    site."""
    settings = _start(ctx, **{"generator.accounts": accounts})
    from synth import generate_raw

    raw_dir = raw or settings.home / "demo-raw"
    _output(settings, raw_dir, "--raw", folder=True)
    bar = make_progress(settings.progress)
    with bar:
        task = bar.add_task("generating export", total=1.0)
        generate_raw(
            raw_dir,
            settings.generator,
            settings.seed,
            progress=lambda stage, f: bar.update(task, completed=f, description=f"generating: {stage}"),
        )
        bar.update(task, completed=1.0)
    summary = run_consolidation(raw_dir, settings)
    _print_summary(summary)
    built = run_feature_build(settings.generator.start, settings.generator.end, settings)
    err_console.print(
        f"materialised {len(built['snapshots'])} feature snapshots: {built['rows']:,} rows, "
        f"{built['labelled_rows']:,} labelled, {built['positives']:,} positives"
    )
    from flows.compute import on_compute
    from flows.score import score_flow
    from flows.train import train_flow

    dates = sorted(date.fromisoformat(str(r["as_of"])[:10]) for r in built["snapshots"])
    earlier = dates[-4] if len(dates) >= 4 else None
    trained = []
    for as_of in (earlier, None):
        result = _run_flow(settings, train_flow, settings=settings, as_of=as_of, trials=trials, timeout=None)
        trained.append(result)
        err_console.print(
            f"trained as of {as_of or 'the data end'}: {result['name']} version {result['version']} "
            f"(aliases: {', '.join(result['aliases']) or 'none'})"
        )
    scores_out = settings.home / "scores" / f"scores-{dates[-1].isoformat()}.csv"
    scored = _run_flow(
        settings, on_compute(score_flow, settings), as_of=dates[-1], out=scores_out, settings=settings, model_uri=None
    )
    shadow = scored.get("shadow")
    err_console.print(
        f"scored {scored['rows']:,} account x product rows as of {dates[-1]} with {scored['model_name']} "
        f"v{scored['model_version']}" + (f"; challenger v{shadow['challenger_version']} in shadow" if shadow else "")
    )
    from flows.monitor import monitor_flow

    decision = _run_flow_result(settings, monitor_flow, as_of=dates[-1], settings=settings)
    err_console.print(
        f"monitored {decision.as_of}: [bold]{decision.decision}[/] (drift share {decision.drift_share:.2f}; "
        f"decision recorded, not acted on)"
    )
    site = run_report(settings)
    err_console.print(f"governance site: {site['pages']} pages over {len(site['months'])} months")
    err_console.print("\n[bold]demo outputs[/]")
    err_console.print(f"  raw export:          {raw_dir}")
    err_console.print(
        f"  warehouse:           {summary['warehouse']}  (schemas c360, rejected, features, meta, serving)"
    )
    err_console.print(f"  data-quality report: {summary['report_html']}")
    err_console.print(f"  feature catalog:     {built['catalog']}")
    err_console.print(f"  scores:              {scored['out']}")
    err_console.print(f"  CRM upsert file:     {scored['crm']}")
    err_console.print(f"  ready_now alerts:    {scored['alerts']}")
    err_console.print(f"  drift report:        {decision.report_html}")
    err_console.print(f"  decision:            {Path(decision.report_html).with_name('decision.json')}")
    err_console.print(f"  reports index:       {site['index']}  (open offline; zip reports/ to share)")
    err_console.print(f"  registry:            xsell --home {settings.home} registry status")
    err_console.print(
        f"  MLflow UI:           MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri {settings.mlflow_uri}"
    )


@app.command(name="features")
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
    from features.errors import FeatureError
    from features.grid import parse_day

    usage = "give --from YYYY-MM --to YYYY-MM, or --as-of YYYY-MM-DD --out FILE.parquet"
    if as_of is not None:
        if from_month is not None or to_month is not None:
            raise FeatureError(f"--as-of cannot be combined with --from/--to: {usage}")
        if out is None:
            raise FeatureError("--as-of needs --out FILE.parquet")
        day = _named("--as-of", parse_day, as_of)
        settings = _start(ctx)
        summary = export_features(day, _output(settings, out, "--out", suffixes=(".parquet",)), settings)
        err_console.print(f"wrote {summary['rows']:,} rows of snapshot {day} to {out}")
        err_console.print(f"feature catalog: {summary['catalog']}")
        _print_json(summary)
        return
    if from_month is None or to_month is None or out is not None:
        raise FeatureError(usage)
    _month_range(from_month, to_month)
    settings = _start(ctx)
    result = run_feature_build(from_month, to_month, settings)
    err_console.print(
        f"materialised {len(result['snapshots'])} snapshots: {result['rows']:,} rows, "
        f"{result['labelled_rows']:,} labelled, {result['positives']:,} positives"
    )
    err_console.print(f"feature catalog: {result['catalog']}")
    _print_json(result)


def run_feature_build(from_month: str, to_month: str, settings: Settings) -> dict[str, Any]:
    """Run the `build-features` flow with progress bars (the warehouse is checked before Prefect starts)."""
    from features.store import connect_warehouse

    connect_warehouse(settings, read_only=True).close()  # fail fast, before the orchestrator is imported
    from flows.compute import on_compute
    from flows.features import build_features_flow

    flow = on_compute(build_features_flow, settings)
    bar = make_progress(settings.progress)
    with bar, progress.reporting_to(RichSink(bar)):
        result: dict[str, Any] = flow(from_month=from_month, to_month=to_month, settings=settings)
    return result


def export_features(as_of: Any, out: Path, settings: Settings) -> dict[str, Any]:
    """Write one snapshot to Parquet (read when materialised by this code, else built) and the catalog."""
    from features.build import export_snapshot
    from features.catalog import write_catalog
    from features.store import connect_warehouse

    con = connect_warehouse(settings, read_only=True)
    try:
        rows = export_snapshot(con, as_of, settings, out)
    finally:
        con.close()
    catalog = write_catalog(settings.reports_dir, settings.features.horizon_days)
    return {"as_of": str(as_of), "out": str(out), "rows": rows, "catalog": str(catalog)}


def _named(option: str, parse: Any, value: str) -> Any:
    """`parse(value)`, its error message prefixed with the option it came from."""
    from features.errors import FeatureError

    try:
        return parse(value)
    except FeatureError as exc:
        raise FeatureError(f"{option}: {exc}") from None


def _month_range(from_month: str, to_month: str) -> None:
    """Refuse a --from/--to month range that is malformed or runs backwards, naming the option."""
    from features.errors import FeatureError
    from features.grid import parse_month

    if _named("--from", parse_month, from_month) > _named("--to", parse_month, to_month):
        raise FeatureError(f"--from {from_month} is after --to {to_month}")


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise OptionError(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


def _run_flow(settings: Settings, fn: Any, /, **kwargs: Any) -> dict[str, Any]:
    """Run a flow with progress bars drawn from `xsell.progress` (flow arguments by keyword)."""
    result: dict[str, Any] = _run_flow_result(settings, fn, **kwargs)
    return result


def _run_flow_result(settings: Settings, fn: Any, /, **kwargs: Any) -> Any:
    """Run a flow with progress bars; its result as the flow returns it (a dict or an object)."""
    bar = make_progress(settings.progress)
    with bar, progress.reporting_to(RichSink(bar)):
        return fn(**kwargs)


def run_report(settings: Settings) -> dict[str, Any]:
    """Run the `report` flow: the governance site under HOME/reports/."""
    from flows.report import report_flow

    return _run_flow(settings, report_flow, settings=settings)


@app.command()
@friendly_errors
def report(ctx: typer.Context) -> None:
    """Write the governance site HOME/reports/index.html: per month the data-quality report, drift report and
    decision, champion and challenger, model cards with tier and fairness tables, promotion verdicts and the audit
    trail, all linked; offline (relative links, no network), so reports/ can be zipped and moved."""
    settings = _start(ctx)
    summary = run_report(settings)
    err_console.print(
        f"governance site: {summary['pages']} pages, {len(summary['months'])} months, "
        f"{len(summary['model_versions'])} model versions, {summary['audit_events']} audit events"
    )
    err_console.print(f"open {summary['index']}")
    _print_json(summary)


@app.command()
@friendly_errors
def deploy(
    ctx: typer.Context,
    raw: Annotated[
        Path | None, typer.Option(help="Raw export folder the daily run consolidates (default schedules.raw_dir).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the deployments and their schedules; do not serve them.")
    ] = False,
) -> None:
    """Create the Prefect deployments on cron schedules (schedules.*: daily consolidate + score, weekly monitor,
    monthly retrain) and serve them until interrupted; needs a Prefect server (PREFECT_API_URL)."""
    settings = _start(ctx, **{"schedules.raw_dir": raw})
    if settings.schedules.scores_dir is not None:
        _output(settings, settings.schedules.scores_dir, "schedules.scores_dir", folder=True)
    from flows.schedules import build_deployments, plan_deployments, serve_deployments

    config = _state(ctx).config or (Path(os.environ["XSELL_CONFIG"]) if os.environ.get("XSELL_CONFIG") else None)
    plans = plan_deployments(settings, config=config)
    deployments = build_deployments(plans)
    for plan in plans:
        err_console.print(
            f"{plan.name:<24} {plan.cron:<14} {plan.timezone:<8} ({plan.setting}) flow {plan.flow_name}: "
            f"{plan.description}",
            highlight=False,
        )
    if dry_run:
        _print_json([plan.to_dict() for plan in plans])
        return
    err_console.print(f"serving {len(deployments)} deployments on {os.environ.get('PREFECT_API_URL')}; Ctrl+C stops")
    serve_deployments(deployments)


@app.command()
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
    settings = _start(
        ctx, **{"registry.model_name": model_name, "training.timeout_seconds": timeout, "training.workers": workers}
    )
    if table is not None:
        if label is None:
            raise OptionError("--table needs --label COL")
        if not table.is_file():
            raise FileNotFoundError(f"{table}: feature table not found")
        if (time_grain is not None or purge_periods is not None) and time is None:
            raise OptionError("--time-grain and --purge-periods go with --time COL")
        from flows.train import train_table_flow
        from training.periods import parse_grain

        grain = parse_grain(time_grain)  # a bad value fails before the orchestrator starts

        result = _run_flow(
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
        from features.store import connect_warehouse

        connect_warehouse(settings, read_only=True).close()  # fail fast, before the orchestrator starts
        from flows.train import train_flow

        day = _parse_day(as_of, "--as-of")
        result = _run_flow(settings, train_flow, settings=settings, as_of=day, trials=trials, timeout=timeout)
    err_console.print(result.get("plan", ""), highlight=False, soft_wrap=True)
    err_console.print(
        f"registered {result['name']} version {result['version']} (aliases: {', '.join(result['aliases'])})"
    )
    err_console.print(f"MLflow UI: mlflow ui --backend-store-uri {settings.mlflow_uri}")
    _print_json({k: v for k, v in result.items() if k != "plan"})


@app.command(name="tune-worker")
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
    settings = _start(ctx)
    from training.pipeline import load_labelled_frame, tune_propensity_worker
    from training.study import check_shared_storage

    check_shared_storage(settings.optuna_uri)
    if frame is not None:
        if as_of is not None:
            raise OptionError("give --frame or --as-of, not both")
        if not frame.is_file():
            raise FileNotFoundError(f"{frame}: training rows not found")
        import pandas as pd

        rows = pd.read_parquet(frame)
    else:
        rows = load_labelled_frame(settings, _parse_day(as_of, "--as-of"))
    name, ran = tune_propensity_worker(rows, settings, study_name=study, worker=worker, timeout=timeout)
    err_console.print(f"worker {worker}: ran {ran} trials of study {name}")
    _print_json({"study": name, "worker": worker, "trials_run": ran})


@app.command()
@friendly_errors
def score(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option(help="Score the eligible pairs of this as-of date, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="Output file, .csv or .parquet.")],
    model: Annotated[str | None, typer.Option(help="Model URI (default models:/NAME@champion).")] = None,
) -> None:
    """Score every eligible account x product at a date with the champion (or --model): tiers, reasons, next
    product, a CRM upsert file and the accounts that entered ready_now; the challenger is scored in shadow."""
    settings = _start(ctx)
    day = _parse_day(as_of, "--as-of")
    from features.store import connect_warehouse
    from serving.scoring import TABLE_FORMATS

    target = _output(settings, out, "--out", suffixes=TABLE_FORMATS)
    connect_warehouse(settings, read_only=True).close()
    from flows.compute import on_compute
    from flows.score import score_flow

    result = _run_flow(
        settings, on_compute(score_flow, settings), as_of=day, out=target, settings=settings, model_uri=model
    )
    tiers = ", ".join(f"{k} {v:,}" for k, v in result["tiers"].items())
    err_console.print(
        f"scored {result['rows']:,} account x product rows ({result['accounts']:,} accounts; {tiers}) with "
        f"{result['model_name']} v{result['model_version']} -> {result['out']}"
    )
    err_console.print(f"CRM upsert file: {result['crm']}")
    err_console.print(f"alerts ({result['alert_rows']:,} entered ready_now): {result['alerts']}")
    shadow = result.get("shadow")
    if shadow:
        err_console.print(
            f"shadow: challenger v{shadow['challenger_version']} vs champion v{shadow['champion_version']}: "
            f"PSI {shadow['psi']:.3f}, KS {shadow['ks']:.3f}, Spearman {shadow['spearman']:.3f}, "
            f"top-decile overlap {shadow['top_decile_overlap']:.0%}"
        )
    _print_json(result)


@app.command()
@friendly_errors
def monitor(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option(help="Check the snapshot of this as-of date, YYYY-MM-DD.")],
    act: Annotated[
        bool | None,
        typer.Option(
            "--act/--no-act",
            help="Carry out the decision: retrain (a new challenger) or roll back, audited (default monitoring.act).",
        ),
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Optuna trials of a retraining (default training.trials).")] = None,
) -> None:
    """Compare the snapshot at a date with the champion's training data (feature and prediction drift, Evidently),
    measure realised performance where labels matured, decide retrain, rollback or none, and act on it."""
    settings = _start(ctx, **{"monitoring.act": act})
    day = _parse_day(as_of, "--as-of")
    from features.store import connect_warehouse

    connect_warehouse(settings, read_only=True).close()  # fail fast, before the orchestrator starts
    from flows.cycle import act_on_decision_flow
    from flows.monitor import monitor_flow

    bar = make_progress(settings.progress)
    with bar, progress.reporting_to(RichSink(bar)):
        decision = monitor_flow(as_of=day, settings=settings)
        acted = act_on_decision_flow(settings, decision, trials=trials) if settings.monitoring.act else None
    err_console.print(
        f"monitor {decision.as_of}: [bold]{decision.decision}[/] (champion v{decision.champion_version}; drift share "
        f"{decision.drift_share:.2f}, {len(decision.drifted_features)} drifted features)"
    )
    for reason in decision.reasons:
        err_console.print(f"  - {reason}", highlight=False)
    err_console.print(f"drift report: {decision.report_html}")
    if acted is not None and acted["kind"] != "none":
        err_console.print(f"acted: [bold]{acted['kind']}[/] ({acted['reason']})", highlight=False)
    payload = {k: v for k, v in decision.to_dict().items() if k not in ("plan", "drift", "policy")}
    _print_json(payload | {"action": acted})


@app.command()
@friendly_errors
def simulate(
    ctx: typer.Context,
    raw: Annotated[Path, typer.Option(help="Raw export folder to replay (see the data contract).")],
    from_month: Annotated[
        str, typer.Option("--from", help="First month, YYYY-MM: the first champion is trained then.")
    ],
    to_month: Annotated[str, typer.Option("--to", help="Last month, YYYY-MM (inclusive).")],
    trials: Annotated[int, typer.Option(help="Optuna trials of each training in the replay.")] = 10,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start clean instead of resuming a matching replay.")] = False,
    degrade_at: Annotated[
        str | None,
        typer.Option(help="Fault injection: at this month, force a model trained on permuted labels to champion."),
    ] = None,
) -> None:
    """Replay the monthly cycle over history as if live, in HOME/simulation: at each month end, cut the export to
    what was known then, consolidate, score (champion + shadow), monitor and act; write
    HOME/reports/simulation/timeline.csv, .png and .html."""
    settings = _start(ctx)
    from features.grid import parse_month
    from ingest.pipeline import check_raw_dir

    check_raw_dir(raw)
    _month_range(from_month, to_month)
    if degrade_at is not None:
        _named("--degrade-at", parse_month, degrade_at)
    from flows.simulate import PROGRESS_KEY, simulate_flow

    bar = make_progress(settings.progress)
    with bar, progress.reporting_to(_OnlyKeys(RichSink(bar), {PROGRESS_KEY})):
        result = simulate_flow(
            raw_dir=raw.resolve(),
            from_month=from_month,
            to_month=to_month,
            settings=settings,
            trials=trials,
            fresh=fresh,
            degrade_at=degrade_at,
        )
    for row in result["rows"]:
        err_console.print(
            f"{row['as_of']}  champion v{row['champion_version']}  {row['decision']:<8} -> {row['action'] or '-':<8} "
            f"drift {row['drift_share'] if row['drift_share'] is not None else float('nan'):.2f}"
            + (f"  promoted {row['promoted']}" if row["promoted"] else ""),
            highlight=False,
        )
    err_console.print(f"timeline: {result['timeline']} (plot {result['plot']}, page {result['html']})")
    _print_json({k: v for k, v in result.items() if k != "rows"})


class _OnlyKeys:
    """A progress sink passing on only some step keys (the replay draws one bar per month, not every inner step)."""

    def __init__(self, sink: RichSink, keys: set[str]) -> None:
        self._sink, self._keys = sink, keys

    def start(self, key: str, description: str, total: float | None) -> None:
        if key in self._keys:
            self._sink.start(key, description, total)

    def advance(self, key: str, amount: float = 1.0, description: str | None = None) -> None:
        if key in self._keys:
            self._sink.advance(key, amount, description)

    def finish(self, key: str) -> None:
        if key in self._keys:
            self._sink.finish(key)


@app.command()
@friendly_errors
def predict(
    ctx: typer.Context,
    table: Annotated[Path, typer.Option(help="CSV or Parquet feature table to score.")],
    model: Annotated[str, typer.Option(help="Model URI, e.g. models:/NAME@champion or models:/NAME/3.")],
    out: Annotated[Path, typer.Option(help="Output file, .csv or .parquet (columns id, propensity).")],
) -> None:
    """Score your own feature table with a registered model."""
    settings = _start(ctx)
    from registry.models import load_model
    from serving.scoring import TABLE_FORMATS, predict_table, read_table, write_table

    target = _output(settings, out, "--out", suffixes=TABLE_FORMATS)
    if not table.is_file():
        raise FileNotFoundError(f"{table}: feature table not found")
    loaded = load_model(model, settings)
    scores = predict_table(loaded.model, read_table(table))
    write_table(scores, target)
    err_console.print(f"scored {len(scores):,} rows with {loaded.name} v{loaded.version} -> {out}")
    _print_json({"out": str(out), "rows": len(scores), "model_name": loaded.name, "model_version": loaded.version})


@app.command()
@friendly_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default api.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default api.port, 8000).")] = None,
) -> None:
    """Serve the scoring API: champion scores with tier and reasons by account id or feature rows, the challenger
    in shadow, reloads when the champion alias moves (see README, Scoring API)."""
    settings = _start(ctx, **{"api.host": host, "api.port": port})
    from deploy.api.app import serve as serve_api

    err_console.print(f"starting the scoring API on http://{settings.api.host}:{settings.api.port} (docs at /docs)")
    serve_api(settings)


def run() -> None:  # pragma: no cover - console entry point
    """Console entry point of `xsell`."""
    if os.environ.get("XSELL_LOG_LEVEL", "").upper() != "DEBUG":
        silence_stderr_at_exit()
    logging.captureWarnings(True)
    reaper.arm()  # what this process starts (Prefect's temporary server, workers) ends with it, kill -9 included
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
