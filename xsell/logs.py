"""One structured logger for the whole platform: key=value text or JSON lines, configured by the CLI only."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

_RESERVED = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


#: The platform's own top-level packages: their loggers follow the configured level.
OWN_LOGGERS = (
    "xsell",
    "ingest",
    "features",
    "training",
    "registry",
    "monitoring",
    "deploy",
    "serving",
    "synth",
    "flows",
    "tasks",
    "bench",
)


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields passed to a log call through `extra=`."""
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


class KeyValueFormatter(logging.Formatter):
    """`2026-11-23T03:00:00Z INFO ingest.stage staged table table=crm/accounts rows=7353`."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        extra = " ".join(f"{k}={_compact(v)}" for k, v in fields_of(record).items())
        line = f"{ts} {record.levelname:<7} {record.name} {record.getMessage()}"
        if extra:
            line += " " + extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def _compact(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


def configure_logging(level: str = "INFO", json_lines: bool = False, stream: IO[str] | None = None) -> logging.Handler:
    """Route every xsell logger to `stream` (default stderr) in one format; idempotent; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_xsell", False):
            root.removeHandler(existing)
    handler._xsell = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level.upper())
    return handler


class OneLine(logging.Filter):
    """Keep tracebacks off the terminal: every record loses its traceback, and a record of a third-party logger
    (Prefect, MLflow, asyncio, ...) keeps only the first line of its message."""

    def __init__(self, limit: int = 400) -> None:
        super().__init__()
        self._limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] not in OWN_LOGGERS:
            message = record.getMessage()
            first = next((line for line in message.splitlines() if line.strip()), "")
            if first != message or len(first) > self._limit:
                record.msg = first if len(first) <= self._limit else first[: self._limit - 3] + "..."
                record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


class DropExpectedErrors(logging.Filter):
    """Drop orchestrator error records about failures the CLI reports itself in one line (a record names the
    failure by its type: an expected type's own name, or the name of any subclass of an expected type of ours)."""

    def __init__(self, expected: tuple[type[BaseException], ...], prefixes: tuple[str, ...] = ("prefect",)) -> None:
        super().__init__()
        self._expected = expected
        self._prefixes = prefixes

    def _names(self) -> set[str]:
        """Names of the expected types and, for those not built in, of their subclasses known now."""
        names: set[str] = set()
        pending = list(self._expected)
        while pending:
            kind = pending.pop()
            names.add(kind.__name__)
            if kind.__module__ != "builtins":
                pending.extend(kind.__subclasses__())
        return names

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.name.startswith(self._prefixes):
            return True
        if record.exc_info and isinstance(record.exc_info[1], self._expected):
            return False
        message = record.getMessage()
        return not any(name in message for name in self._names())
