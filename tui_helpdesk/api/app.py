"""The FastAPI application: lifespan (the Helpdesk, the webhook sender), auth, rate limit, routes.

:func:`create_app` builds it for ``helpdesk api serve`` and the tests;
:func:`app_from_env` is the factory uvicorn's worker processes call
(``--workers N``), reading the same settings from the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass

from fastapi import FastAPI, Request

from .. import settings as settings_mod
from ..bootstrap import Helpdesk, bootstrap
from ..domain.api import ApiToken
from . import errors
from .errors import ApiError
from .middleware import MAX_BODY_BYTES, ApiMiddleware
from .ratelimit import RateLimiter

log = logging.getLogger("tui_helpdesk.api")

OPTIONS_ENV = "HELPDESK_API_OPTIONS"
VERSION = "1.0.0"

DESCRIPTION = f"""
The help desk's public API: create tickets, add customer messages, list and read tickets.

**Auth.** `Authorization: Bearer <token>`; tokens are per desk, made by an admin with
`helpdesk api token create`, scoped `read` or `write` (which includes read).

**Envelopes.** `{{"data": ...}}`, `{{"data": [...], "pagination": {{"cursor", "hasMore"}}}}`,
`{{"error": {{"code", "message"}}}}`. Every response has `X-Request-Id`.

**Idempotency.** Send `Idempotency-Key` (1-255 printable characters) on POSTs: the first result
is replayed for 24 hours (with `Idempotent-Replayed: true`); the same key with another body is
`422 IDEMPOTENCY_KEY_REUSED`; a duplicate while the first runs is `409 IDEMPOTENCY_REQUEST_IN_PROGRESS`.

**Rate limit.** Per token; `RateLimit-*` and `X-RateLimit-*` headers, `429` with `Retry-After`.

**Limits.** Request bodies up to {MAX_BODY_BYTES:,} bytes, `Content-Type: application/json`.
"""


@dataclass(frozen=True)
class ApiOptions:
    rate_limit: int = 600  # requests per window per token
    rate_window: float = 60.0
    auth_cache_seconds: float = 2.0  # a revoked token stops working within this long
    send_webhooks: bool = True  # this process drains the webhook outbox (under the lease)
    webhook_poll: float = 1.0

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ApiOptions":
        raw = os.environ.get(OPTIONS_ENV)
        return cls(**json.loads(raw)) if raw else cls()


class ApiState:
    """What the routes share: the Helpdesk, the limiter and a short cache of checked tokens."""

    def __init__(self, hd: Helpdesk, options: ApiOptions):
        self.hd = hd
        self.options = options
        self.limiter = RateLimiter(options.rate_limit, options.rate_window)
        self._tokens: dict[str, tuple[ApiToken | None, float]] = {}

    async def authenticate(self, token: str) -> ApiToken | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._tokens.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        record = await self.hd.api_access.authenticate(token)
        if self.options.auth_cache_seconds > 0:
            if len(self._tokens) > 1000:
                self._tokens.clear()
            self._tokens[key] = (record, now + self.options.auth_cache_seconds)
        return record


# The token scheme as the OpenAPI document states it (added in _openapi, and to each route
# that needs a token with BEARER): the header is read by reader/writer themselves, since
# FastAPI's HTTPBearer would be one more level of dependencies on every request.
SECURITY_SCHEME = {"HTTPBearer": {"type": "http", "description": "A desk's API token: helpdesk api token create",
                                  "scheme": "bearer"}}
BEARER = {"security": [{"HTTPBearer": []}]}


def _bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (any case of "Bearer"), or None."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def state(request: Request) -> ApiState:
    return request.app.state.api


async def _authenticated(request: Request, scope: str) -> ApiToken:
    api = state(request)
    given = _bearer_token(request)
    if given is None:
        raise ApiError(401, "AUTH_MISSING_TOKEN", "send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})
    token = await api.authenticate(given)
    if token is None:
        raise ApiError(401, "AUTH_INVALID_TOKEN", "unknown, malformed or revoked token", {"WWW-Authenticate": "Bearer"})
    decision = api.limiter.hit(token.id)
    request.state.rate_headers = decision.headers(time.time())
    if not decision.allowed:
        raise ApiError(429, "RATE_LIMIT_TOO_MANY_REQUESTS", "over the rate limit; see Retry-After")
    if scope == "write" and not token.allows("write"):  # every token reads
        raise ApiError(403, "AUTH_INSUFFICIENT_SCOPE", "this token may read only; writing needs the write scope")
    return token


# One dependency per route (each level of FastAPI's dependency tree costs every request).

async def reader(request: Request) -> ApiToken:
    return await _authenticated(request, "read")


async def writer(request: Request) -> ApiToken:
    return await _authenticated(request, "write")


def create_app(settings: settings_mod.Settings | None = None, *, options: ApiOptions | None = None,
               helpdesk: Helpdesk | None = None) -> FastAPI:
    """The API application; it opens its own Helpdesk from *settings* unless handed one."""
    options = options or ApiOptions()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        hd = helpdesk or await bootstrap(settings or settings_mod.load(None), create=False)
        app.state.api = ApiState(hd, options)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_housekeeping(hd, stop))]
        if options.send_webhooks:
            tasks.append(asyncio.create_task(hd.webhooks.run(stop, poll=options.webhook_poll)))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if helpdesk is None:
                await hd.close()

    app = FastAPI(title="tui-helpdesk public API", version=VERSION, description=DESCRIPTION, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    errors.install(app)
    from .routes import router

    app.include_router(router)
    app.add_middleware(ApiMiddleware)
    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document without its stock 422 answers: this API's validation errors are the
    error envelope (400 for parameters, 422 for bodies), declared route by route."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for ops in doc.get("paths", {}).values():
            for op in ops.values():
                stock = op.get("responses", {}).get("422", {})
                if "HTTPValidationError" in json.dumps(stock):
                    del op["responses"]["422"]
        doc.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEME
        schemas = doc.get("components", {}).get("schemas", {})
        if "HTTPValidationError" not in json.dumps(doc.get("paths", {})):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = doc
    return app.openapi_schema


async def _housekeeping(hd: Helpdesk, stop: asyncio.Event) -> None:
    """Forget expired idempotency keys now and then."""
    while not stop.is_set():
        try:
            await hd.idempotency.purge()
        except Exception:  # noqa: BLE001 - housekeeping never stops the server
            log.warning("could not purge idempotency keys", exc_info=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=600)


def app_from_env() -> FastAPI:
    """For uvicorn's worker processes: settings from HELPDESK_CONFIG / HELPDESK_DB, options from the env."""
    settings = settings_mod.load(os.environ.get("HELPDESK_CONFIG"), database_url=os.environ.get("HELPDESK_DB"))
    return create_app(settings, options=ApiOptions.from_env())
