"""`xsell registry ...`: champion/challenger status, gated promotion, rollback and the audit history."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import typer

from flows.console import err_console, friendly_errors, out_console
from flows.context import command_settings, print_json
from registry.aliases import reconcile
from registry.aliases import rollback as rollback_champion
from registry.audit import read_events
from registry.gates import promote_version
from registry.status import registry_status
from serving.shadow import shadow_run_count

registry_app = typer.Typer(
    help="Champion and challenger: status, gated promotion, rollback and the audit history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _version(value: int | None) -> str:
    return f"v{value}" if value is not None else "-"


@registry_app.command()
@friendly_errors
def status(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Show champion, challenger, previous champion, every version and the last decisions."""
    settings = command_settings(ctx)
    for event in reconcile(settings):
        err_console.print(f"recorded: {event.summary()}", highlight=False, markup=False)
    payload = registry_status(settings)
    if json_out:
        print_json(payload)
        return
    lines = [
        f"model {payload['model_name']} (gates: {payload['gates_mode']})",
        f"  champion           {_version(payload['champion'])}",
        f"  challenger         {_version(payload['challenger'])}",
        f"  previous champion  {_version(payload['previous_champion'])}",
        "versions:",
    ]
    for row in payload["versions"]:
        metrics = " ".join(
            f"{k} {v:.4f}" for k, v in sorted(row["metrics"].items()) if k in ("pr_auc", "roc_auc", "ece")
        )
        lines.append(
            f"  v{row['version']:<4} {','.join(row['aliases']) or '-':<28} {row['created_at'] or ''}  {metrics}"
        )
    lines.append("last decisions:")
    lines += [f"  {_summary(e)}" for e in payload["last_decisions"]] or ["  none recorded"]
    out_console.print("\n".join(lines), highlight=False, markup=False)


def _summary(event: dict[str, Any]) -> str:
    moved = f"{_version(event['from_version'])} -> {_version(event['to_version'])}"
    return f"{event['at'][:19]}Z {event['action']:<22} {moved:<12} {event['actor']}: {event['reason']} [{event['outcome']}]"


@registry_app.command()
@friendly_errors
def promote(
    ctx: typer.Context,
    version: Annotated[
        int | None, typer.Option("--version", help="Version to promote (default: the challenger).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, for the audit trail.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote even when a gate fails (enabled mode).")] = False,
) -> None:
    """Make a version the champion after the promotion gates; a refusal is recorded and exits with code 1."""
    settings = command_settings(ctx)
    result = promote_version(settings, version, reason, shadow_runs=partial(shadow_run_count, settings), force=force)
    print_json(result.to_dict())
    event = result.event
    if result.promoted:
        err_console.print(f"promoted v{event.to_version} (was {_version(event.from_version)}): {event.outcome}")
        return
    err_console.print(f"[bold red]refused:[/] v{event.to_version}: {event.outcome}", highlight=False)
    if settings.registry.gates.mode == "enabled":
        err_console.print("use --force to promote anyway (recorded as forced)")
    raise typer.Exit(code=1)


@registry_app.command()
@friendly_errors
def rollback(
    ctx: typer.Context,
    reason: Annotated[str | None, typer.Option(help="Why, for the audit trail.")] = None,
) -> None:
    """Move the champion back to the previous champion."""
    settings = command_settings(ctx)
    event = rollback_champion(settings, reason or "manual rollback")
    print_json(event.to_dict())
    err_console.print(f"rolled back: v{event.to_version} serves again (was {_version(event.from_version)})")


@registry_app.command()
@friendly_errors
def history(
    ctx: typer.Context,
    json_out: JsonFlag = False,
    limit: Annotated[int | None, typer.Option(help="Only the latest N entries.", min=1)] = None,
) -> None:
    """List the audit trail: registrations, alias moves, promotions, refusals and rollbacks, oldest first."""
    settings = command_settings(ctx)
    events = [e.to_dict() for e in read_events(settings, limit=limit)]
    if json_out:
        print_json(events)
        return
    text = "\n".join(_summary(e) for e in events) or "no registry events recorded yet"
    out_console.print(text, highlight=False, markup=False, soft_wrap=True)
