"""What every `xsell` command shares: the global options, settings start-up (logging, the home's writer lock),
checked output paths, JSON on stdout and flows run under progress bars.

Command modules import this one; it imports no command module, so the CLI has no import circle.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import typer

from flows.console import (
    ONE_LINE_ERRORS,
    ConsoleStream,
    out_console,
    quiet_background_errors,
    showing_progress,
)
from xsell import homelock, progress
from xsell.fileio import check_output
from xsell.logs import DropExpectedErrors, OneLine, configure_logging
from xsell.runtime import prepare_environment
from xsell.settings import Settings, load_settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The root log level of Prefect's temporary server, below DEBUG. That server is a uvicorn subprocess writing to the
#: terminal itself, past this process's log filters; its own loggers follow PREFECT_SERVER_LOGGING_LEVEL
#: (`xsell.runtime`), but SQLAlchemy's pool and asyncio log through its root logger, e.g. `sqlalchemy.pool.impl.NullPool
#: - Exception closing connection ... CancelledError` as it stops (PrefectHQ/prefect#16504). Prefect applies this level
#: only to a root logger without a handler of its own: not to this process's, which `configure_logging` gave one.
#: Set only when no PREFECT_API_URL is given, so Dask worker processes (which need that URL) keep their root level.
SERVER_ROOT_LEVEL_ENV = "PREFECT_LOGGING_ROOT_LEVEL"

#: Commands that write to the home: one at a time per home (the others wait, see `xsell.homelock`).
WRITERS = frozenset(
    {"consolidate", "features", "train", "score", "monitor", "simulate", "demo", "report", "promote", "rollback"}
)


@dataclass
class CliState:
    """The global options of one `xsell` invocation: the config file and the settings overrides they give."""

    config: Path | None
    overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self, **more: Any) -> Settings:
        """The run's settings (global options, then the command's own) with the process environment prepared."""
        settings = load_settings(self.config, **{**self.overrides, **more})
        prepare_environment(settings.home, settings.log_level)
        return settings


def cli_state(ctx: typer.Context) -> CliState:
    """The global options the root callback stored on the click context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):  # pragma: no cover - the callback always sets it
        raise RuntimeError("CLI state missing")
    return obj


def command_settings(ctx: typer.Context, **more: Any) -> Settings:
    """Settings of a command (`more`: its own overrides), one-line logging on the console, the home lock if it
    writes; call before importing Prefect (its state lives under the home)."""
    settings = cli_state(ctx).settings(**more)
    handler = configure_logging(settings.log_level, settings.log_json, stream=ConsoleStream())  # type: ignore[arg-type]
    handler.addFilter(DropExpectedErrors(ONE_LINE_ERRORS))  # the CLI prints these in one line
    if settings.log_level != "DEBUG":  # one-line errors; tracebacks only with --log-level DEBUG
        handler.addFilter(OneLine())
        quiet_background_errors()
        if not os.environ.get("PREFECT_API_URL"):  # a temporary server will run (no worker processes then)
            os.environ.setdefault(SERVER_ROOT_LEVEL_ENV, "CRITICAL")
    lock_home(ctx, settings)
    return settings


def lock_home(ctx: typer.Context, settings: Settings) -> None:
    """Take the home's writer lock for a writing command (waiting up to runtime.lock_timeout), until it ends."""
    if ctx.info_name in WRITERS:
        held = homelock.acquire(settings.home, settings.runtime.lock_timeout)
        ctx.call_on_close(held.release)


def output(settings: Settings, path: Path, option: str, suffixes: tuple[str, ...] = (), folder: bool = False) -> Path:
    """`path` resolved, once it is known to stay off the home's state and to end as its writer writes."""
    return check_output(path, option, settings.state_paths, suffixes=suffixes, folder=folder)


def print_json(payload: Any) -> None:
    """`payload` as JSON on stdout (dates and paths as text)."""
    out_console.print_json(json.dumps(payload, default=str))


def with_progress(settings: Settings, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """`fn(**kwargs)` (a flow) with its `xsell.progress` shown: bars on a terminal, log lines otherwise."""
    with showing_progress(settings.progress):
        start_prefect_api()
        return fn(**kwargs)


@contextmanager
def loading(settings: Settings, what: str) -> Iterator[None]:
    """Report the block (importing a command's flows and their libraries: a minute on a busy machine) as a progress
    step `loading <what>`."""
    with showing_progress(settings.progress), progress.step("import", f"loading {what}"):
        yield


def start_prefect_api() -> None:
    """Start Prefect's temporary API server now, as a progress step, when no API is configured (the first flow call
    would otherwise start it without a word, seconds on a busy machine); a no-op once it runs."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return
    with progress.step("prefect", "starting Prefect's temporary API"):
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        if not server.running:
            server.start()
            logger.debug("Prefect's temporary API runs at %s", server.api_url)
