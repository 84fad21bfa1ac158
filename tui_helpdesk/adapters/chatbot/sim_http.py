"""The simulator's HTTP face: routing checks, injected faults, rate limits and the API's handlers.

:class:`SimulatorHttp` is a part of :class:`~.sim.Simulator` (which keeps the
conversations, the fault queues and the counters it reads); it answers every
request the way docs/chatbot-api.md says, and spoils answers on request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web

from ...domain.chat.model import ConversationState as State
from ...domain.chat.model import MessageRole as Role
from . import sim_script as script

# Failures are logged under the simulator's name, where they always were.
log = logging.getLogger(__package__ + ".sim")

API = "/api/v2"
VERSION = "sim-1"
GARBAGE_KINDS = (
    "truncated",  # the JSON cut in half
    "html",  # a proxy's error page with status 200
    "no_envelope",  # the payload without {"data": ...}
    "null_data",  # {"data": null}
    "missing_field",  # a required field left out
    "wrong_type",  # a field of the wrong JSON type
    "bad_enum",  # a state or role outside the contract
    "bad_timestamp",  # a timestamp that is not Unix seconds
    "nested",  # a broken field inside a message or the user
    "deep",  # JSON nested far too deep to parse
)

_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


class SimulatorHttp:
    """Request handling of the simulator; the state it reads is set up by ``Simulator.__init__``."""

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        self._request_counter += 1
        if self.down:
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        response = await self._dispatch(request, handler)
        if self._garbage and 200 <= response.status < 300 and isinstance(response, web.Response):
            response = self._spoil(response, self._garbage.pop(0))
        self._rate_headers(response)
        response.headers["X-Request-Id"] = f"req_{self._request_counter:06d}"
        return response

    async def _dispatch(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if self._rate_limited:
            wait = self._rate_limited.pop(0)
            return _error(429, "RATE_LIMIT_TOO_MANY_REQUESTS", "Too many requests",
                          headers={"Retry-After": _seconds(wait)})
        if self._fail:
            status = self._fail.pop(0)
            return _error(status, "INTERNAL_SERVER_ERROR" if status >= 500 else "INJECTED_FAULT",
                          "Simulated failure")
        auth = request.headers.get("Authorization")
        if auth is None and request.path != f"{API}/health":
            return _error(401, "AUTH_MISSING_API_KEY", "Send Authorization: Bearer <key>")
        if auth is not None:
            scheme, _, key = auth.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), self._api_key.encode()):
                return _error(401, "AUTH_INVALID_API_KEY", "Unknown, malformed or revoked API key")
        retry = self._count_request()
        if retry is not None:
            return _error(429, "RATE_LIMIT_TOO_MANY_REQUESTS", "Too many requests",
                          headers={"Retry-After": _seconds(retry)})
        try:
            return await handler(request)
        except web.HTTPException as exc:
            codes = {404: "RESOURCE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "VALIDATION_BODY_TOO_LARGE"}
            return _error(exc.status, codes.get(exc.status, "HTTP_ERROR"), exc.reason)
        except Exception:
            log.exception("simulator handler failed")
            return _error(500, "INTERNAL_SERVER_ERROR", "Unexpected server error")

    def _window(self) -> tuple[int, float]:
        now = self._clock()
        index = int(now // self._rate_window)
        return index, (index + 1) * self._rate_window

    def _count_request(self) -> float | None:
        """Count one request against the limit; the wait in seconds if over it."""
        index, reset = self._window()
        if index != self._window_index:
            self._window_index, self._window_count = index, 0
        if self._window_count >= self._rate_limit:
            return max(0.0, reset - self._clock())
        self._window_count += 1
        return None

    def _rate_headers(self, response: web.StreamResponse) -> None:
        index, reset = self._window()
        used = self._window_count if index == self._window_index else 0
        response.headers["X-RateLimit-Limit"] = str(self._rate_limit)
        response.headers["X-RateLimit-Remaining"] = str(max(0, self._rate_limit - used))
        response.headers["X-RateLimit-Reset"] = str(math.ceil(reset))

    def _spoil(self, response: web.Response, kind: str | None) -> web.Response:
        if kind is None:
            kind = GARBAGE_KINDS[self._garbage_served % len(GARBAGE_KINDS)]
        self._garbage_served += 1
        body = response.body if isinstance(response.body, bytes) else b""
        return web.Response(status=200, body=_spoiled(body, kind), content_type="application/json")

    # Handlers: each returns a response; errors use the contract's envelope.

    async def _h_health(self, request: web.Request) -> web.Response:
        return _data({"status": "ok", "version": VERSION})

    async def _h_list(self, request: web.Request) -> web.Response:
        raw_limit = request.query.get("limit", "20")
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return _error(400, "VALIDATION_INVALID_QUERY", "limit must be an integer from 1 to 100")
        since = 0
        raw_cursor = request.query.get("updated_since_cursor")
        if raw_cursor:
            since = self._decode_cursor(raw_cursor)
            if since is None:
                return _error(400, "VALIDATION_INVALID_CURSOR", "Unknown or expired cursor")
        changed = sorted((c for c in self._convs.values() if c.seq > since), key=lambda c: c.seq)
        page = changed[:limit]
        cursor = self._encode_cursor(page[-1].seq if page else since)
        return _data([c.to_json() for c in page], pagination={"cursor": cursor, "hasMore": len(changed) > limit})

    async def _h_get(self, request: web.Request) -> web.Response:
        conv = self._convs.get(request.match_info["id"])
        if conv is None:
            return _not_found()
        return _data(conv.to_json(with_messages=True))

    async def _h_pause(self, request: web.Request) -> web.Response:
        conv = self._convs.get(request.match_info["id"])
        if conv is None:
            return _not_found()
        if not conv.ai_paused:
            conv.ai_paused = True
            self._touch(conv)
        return _data(conv.to_json())

    async def _h_resume(self, request: web.Request) -> web.Response:
        conv = self._convs.get(request.match_info["id"])
        if conv is None:
            return _not_found()
        handed_back = conv.state in (State.ESCALATED, State.TAKEN_OVER)
        if conv.ai_paused or handed_back:
            conv.ai_paused = False
            if handed_back:
                conv.state = State.ONGOING
                conv.escalation_reason = None
                self._add_message(conv, Role.SYSTEM, script.SYSTEM_HANDED_BACK)
            else:
                self._touch(conv)
        return _data(conv.to_json())

    async def _h_takeover(self, request: web.Request) -> web.Response:
        conv = self._convs.get(request.match_info["id"])
        if conv is None:
            return _not_found()
        if conv.state is State.ENDED:
            return _error(409, "CONVERSATION_ENDED", "The conversation has ended")
        if conv.state is not State.TAKEN_OVER or not conv.ai_paused:
            conv.state = State.TAKEN_OVER
            conv.ai_paused = True
            conv.awaiting_bot = False
            self._add_message(conv, Role.SYSTEM, script.SYSTEM_TAKEN_OVER)
        return _data(conv.to_json())

    async def _h_post_message(self, request: web.Request) -> web.Response:
        conv = self._convs.get(request.match_info["id"])
        if conv is None:
            return _not_found()
        try:
            body = json.loads(await request.read())
        except (ValueError, RecursionError):
            return _error(400, "VALIDATION_INVALID_BODY", "Body must be a JSON object")
        if not isinstance(body, dict):
            return _error(400, "VALIDATION_INVALID_BODY", "Body must be a JSON object")
        fields = {}
        for key, limit in (("text", 20000), ("agent_name", 200), ("idempotency_key", 200)):
            value = body.get(key)
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                return _error(400, "VALIDATION_INVALID_BODY",
                              f"{key} is required and must be a non-empty string of at most {limit} characters")
            fields[key] = value
        key = fields["idempotency_key"]
        seen = conv.replies.get(key)
        if seen is not None:
            if (seen[0], seen[1]) != (fields["text"], fields["agent_name"]):
                return _error(409, "IDEMPOTENCY_KEY_REUSED", "This idempotency key was used for another message")
            return _data(seen[2].to_json())
        if conv.state is State.ENDED:
            return _error(409, "CONVERSATION_ENDED", "The conversation has ended")
        msg = self._add_message(conv, Role.HUMAN_AGENT, fields["text"], author_name=fields["agent_name"])
        conv.awaiting_bot = False
        conv.replies[key] = (fields["text"], fields["agent_name"], msg)
        return _data(msg.to_json(), status=201)

    def _encode_cursor(self, seq: int) -> str:
        return base64.urlsafe_b64encode(f"{self._epoch}.{seq}".encode()).decode().rstrip("=")

    def _decode_cursor(self, cursor: str) -> int | None:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            epoch, _, seq_text = raw.partition(".")
            seq = int(seq_text)
        except (binascii.Error, ValueError):
            return None
        if epoch != self._epoch or not 0 <= seq <= self._seq:
            return None
        return seq


def _data(payload: Any, *, status: int = 200, pagination: dict[str, Any] | None = None) -> web.Response:
    envelope: dict[str, Any] = {"data": payload}
    if pagination is not None:
        envelope["pagination"] = pagination
    return web.json_response(envelope, status=status, dumps=_dumps)


def _error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers,
                             dumps=_dumps)


def _not_found() -> web.Response:
    return _error(404, "RESOURCE_NOT_FOUND", "No such conversation")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _spoiled(body: bytes, kind: str) -> bytes:
    """A malformed version of the JSON answer *body*."""
    if kind == "truncated":
        return body[: max(1, len(body) // 2)]
    if kind == "html":
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    if kind == "deep":
        return b"[" * 100_000 + b"]" * 100_000
    try:
        env = json.loads(body)
        data = env["data"]
    except (ValueError, KeyError, TypeError):
        return b"{"
    if kind == "no_envelope":
        return _dumps(data).encode()
    if kind == "null_data":
        return _dumps({"data": None}).encode()
    if isinstance(data, list):
        target = data[0] if data and isinstance(data[0], dict) else None
    else:
        target = data if isinstance(data, dict) else None
    done = False
    if target is not None:
        if kind == "missing_field":
            done = _first(target, ("state", "role", "status", "id"), lambda t, k: t.pop(k))
        elif kind == "wrong_type":
            done = _first(target, ("ai_paused", "user", "text", "status"), lambda t, k: t.__setitem__(
                k, {"ai_paused": "yes", "user": "alice", "text": 42, "status": 7}[k]))
        elif kind == "bad_enum":
            done = _first(target, ("state", "role"), lambda t, k: t.__setitem__(k, "archived"))
        elif kind == "bad_timestamp":
            done = _first(target, ("created_at",), lambda t, k: t.__setitem__(k, "2024-05-01 10:00"))
        elif kind == "nested":
            messages = target.get("messages")
            if isinstance(messages, list) and messages and isinstance(messages[0], dict):
                messages[0].pop("role", None)
                done = True
            elif isinstance(target.get("user"), dict):
                target["user"]["id"] = None
                done = True
    if not done:
        env["data"] = "garbage" if not isinstance(data, list) else [17]
    return _dumps(env).encode()


def _first(target: dict[str, Any], keys: tuple[str, ...], change: Callable[[dict[str, Any], str], Any]) -> bool:
    for key in keys:
        if key in target:
            change(target, key)
            return True
    return False
