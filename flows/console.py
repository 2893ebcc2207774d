"""Terminal output of the CLI: rich progress bars on stderr and friendly error exits."""

from __future__ import annotations

import atexit
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from flows.progress_log import LogSink
from xsell import progress
from xsell.errors import XsellError
from xsell.progress import ProgressSink

err_console = Console(stderr=True)
out_console = Console()

F = TypeVar("F", bound=Callable[..., Any])


class OptionError(XsellError, ValueError):
    """A command-line option is malformed or does not go with the others; the message names it."""


class ConsoleStream:
    """A text stream that prints through the rich console, so log lines stay above progress bars."""

    def write(self, text: str) -> int:
        if text.strip():
            err_console.print(text.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        return None


class RichSink:
    """Draws `xsell.progress` steps as rich progress bars."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def start(self, key: str, description: str, total: float | None) -> None:
        self._tasks[key] = self._progress.add_task(description, total=total)

    def advance(self, key: str, amount: float = 1.0, description: str | None = None) -> None:
        task = self._tasks.get(key)
        if task is not None:
            self._progress.update(task, advance=amount, **({"description": description} if description else {}))

    def finish(self, key: str) -> None:
        task = self._tasks.get(key)
        if task is not None:
            total = self._progress.tasks[self._tasks[key]].total
            self._progress.update(task, completed=total if total is not None else 1, total=total or 1)


def make_progress(enabled: bool) -> Progress:
    """A rich progress display on stderr (disabled when asked or when stderr is not a terminal)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}" if enabled else ""),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        disable=not enabled or not sys.stderr.isatty(),
        transient=False,
    )


class OnlyKeys:
    """A progress sink passing on only some step keys (the replay draws one bar per month, not every inner step)."""

    def __init__(self, sink: ProgressSink, keys: set[str]) -> None:
        self._sink, self._keys = sink, keys

    def start(self, key: str, description: str, total: float | None) -> None:
        """Start the step `key` if it is one of the keys shown."""
        if key in self._keys:
            self._sink.start(key, description, total)

    def advance(self, key: str, amount: float = 1.0, description: str | None = None) -> None:
        """Advance the step `key` if it is one of the keys shown."""
        if key in self._keys:
            self._sink.advance(key, amount, description)

    def finish(self, key: str) -> None:
        """Finish the step `key` if it is one of the keys shown."""
        if key in self._keys:
            self._sink.finish(key)


@contextmanager
def showing_progress(enabled: bool, only: set[str] | None = None) -> Iterator[None]:
    """Report `xsell.progress` while the block runs: rich bars with ETA when stderr is a terminal, a log line per step
    start, finish and every few seconds otherwise, nothing when disabled (`only`: the step keys shown, default all)."""

    def narrowed(sink: ProgressSink) -> ProgressSink:
        return sink if only is None else OnlyKeys(sink, only)

    if not enabled:
        yield
    elif sys.stderr.isatty():
        bar = make_progress(enabled)
        with bar, progress.reporting_to(narrowed(RichSink(bar))):
            yield
    else:
        sink = LogSink()
        with sink.heartbeat(), progress.reporting_to(narrowed(sink)):
            yield


def silence_stderr_at_exit() -> None:
    """Register (first, so it runs last) a handler muting stderr after every other atexit handler.

    DuckDB's bindings print harmless 'nanobind: leaked ...' notes during interpreter shutdown.
    """

    def _mute() -> None:
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)

    atexit.register(_mute)


def expected_errors() -> tuple[type[Exception], ...]:
    """The failures the CLI reports as one `error:` line: the platform's own family, and a missing input file."""
    return (XsellError, FileNotFoundError)


#: What `friendly_errors` reports in one line without a hint: the expected failures and any RuntimeError.
ONE_LINE_ERRORS: tuple[type[Exception], ...] = (*expected_errors(), RuntimeError)


def exit_code(exc: BaseException) -> int:
    """The exit code of a failure reported in one line: the error's own, 2 for a missing file, else 1."""
    if isinstance(exc, XsellError):
        return exc.exit_code
    return 2 if isinstance(exc, FileNotFoundError) else 1


def friendly_errors(fn: F) -> F:
    """Turn expected failures into one `error:` line on stderr and their exit code, with no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ONE_LINE_ERRORS as exc:
            logging.getLogger("flows.cli").debug("command failed", exc_info=True)
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=exit_code(exc)) from None
        except Exception as exc:
            if logging.getLogger("flows").isEnabledFor(logging.DEBUG):
                raise
            hint = "(--log-level DEBUG shows the traceback)"
            err_console.print(f"[bold red]error:[/] {one_line(exc)} {hint}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def quiet_background_errors() -> None:
    """An exception escaping a background thread, or raised where Python cannot report it (a finaliser), is logged
    as one warning line instead of a traceback on stderr."""
    log = logging.getLogger("flows.cli")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit and args.exc_value is not None:
            name = args.thread.name if args.thread is not None else "?"
            log.warning("background thread %s failed: %s", name, one_line(args.exc_value))

    def unraisable_hook(args: Any) -> None:
        log.warning("ignored error in %r: %s", args.object, one_line(args.exc_value) if args.exc_value else "")

    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook


def one_line(exc: BaseException, limit: int = 400) -> str:
    """An unexpected exception as one line: its type and the first line of its message, cut to `limit` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
