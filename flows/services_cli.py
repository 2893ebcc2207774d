"""`xsell services ...`: start, stop and check the team-mode servers (PostgreSQL, MLflow, Prefect) on loopback."""

from __future__ import annotations

from typing import Annotated

import typer

from deploy.team.processes import ServiceStatus, services_dir
from deploy.team.servers import service_status, start_services, stop_services
from flows.console import err_console, friendly_errors, out_console
from flows.context import command_settings, print_json

services_app = typer.Typer(
    help="Team-mode servers on loopback: PostgreSQL (MLflow, Optuna, Prefect databases), MLflow with basic-auth, "
    "Prefect. State under HOME/services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Names = Annotated[
    list[str] | None, typer.Argument(help="Services to act on: postgres, mlflow, prefect (default: all).")
]


def _table(statuses: list[ServiceStatus]) -> str:
    rows = [f"{'service':<9} {'pid':>7}  {'healthy':<7}  {'url':<32} detail"]
    for s in statuses:
        rows.append(f"{s.name:<9} {s.pid or '-':>7}  {'yes' if s.healthy else 'no':<7}  {s.url:<32} {s.detail}")
    return "\n".join(rows)


@services_app.command()
@friendly_errors
def start(ctx: typer.Context, names: Names = None, json_out: JsonFlag = False) -> None:
    """Start the services (idempotent: running ones are reported, not restarted) and write HOME/services/team.env."""
    settings = command_settings(ctx)
    statuses = start_services(settings, names)
    env_file = services_dir(settings) / "team.env"
    if json_out:
        print_json({"services": [s.to_dict() for s in statuses], "team_env": str(env_file)})
        return
    out_console.print(_table(statuses), highlight=False, markup=False)
    err_console.print(
        f"team mode: `. {env_file}` exports MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD, "
        "PREFECT_API_URL and XSELL_TRAINING__OPTUNA_STORAGE (the file holds secrets: mode 0600)",
        highlight=False,
        markup=False,
    )


@services_app.command()
@friendly_errors
def stop(ctx: typer.Context, names: Names = None, json_out: JsonFlag = False) -> None:
    """Stop the services (PostgreSQL last); every process of each service ends."""
    statuses = stop_services(command_settings(ctx), names)
    if json_out:
        print_json([s.to_dict() for s in statuses])
        return
    out_console.print(_table(statuses), highlight=False, markup=False)


@services_app.command()
@friendly_errors
def status(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """Each service: pid, URL, and whether it answers healthy now; exits 1 when any is not healthy."""
    statuses = service_status(command_settings(ctx))
    if json_out:
        print_json([s.to_dict() for s in statuses])
    else:
        out_console.print(_table(statuses), highlight=False, markup=False)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(code=1)
