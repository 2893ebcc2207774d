"""`xsell demo`, `monitor`, `simulate`, `report` and `deploy`: the platform end to end, the monitoring loop, its
replay over history, the governance site and the scheduled deployments.

The flows are imported inside the commands, after `command_settings` has put Prefect's state under the home.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from features.calendar import parse_month
from features.store import require_warehouse
from flows.console import err_console, friendly_errors, showing_progress
from flows.context import (
    cli_state,
    command_settings,
    loading,
    output,
    print_json,
    start_prefect_api,
    with_progress,
)
from flows.data_cli import print_load_summary
from flows.options import month_range, named, option_day
from flows.ui_cli import command_line
from ingest.pipeline import check_raw_dir
from xsell.settings import Settings

if TYPE_CHECKING:
    from flows.demo import DemoResult
    from monitoring.governance_site import SiteSummary

commands = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@commands.command()
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
    started = time.perf_counter()
    settings = command_settings(ctx, **{"generator.accounts": accounts})
    raw_dir = raw or settings.home / "demo-raw"
    output(settings, raw_dir, "--raw", folder=True)
    with loading(settings, "the pipeline (Prefect, MLflow, LightGBM, Evidently)"):
        from flows.demo import demo_flow

    result = with_progress(settings, demo_flow, settings=settings, raw_dir=raw_dir, trials=trials)
    print_demo(result, settings, wall_seconds=time.perf_counter() - started)


def print_demo(result: DemoResult, settings: Settings, wall_seconds: float | None = None) -> None:
    """Each stage's headline, each step's time, where every output of the demo is, and what to run next."""
    print_load_summary(result.consolidated)
    built, scored, decision, site = result.built, result.scored, result.decision, result.site
    err_console.print(
        f"materialised {len(built.snapshots)} feature snapshots: {built.rows:,} rows, "
        f"{built.labelled_rows:,} labelled, {built.positives:,} positives"
    )
    for training in result.trainings:
        trained = training.trained
        err_console.print(
            f"trained as of {training.as_of or 'the data end'}: {trained.name} version {trained.version} "
            f"(aliases: {', '.join(trained.aliases) or 'none'})"
        )
    shadow = scored.shadow
    err_console.print(
        f"scored {scored.rows:,} account x product rows as of {result.scored_as_of} with {scored.model_name} "
        f"v{scored.model_version}" + (f"; challenger v{shadow['challenger_version']} in shadow" if shadow else "")
    )
    err_console.print(
        f"monitored {decision.as_of}: [bold]{decision.decision}[/] (drift share {decision.drift_share:.2f}; "
        f"decision recorded, not acted on)"
    )
    err_console.print(f"governance site: {site.pages} pages over {len(site.months)} months")
    print_timings(result.timings, wall_seconds)
    err_console.print("\n[bold]demo outputs[/]")
    err_console.print(f"  raw export:          {result.raw_dir}")
    err_console.print(
        f"  warehouse:           {result.consolidated.warehouse}  (schemas c360, rejected, features, meta, serving)"
    )
    err_console.print(f"  data-quality report: {result.consolidated.report_html}")
    err_console.print(f"  feature catalog:     {built.catalog}")
    err_console.print(f"  scores:              {scored.out}")
    err_console.print(f"  CRM upsert file:     {scored.crm}")
    err_console.print(f"  ready_now alerts:    {scored.alerts}")
    err_console.print(f"  drift report:        {decision.report_html}")
    err_console.print(f"  decision:            {Path(decision.report_html).with_name('decision.json')}")
    err_console.print(f"  reports index:       {site.index}  (open offline; zip reports/ to share)")
    print_next_steps(demo_next_steps(settings))


def print_next_steps(steps: list[tuple[str, str]]) -> None:
    """The commands to run next, one a line, never wrapped (they are copied)."""
    err_console.print("\n[bold]next[/] (copy into any shell)")
    for what, command in steps:
        err_console.print(f"  {what + ':':<20} {command}", highlight=False, markup=False, soft_wrap=True)


def demo_next_steps(settings: Settings) -> list[tuple[str, str]]:
    """What the demo suggests running next, each as a command line a fresh shell runs as printed."""
    return [
        ("registry", command_line(settings, "registry", "status")),
        ("MLflow UI", command_line(settings, "ui")),
        ("Prefect flow runs", command_line(settings, "ui", "--prefect")),
    ]


def print_timings(timings: tuple[tuple[str, float], ...], wall_seconds: float | None) -> None:
    """The wall time of each step, then the start-up and orchestration around them and the total."""
    err_console.print("\n[bold]step times[/]")
    for step, seconds in timings:
        err_console.print(f"  {step:<20} {seconds:7.1f} s", highlight=False)
    steps = sum(seconds for _, seconds in timings)
    if wall_seconds is not None and wall_seconds > steps:
        err_console.print(f"  {'start-up, other':<20} {wall_seconds - steps:7.1f} s", highlight=False)
    total = max(steps, wall_seconds or 0.0)
    err_console.print(f"  {'total':<20} {total:7.1f} s  ({total / 60:.1f} min)", highlight=False)


@commands.command()
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
    settings = command_settings(ctx, **{"monitoring.act": act})
    day = option_day(as_of, "--as-of")
    require_warehouse(settings)  # fail fast, before the orchestrator starts
    from flows.cycle import act_on_decision_flow
    from flows.monitor import monitor_flow

    with showing_progress(settings.progress):
        start_prefect_api()
        decision = monitor_flow(as_of=day, settings=settings)
        acted = act_on_decision_flow(settings, decision, trials=trials) if settings.monitoring.act else None
    err_console.print(
        f"monitor {decision.as_of}: [bold]{decision.decision}[/] (champion v{decision.champion_version}; drift share "
        f"{decision.drift_share:.2f}, {len(decision.drifted_features)} drifted features)"
    )
    for reason in decision.reasons:
        err_console.print(f"  - {reason}", highlight=False)
    err_console.print(f"drift report: {decision.report_html}")
    if acted is not None and acted.kind != "none":
        err_console.print(f"acted: [bold]{acted.kind}[/] ({acted.reason})", highlight=False)
    payload = {k: v for k, v in decision.to_dict().items() if k not in ("plan", "drift", "policy")}
    print_json(payload | {"action": acted.to_dict() if acted is not None else None})


@commands.command()
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
    settings = command_settings(ctx)
    check_raw_dir(raw)
    month_range(from_month, to_month)
    if degrade_at is not None:
        named("--degrade-at", parse_month, degrade_at)
    from flows.simulate import PROGRESS_KEY, simulate_flow

    with showing_progress(settings.progress, only={PROGRESS_KEY}):
        start_prefect_api()
        result = simulate_flow(
            raw_dir=raw.resolve(),
            from_month=from_month,
            to_month=to_month,
            settings=settings,
            trials=trials,
            fresh=fresh,
            degrade_at=degrade_at,
        )
    for row in result.rows:
        err_console.print(
            f"{row.as_of}  champion v{row.champion_version}  {row.decision:<8} -> {row.action or '-':<8} "
            f"drift {row.drift_share if row.drift_share is not None else float('nan'):.2f}"
            + (f"  promoted {row.promoted}" if row.promoted else ""),
            highlight=False,
        )
    err_console.print(f"timeline: {result.timeline} (plot {result.plot}, page {result.html})")
    print_json(result.summary())


def run_report(settings: Settings) -> SiteSummary:
    """Run the `report` flow: the governance site under HOME/reports/."""
    from flows.report import report_flow

    return with_progress(settings, report_flow, settings=settings)


@commands.command()
@friendly_errors
def report(ctx: typer.Context) -> None:
    """Write the governance site HOME/reports/index.html: per month the data-quality report, drift report and
    decision, champion and challenger, model cards with tier and fairness tables, promotion verdicts and the audit
    trail, all linked; offline (relative links, no network), so reports/ can be zipped and moved."""
    settings = command_settings(ctx)
    summary = run_report(settings)
    err_console.print(
        f"governance site: {summary.pages} pages, {len(summary.months)} months, "
        f"{len(summary.model_versions)} model versions, {summary.audit_events} audit events"
    )
    err_console.print(f"open {summary.index}")
    print_json(summary.to_dict())


@commands.command()
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
    settings = command_settings(ctx, **{"schedules.raw_dir": raw})
    if settings.schedules.scores_dir is not None:
        output(settings, settings.schedules.scores_dir, "schedules.scores_dir", folder=True)
    from flows.schedules import build_deployments, plan_deployments, serve_deployments

    config = cli_state(ctx).config or (Path(os.environ["XSELL_CONFIG"]) if os.environ.get("XSELL_CONFIG") else None)
    plans = plan_deployments(settings, config=config)
    deployments = build_deployments(plans)
    for plan in plans:
        err_console.print(
            f"{plan.name:<24} {plan.cron:<14} {plan.timezone:<8} ({plan.setting}) flow {plan.flow_name}: "
            f"{plan.description}",
            highlight=False,
        )
    if dry_run:
        print_json([plan.to_dict() for plan in plans])
        return
    err_console.print(f"serving {len(deployments)} deployments on {os.environ.get('PREFECT_API_URL')}; Ctrl+C stops")
    serve_deployments(deployments)
