"""Errors as the ``{error: {code, message}}`` envelope: every 4xx has a code, no 5xx shows a traceback.

Codes follow the chatbot contract's style (docs/chatbot-api.md) and are
listed in the README. :func:`install` maps FastAPI's validation errors,
Starlette's routing errors, the help desk's own errors and anything
unexpected onto them.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..domain.errors import ConflictError, HelpdeskError, NotFound, PermissionDenied, QueryError, UsageError
from ..domain.text import one_line

log = logging.getLogger("tui_helpdesk.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": {"code": code, "message": one_line(message, 500)}}, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def from_helpdesk(exc: HelpdeskError) -> ApiError:
    from ..services.idempotency import InProgress, KeyReused

    if isinstance(exc, KeyReused):
        return ApiError(422, "IDEMPOTENCY_KEY_REUSED", str(exc))
    if isinstance(exc, InProgress):
        return ApiError(409, "IDEMPOTENCY_REQUEST_IN_PROGRESS", str(exc), {"Retry-After": "1"})
    if isinstance(exc, QueryError):
        return ApiError(400, "VALIDATION_INVALID_QUERY", f"{exc.reason} at column {exc.start + 1}")
    if isinstance(exc, NotFound):
        return ApiError(404, "RESOURCE_NOT_FOUND", str(exc))
    if isinstance(exc, PermissionDenied):
        return ApiError(403, "AUTH_INSUFFICIENT_PERMISSIONS", str(exc))
    if isinstance(exc, ConflictError):
        return ApiError(409, "CONFLICT", str(exc))
    if isinstance(exc, UsageError):
        return ApiError(422, "VALIDATION_INVALID_BODY", str(exc).splitlines()[0])
    return ApiError(409, "REQUEST_REFUSED", str(exc).splitlines()[0])


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "VALIDATION_MALFORMED_JSON", "the body is not valid JSON"
    first = errors[0] if errors else {}
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    place = first.get("loc", ("body",))[0] if first.get("loc") else "body"
    # The message only: pydantic's text never echoes the input, which may be large or hostile.
    text = f"{'.'.join(where) or 'body'}: {first.get('msg', 'invalid')}"
    if place == "header":
        return 400, "VALIDATION_INVALID_HEADER", text
    if place in ("query", "path"):
        return 400, "VALIDATION_INVALID_QUERY", text
    return 422, "VALIDATION_INVALID_BODY", text


def _allowed(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette names only the first route's)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(HelpdeskError)
    async def _helpdesk_error(request: Request, exc: HelpdeskError) -> Response:
        err = from_helpdesk(exc)
        return error_response(err.status, err.code, err.message, err.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        status, code, message = _validation_message(exc)
        return error_response(status, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "RESOURCE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE",
                 415: "UNSUPPORTED_MEDIA_TYPE"}
        message = {404: "no such path", 405: "method not allowed on this path"}.get(exc.status_code, str(exc.detail))
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed(request))
        return error_response(exc.status_code, codes.get(exc.status_code, f"HTTP_{exc.status_code}"), message,
                              headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("request %s failed: %s", request.headers.get("x-request-id", "-"), type(exc).__name__,
                  exc_info=exc)
        return error_response(500, "INTERNAL_SERVER_ERROR", "unexpected server error; safe to retry with backoff")
