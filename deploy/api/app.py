"""The scoring API behind `xsell serve` (FastAPI): champion scores with tier and reasons, challenger in shadow.

- `POST /v1/score`: `{"account_ids": [...]}` (rows of the latest materialised snapshot) or `{"rows": [{feature row},
  ...]}`; answers `request_id`, `model` (name, version), `scores` (one object per account x product: `account_id,
  product, as_of, propensity, tier, rank, expected_value, next_product, reasons`) and `unknown_account_ids`.
  Account ids match ignoring case; ids that are not in the snapshot (unknown, or without an eligible product) are
  listed in `unknown_account_ids` (each cut to its first 64 characters), and when none of the ids is there the answer
  is 404 with that list. Invalid input answers 422 with the field's location (`["body", "rows", 0, "seats"]`),
  FastAPI's usual error shape: a non-finite number (`NaN`, `Infinity`, `1e400`) included; a body that is not JSON
  answers 400 in the same shape, a body over `api.max_body_bytes` 413 (`deploy.api.guard`). The OpenAPI document
  says exactly one of `account_ids` / `rows` and the champion's feature row (`deploy.api.spec`).
- `GET /health`, `GET /v1/model` (champion, challenger, snapshot, reloads, shadow counters).
- `POST /v1/admin/reload`: reload now (snapshot included); needs `Authorization: Bearer <token>` with the admin
  token from `XSELL_API__ADMIN_TOKEN` or HOME/secrets/api_admin_token (mode 0600): 401 without it, 403 while no
  token is configured (admin endpoints off) and credentials are sent.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from deploy.api.guard import BodyLimit, echo, http_error_response, validation_error_response
from deploy.api.schemas import (
    InputErrors,
    Message,
    NotFound,
    ReloadAnswer,
    ScoreRequest,
    ScoreResponse,
    invalid_field,
    payload_frame,
)
from deploy.api.service import ScoringService, new_request_id
from deploy.api.spec import openapi_builder
from serving.scoring import ScoringError
from xsell.secret_files import read_secret
from xsell.settings import Settings

log = logging.getLogger(__name__)


#: Answers every POST may give besides its own (FastAPI adds 422 itself).
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": InputErrors, "description": "the body is not JSON (syntax or encoding)"},
    413: {"model": Message, "description": "the body is over api.max_body_bytes"},
    500: {"model": Message, "description": "an unexpected error (logged with its traceback)"},
}


ADMIN_TOKEN_FILE = "api_admin_token"


def admin_token(settings: Settings) -> str | None:
    """The admin token: `XSELL_API__ADMIN_TOKEN`, else HOME/secrets/api_admin_token (mode 0600), else None."""
    return read_secret(settings.home, ADMIN_TOKEN_FILE, settings.api.admin_token)


def check_admin_token(token: str | None, authorization: str | None) -> None:
    """401 without credentials; 403 when no admin token is configured (admin endpoints off); 401 unless
    `Authorization: Bearer <token>` carries it (compared in constant time)."""
    unauthorised = HTTPException(
        status_code=401,
        detail="admin token missing or wrong (Authorization: Bearer <token>)",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if not authorization:
        raise unauthorised
    if not token:
        raise HTTPException(
            status_code=403,
            detail="admin endpoints are disabled: no admin token is configured (XSELL_API__ADMIN_TOKEN or "
            f"HOME/secrets/{ADMIN_TOKEN_FILE})",
        )
    scheme, _, given = (authorization or "").partition(" ")
    ok = secrets.compare_digest(given.strip().encode(), token.encode())
    if scheme.lower() != "bearer" or not ok:
        raise unauthorised


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """500 as JSON for an error no handler expected (logged with its traceback); the server keeps serving."""
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"internal error ({type(exc).__name__}); logged by the server"}, status_code=500)


_bearer = HTTPBearer(auto_error=False, description="the admin token (XSELL_API__ADMIN_TOKEN)")


def create_app(service: ScoringService) -> FastAPI:
    """The FastAPI application around a loaded scoring service (its threads run while the app does)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="xsell scoring API",
        description="Champion propensity scores with tier, reasons and next product; the challenger in shadow.",
        version="1",
        lifespan=lifespan,
        exception_handlers={
            RequestValidationError: validation_error_response,
            StarletteHTTPException: http_error_response,
            Exception: unexpected_error,
        },
    )
    settings = service.settings
    token = admin_token(settings)  # read once: a bad secret file fails here, before serving
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    app.openapi = openapi_builder(app, lambda: service.state.row_model, settings.api)  # type: ignore[method-assign]

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness and what is served."""
        state = service.state
        return {
            "status": "ok",
            "champion_version": int(state.champion.version),
            "snapshot_as_of": None if state.snapshot is None else state.snapshot.as_of.isoformat(),
            "uptime_seconds": round(time.time() - service.started_at, 1),
        }

    @app.get("/v1/model")
    async def model() -> dict[str, Any]:
        """Champion and challenger (name, version, run), when loaded, the snapshot's date, reloads and shadow."""
        return service.describe()

    @app.post(
        "/v1/score",
        response_model=ScoreResponse,
        responses={
            **BODY_ERRORS,
            404: {"model": NotFound, "description": "none of the ids is in the snapshot"},
            422: {"model": InputErrors, "description": "invalid input, each error naming its field"},
            503: {"model": Message, "description": "nothing to score with: no snapshot materialised"},
        },
    )
    async def score(request: ScoreRequest) -> dict[str, Any]:
        """Champion scores of account ids (latest snapshot) or of feature rows."""
        request_id = new_request_id()
        unknown: list[str] = []
        try:
            if request.account_ids is not None:
                if len(request.account_ids) > settings.api.max_accounts:
                    raise invalid_field(
                        ("body", "account_ids"),
                        f"at most {settings.api.max_accounts} account ids per request (api.max_accounts)",
                    )
                state, rows, unknown = service.score_accounts(request.account_ids)
                unknown = [echo(u) for u in unknown]
                if not rows:
                    raise HTTPException(
                        status_code=404,
                        detail={
                            "msg": "none of the account ids is in the feature snapshot (unknown, or no eligible product)",
                            "snapshot_as_of": None if state.snapshot is None else state.snapshot.as_of.isoformat(),
                            "unknown_account_ids": unknown,
                        },
                    )
            else:
                assert request.rows is not None
                state = service.state
                frame = payload_frame(request.rows, state.row_model, settings.api.max_rows)
                state, rows = service.score_payload(frame, state)
        except ScoringError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return {
            "request_id": request_id,
            "model": {"name": state.champion.name, "version": int(state.champion.version)},
            "scores": rows,
            "unknown_account_ids": unknown,
        }

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadAnswer,
        responses={
            401: {"model": Message, "description": "admin token missing or wrong"},
            403: {"model": Message, "description": "admin endpoints off: no admin token is configured"},
            413: BODY_ERRORS[413],
            500: {"model": ReloadAnswer, "description": "the reload failed: the previous state keeps serving"},
        },
    )
    async def reload(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> JSONResponse:
        """Reload the champion, challenger and snapshot now; a failure keeps the old state serving (500)."""
        check_admin_token(token, None if credentials is None else f"{credentials.scheme} {credentials.credentials}")
        import anyio

        outcome = await anyio.to_thread.run_sync(lambda: service.reload("admin", force=True))
        body = {**outcome.to_dict(), "model": service.describe()}
        return JSONResponse(body, status_code=200 if outcome.reloaded else 500)

    return app


def serve(settings: Settings) -> None:
    """Load the champion and snapshot (errors surface before the server starts), then serve until interrupted."""
    import uvicorn

    service = ScoringService.load(settings)
    state = service.state
    log.info(
        "scoring API starting",
        extra={
            "host": settings.api.host,
            "port": settings.api.port,
            "champion_version": state.champion.version,
            "snapshot_as_of": None if state.snapshot is None else state.snapshot.as_of.isoformat(),
        },
    )
    uvicorn.run(
        create_app(service),
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
