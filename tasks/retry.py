"""When a task is worth retrying: I/O hiccups yes, contract violations no."""

from __future__ import annotations

from typing import Any

import duckdb

RETRYABLE: tuple[type[BaseException], ...] = (OSError, duckdb.IOException)


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry only when the failure was an I/O error."""
    try:
        state.result()
    except RETRYABLE as exc:
        return not isinstance(exc, FileNotFoundError)
    except BaseException:
        return False
    return False
