"""The `xsell` command line: the global options, and every command found in the module that defines it.

Each command module (`flows/*_cli.py`) imports what its commands use at its top, the scientific stack included, so
a module is imported only when one of its commands runs: `xsell --help` reads the commands' one-line help from the
modules' source instead, and stays fast.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import _click as click  # the click that typer's groups and commands are made of
from typer.core import TyperCommand, TyperGroup

from flows.console import silence_stderr_at_exit
from flows.context import CliState
from xsell import reaper

#: Every command, in the order `xsell --help` lists them, and the module defining it (its Typer app: `APPS`).
COMMANDS: dict[str, str] = {
    "generate": "flows.data_cli",
    "consolidate": "flows.data_cli",
    "demo": "flows.ops_cli",
    "features": "flows.data_cli",
    "report": "flows.ops_cli",
    "deploy": "flows.ops_cli",
    "train": "flows.model_cli",
    "tune-worker": "flows.worker_cli",
    "score": "flows.serving_cli",
    "monitor": "flows.ops_cli",
    "simulate": "flows.ops_cli",
    "predict": "flows.serving_cli",
    "serve": "flows.serving_cli",
    "registry": "flows.registry_cli",
    "services": "flows.services_cli",
    "ui": "flows.ui_cli",
}

#: The Typer app of each command module: a module of commands (`commands`) or one command group.
APPS: dict[str, str] = {"flows.registry_cli": "registry_app", "flows.services_cli": "services_app"}


def _module_path(module: str) -> Path:
    return Path(__file__).with_name(module.rpartition(".")[2] + ".py")


@cache
def source_help(module: str) -> dict[str, str]:
    """The help text of each command of `module`, read from its source without importing it: a command's
    docstring, or the `help=` of a group's Typer app."""
    tree = ast.parse(_module_path(module).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "command":
                    names = [k.value for k in decorator.keywords if k.arg == "name"]
                    name = names[0].value if names and isinstance(names[0], ast.Constant) else node.name
                    found[str(name).replace("_", "-")] = ast.get_docstring(node) or ""
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id == APPS.get(module):
                helps = [k.value for k in node.value.keywords if k.arg == "help"]
                if helps and isinstance(helps[0], ast.Constant):
                    found["*"] = str(helps[0].value)
    return found


def load_command(name: str) -> click.Command:
    """The click command `name`, its module imported now."""
    module = importlib.import_module(COMMANDS[name])
    group = typer.main.get_group(getattr(module, APPS.get(COMMANDS[name], "commands")))
    if COMMANDS[name] in APPS:
        group.name = name
        return group
    return group.commands[name]


class LazyCommands(TyperGroup):
    """The root group: lists `COMMANDS` with their help from source, imports a command's module when it runs."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, in the order of `COMMANDS`."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command to run (imported now), or while help is drawn, a stand-in carrying its help text."""
        if cmd_name not in COMMANDS:
            return None
        if self._listing:
            helps = source_help(COMMANDS[cmd_name])
            return TyperCommand(cmd_name, help=helps.get("*" if COMMANDS[cmd_name] in APPS else cmd_name, ""))
        return load_command(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The root help, listing the commands without importing their modules."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="xsell",
    help="Cross-sell propensity platform: raw exports -> Customer 360 -> features -> models -> scores.",
    cls=LazyCommands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
    ctx.obj = CliState(config=config, overrides=overrides)


def run() -> None:  # pragma: no cover - console entry point
    """Console entry point of `xsell`."""
    if os.environ.get("XSELL_LOG_LEVEL", "").upper() != "DEBUG":
        silence_stderr_at_exit()
    logging.captureWarnings(True)
    reaper.arm()  # what this process starts (Prefect's temporary server, workers) ends with it, kill -9 included
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
