"""`xsell ui`: the MLflow UI on the home's stores (and the Prefect UI), served on loopback until Ctrl+C."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Annotated, Any

import typer

from deploy.team.ui import UiServer, plan_ui, serve_until, start_ui, stop_ui
from flows.console import err_console, friendly_errors
from flows.context import command_settings
from xsell.settings import Settings

commands = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

#: The signals that stop `xsell ui`: Ctrl+C at the terminal, and what `kill` and service managers send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """SIGINT and SIGTERM while the servers start interrupt the start (KeyboardInterrupt, what was started is
    stopped); once serving they set `stop`, and the servers are stopped in order, a second signal ignored."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.serving = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.serving:
            raise KeyboardInterrupt
        self.stop.set()

    def __enter__(self) -> StopSignals:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _describe(server: UiServer) -> str:
    title = {"mlflow": "MLflow UI", "prefect": "Prefect UI"}[server.name]
    where = "started here" if server.started else "already running"
    return f"{title + ':':<12} {server.url}  ({where}; {server.store})"


@commands.command()
@friendly_errors
def ui(
    ctx: typer.Context,
    mlflow_port: Annotated[
        int | None,
        typer.Option(
            "--mlflow-port", "--port", min=1, max=65535, help="Port of the MLflow UI (default 5000, or a free one)."
        ),
    ] = None,
    prefect: Annotated[
        bool,
        typer.Option(
            "--prefect",
            help="Also start the Prefect UI on the home's Prefect database (its flow runs), when no PREFECT_API_URL "
            "names a running server.",
        ),
    ] = False,
    prefect_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port of the Prefect UI (implies --prefect; default 4200, or a free one)."),
    ] = None,
) -> None:
    """Serve the MLflow UI on the home's tracking store and artifacts (and the Prefect UI) on 127.0.0.1 until
    Ctrl+C; prints the addresses and "ready" once each UI answers, then stops every process it started."""
    settings = command_settings(ctx)
    plans = plan_ui(settings, mlflow_port=mlflow_port, prefect=prefect, prefect_port=prefect_port)
    with StopSignals() as signals:
        if any(plan.port is not None for plan in plans):
            err_console.print("starting the UI servers on 127.0.0.1...", highlight=False)
        try:
            servers = start_ui(settings, plans)
        except KeyboardInterrupt:
            err_console.print("interrupted before the UI was ready; stopped what had started", highlight=False)
            raise typer.Exit(code=130) from None
        for server in servers:
            err_console.print(_describe(server), highlight=False, markup=False, soft_wrap=True)
        if not any(server.started for server in servers):
            err_console.print("ready (nothing to start: these servers run on their own)", highlight=False)
            return
        signals.serving = True
        err_console.print("ready: open the address in a browser; Ctrl+C stops", highlight=False)
        try:
            serve_until(signals.stop, servers)
        finally:
            signals.serving = True
            stop_ui(settings, servers)
        err_console.print("stopped", highlight=False)


def xsell_executable() -> str:
    """How a fresh shell (no virtualenv activated) runs this xsell: `xsell` when PATH finds this very one outside
    an activated virtualenv, else the absolute path of its entry point (`/path/to/.venv/bin/xsell`), else this
    Python with `-m flows.cli`."""
    python = Path(sys.executable).absolute()  # not resolved: a virtualenv's python is a link out of it
    invoked = Path(sys.argv[0]).absolute() if sys.argv and sys.argv[0].endswith("xsell") else None
    entry = invoked if invoked is not None and invoked.is_file() else python.parent / "xsell"
    if not entry.is_file():
        return f"{shlex.quote(str(python))} -m flows.cli"
    found = shutil.which("xsell")
    venv = os.environ.get("VIRTUAL_ENV")
    if found and os.path.samefile(found, entry) and not (venv and entry.is_relative_to(Path(venv).absolute())):
        return "xsell"
    return shlex.quote(str(entry))


def command_line(settings: Settings, *args: str) -> str:
    """A command line to copy into a fresh shell: this xsell on this home (absolute), then `args`."""
    home = shlex.quote(str(settings.home.resolve()))
    return " ".join([xsell_executable(), "--home", home, *(shlex.quote(arg) for arg in args)])
