"""What keeps the scoring API answering hostile input with a short JSON error: the body-size limit, the error
handlers and the short echo of values a caller sent.

- `BodyLimit` (pure ASGI middleware) answers 413 when `Content-Length` says the body is over `api.max_body_bytes`,
  before reading any of it; a body without a length (chunked) is read up to the limit and refused once past it.
  The application is called only with a body within the limit.
- `validation_error_response`: a 422 naming each invalid field, FastAPI's shape (`detail: [{type, loc, msg,
  input}]`), whose `input` is made JSON-safe (non-finite numbers as text, long strings cut by `echo`); a body that
  is not JSON at all (syntax or encoding) is a 400 in the same shape (`type: json_invalid`, `http_error_response`).
- `echo`: the first `ECHO_CHARS` characters of a caller's string, with `…` when cut, and never a lone surrogate
  (which UTF-8 cannot encode).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

#: Characters of a caller's string that an answer repeats (an unknown account id, an invalid value).
ECHO_CHARS = 64

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def echo(value: str, limit: int = ECHO_CHARS) -> str:
    """`value` cut to `limit` characters (`…` appended when cut), lone surrogates replaced by `?`."""
    cut = value if len(value) <= limit else value[:limit] + "…"
    return cut.encode("utf-8", "replace").decode("utf-8")


def json_safe(value: Any, depth: int = 0) -> Any:
    """A caller's value made safe to answer: strings cut by `echo`, non-finite numbers and huge integers as text,
    containers cut to their first 10 items and 3 levels."""
    if isinstance(value, str):
        return echo(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return echo(str(value))  # e.g. 400 digits: shown as text, cut
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= 3:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:10]
        return {echo(str(k)): json_safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in list(value)[:10]]
    return echo(str(value))


def _error(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error as FastAPI writes it, every part JSON-safe."""
    out: dict[str, Any] = {
        "type": str(error.get("type", "value_error")),
        "loc": [p if isinstance(p, int) else echo(str(p)) for p in error.get("loc", ())],
        "msg": echo(str(error.get("msg", "")), 500),
    }
    if "input" in error:
        out["input"] = json_safe(error["input"])
    if isinstance(error.get("ctx"), dict):
        out["ctx"] = {
            echo(str(k)): json_safe(v if isinstance(v, str | int | float) else str(v)) for k, v in error["ctx"].items()
        }
    return out


async def validation_error_response(request: Request, exc: Exception) -> JSONResponse:
    """422 naming every invalid field (at most 100 errors); 400 when the body is not JSON at all."""
    assert isinstance(exc, RequestValidationError)
    errors = [_error(e) for e in list(exc.errors())[:100]]
    status = 400 if any(e["type"] == "json_invalid" for e in errors) else 422
    for e in errors:
        if e["type"] == "json_invalid" and "error" in e.get("ctx", {}):
            e["msg"] = f"the body is not valid JSON: {e['ctx']['error']}"
    return JSONResponse({"detail": errors}, status_code=status)


async def http_error_response(request: Request, exc: Exception) -> Response:
    """FastAPI's answer to an HTTPException, except a body it could not decode (bytes that are not UTF-8, raised as a
    400 caused by the decoding error, or JSON nested too deep), which is answered in the shape of the other 400s."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.__cause__ is not None:  # e.g. UnicodeDecodeError, RecursionError
        error = {"type": "json_invalid", "loc": ["body"], "msg": f"the body is not valid JSON: {exc.__cause__}"}
        return JSONResponse({"detail": [_error(error)]}, status_code=400)
    return await http_exception_handler(request, exc)


class BodyLimit:
    """ASGI middleware: request bodies over `max_bytes` are answered 413 (JSON), the application never sees them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then buffer the body up to the limit and replay it to the application."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the application sees the disconnect
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send, None)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, declared: int | None) -> None:
        size = "over" if declared is None else f"{declared:,} bytes, over"
        detail = f"request body too large ({size} the limit of {self.max_bytes:,} bytes: api.max_body_bytes)"
        log.warning("request body refused: %s", detail)
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
