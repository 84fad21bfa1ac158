"""A chatbot platform simulator: a real HTTP server speaking docs/chatbot-api.md.

The demo (``helpdesk bot-sim``) and the tests run the help desk against it.
It keeps conversations in memory: simulated customers write in several
languages, the bot answers while it is allowed to, some conversations
escalate to a human and some end. Teammates' replies posted through the API
appear in the thread, and while the bot is paused for a conversation it stays
quiet.

The simulation moves one step per :meth:`Simulator.tick` (deterministic for a
given seed and sequence of calls), or on its own every few seconds. Test hooks
drive it directly (:meth:`~Simulator.add_conversation`,
:meth:`~Simulator.customer_says`, :meth:`~Simulator.escalate`,
:meth:`~Simulator.end`) and inject faults: error statuses, 429s, malformed
answers and dropped connections.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

from ...domain.chat.model import ConversationState as State
from ...domain.chat.model import MessageRole as Role
from . import sim_script as script

log = logging.getLogger(__name__)

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


@dataclass
class _Message:
    id: str
    role: Role
    text: str
    created_at: float
    author_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "role": self.role.value,
            "text": self.text,
            "created_at": self.created_at,
        }
        if self.author_name is not None:
            out["author_name"] = self.author_name
        return out


@dataclass
class _Conversation:
    id: str
    channel: str
    user_id: str
    name: str
    email: str | None
    language: str
    created_at: float
    updated_at: float
    seq: int = 0
    state: State = State.ONGOING
    ai_paused: bool = False
    escalation_reason: str | None = None
    messages: list[_Message] = field(default_factory=list)
    topic: script.Topic | None = None
    order: str = ""
    turns: int = 0  # customer messages so far
    awaiting_bot: bool = False  # a customer message the bot has not answered
    replies: dict[str, tuple[str, str, _Message]] = field(default_factory=dict)

    def to_json(self, *, with_messages: bool = False) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "name": self.name, "language": self.language}
        if self.email is not None:
            user["email"] = self.email
        last = self.messages[-1] if self.messages else None
        out: dict[str, Any] = {
            "id": self.id,
            "state": self.state.value,
            "channel": self.channel,
            "user": user,
            "ai_paused": self.ai_paused,
            "escalation_reason": self.escalation_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_message": {"role": last.role.value, "text": last.text, "created_at": last.created_at}
            if last
            else None,
        }
        if with_messages:
            out["messages"] = [m.to_json() for m in self.messages]
        return out


class Simulator:
    """An in-memory chatbot platform behind a real aiohttp server.

    *clock* returns Unix seconds and stamps everything (messages, rate-limit
    windows); tests pass a fake one. *rate_limit* requests are allowed per
    *rate_window* seconds of that clock, like the real platform's limit.
    """

    def __init__(
        self,
        api_key: str,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        rate_limit: int = 100,
        rate_window: float = 10.0,
        max_live: int = 25,
    ) -> None:
        if not api_key:
            raise ValueError("the simulator needs an API key")
        self._api_key = api_key
        self._rng = random.Random(seed)
        self._clock = clock
        self._rate_limit = rate_limit
        self._rate_window = rate_window
        self._window_index: int | None = None
        self._window_count = 0
        self.max_live = max_live
        self._convs: dict[str, _Conversation] = {}
        self._seq = 0
        self._conv_counter = 0
        self._msg_counter = 0
        self._request_counter = 0
        self._epoch = secrets.token_hex(4)
        # Faults, consumed one request at a time.
        self._fail: list[int] = []
        self._rate_limited: list[float] = []
        self._garbage: list[str | None] = []
        self._garbage_served = 0
        self.down = False
        #: (method, path) of every request that reached the server, for tests.
        self.requests: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.base_url: str | None = None

    def __repr__(self) -> str:
        return f"Simulator(base_url={self.base_url!r}, conversations={len(self._convs)})"

    # ------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, tick_seconds: float | None = None) -> str:
        """Listen on *host*:*port* (0 picks a free port); return the base URL.

        With *tick_seconds*, the simulation also advances on its own.
        """
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * 1024)
        r = app.router
        r.add_get(f"{API}/health", self._h_health)
        r.add_get(f"{API}/conversations", self._h_list)
        r.add_get(f"{API}/conversations/{{id}}", self._h_get)
        r.add_post(f"{API}/conversations/{{id}}/ai/pause", self._h_pause)
        r.add_post(f"{API}/conversations/{{id}}/ai/resume", self._h_resume)
        r.add_post(f"{API}/conversations/{{id}}/takeover", self._h_takeover)
        r.add_post(f"{API}/conversations/{{id}}/messages", self._h_post_message)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown}:{bound_port}"
        if tick_seconds:
            self._ticker = asyncio.create_task(self._tick_forever(tick_seconds), name="bot-sim ticker")
        return self.base_url

    async def stop(self) -> None:
        """Stop ticking and close the server (new connections are refused)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "Simulator":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _tick_forever(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                self.tick()
            except Exception:  # keep serving even if a step goes wrong
                log.exception("simulator tick failed")

    # ------------------------------------------------------------ test hooks

    def add_conversation(
        self,
        name: str | None = None,
        *,
        text: str | None = None,
        language: str = "en",
        channel: str = "web",
        email: str | None = None,
        user_id: str | None = None,
        ai_paused: bool = False,
    ) -> str:
        """Start a conversation (with the customer's first message, if *text*); return its id.

        Conversations added here move only through the hooks and the API; the
        bot still answers them while it is not paused.
        """
        lang = script.LANGUAGES.get(language)
        if name is None:
            names = lang.names if lang else script.LANGUAGES["en"].names
            name = names[self._conv_counter % len(names)]
        conv = self._new_conversation(name=name, language=language, channel=channel, email=email, user_id=user_id)
        conv.ai_paused = ai_paused
        if text is not None:
            self._customer_message(conv, text)
        return conv.id

    def customer_says(self, conv_id: str, text: str) -> str:
        """The customer writes *text*; an ended conversation reopens. Returns the message id."""
        conv = self._conv(conv_id)
        if conv.state is State.ENDED:
            conv.state = State.ONGOING
            self._add_message(conv, Role.SYSTEM, script.SYSTEM_REOPENED)
        return self._customer_message(conv, text).id

    def escalate(self, conv_id: str, reason: str) -> None:
        """The bot hands the conversation to a human, giving *reason*."""
        conv = self._conv(conv_id)
        if conv.state is State.ENDED:
            raise ValueError(f"conversation {conv_id} has ended")
        self._escalate(conv, reason)

    def end(self, conv_id: str) -> None:
        """The conversation ends (idempotent)."""
        conv = self._conv(conv_id)
        if conv.state is not State.ENDED:
            self._end(conv)

    def snapshot(self, conv_id: str) -> dict[str, Any]:
        """The conversation as the API returns it, messages included."""
        return self._conv(conv_id).to_json(with_messages=True)

    def conversation_ids(self) -> list[str]:
        return list(self._convs)

    def populate(self, count: int, *, steps: int = 6) -> None:
        """Start *count* random conversations and let them run *steps* ticks."""
        for _ in range(count):
            self._random_conversation()
        for _ in range(steps):
            self.tick()

    # ----------------------------------------------------------------- faults

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """Answer the next *n* requests with *status* and an error envelope."""
        self._fail.extend([status] * n)

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        """Answer the next *n* requests with 429 and ``Retry-After: retry_after``."""
        self._rate_limited.extend([retry_after] * n)

    def garbage_next(self, n: int = 1, kind: str | None = None) -> None:
        """Answer the next *n* requests with a malformed 200 (see ``GARBAGE_KINDS``).

        The request still takes effect; only its answer is spoiled. Without
        *kind*, successive answers cycle through all kinds.
        """
        if kind is not None and kind not in GARBAGE_KINDS:
            raise ValueError(f"unknown garbage kind {kind!r}")
        self._garbage.extend([kind] * n)

    # ------------------------------------------------------------ simulation

    def tick(self) -> None:
        """Advance the simulation one step."""
        rng = self._rng
        for conv in list(self._convs.values()):
            if conv.awaiting_bot and not conv.ai_paused and conv.state in (State.ONGOING, State.ESCALATED):
                self._bot_answer(conv)
        live = [c for c in self._convs.values() if c.state is not State.ENDED]
        if len(live) < self.max_live and rng.random() < 0.35:
            self._random_conversation()
        for conv in live:
            if conv.topic is None:  # added by a hook: only hooks move it (the bot still answers)
                continue
            roll = rng.random()
            lang = script.LANGUAGES.get(conv.language, script.LANGUAGES["en"])
            last = conv.messages[-1] if conv.messages else None
            if conv.state is State.ONGOING:
                if conv.awaiting_bot:
                    continue
                if roll < 0.08 and conv.turns >= 1:
                    if rng.random() < 0.5:
                        self._customer_message(conv, lang.ask_human)
                    self._escalate(conv, self._reason(conv))
                elif roll < 0.16 and conv.turns >= 2:
                    self._end(conv)
                elif roll < 0.40:
                    self._customer_message(conv, self._follow_up(conv))
            elif last is not None and last.role is Role.HUMAN_AGENT:
                if roll < 0.45:
                    self._customer_message(conv, rng.choice(lang.thanks))
            elif last is not None and last.role is Role.USER:
                if roll < 0.03:
                    self._end(conv)
            elif roll < 0.06:
                self._customer_message(conv, self._follow_up(conv))

    def _random_conversation(self) -> _Conversation:
        rng = self._rng
        codes = list(script.LANGUAGE_WEIGHTS)
        code = rng.choices(codes, weights=[script.LANGUAGE_WEIGHTS[c] for c in codes])[0]
        lang = script.LANGUAGES[code]
        name = rng.choice(lang.names)
        channel = rng.choice(script.CHANNELS)
        email = None
        if channel in ("web", "messenger") and rng.random() < 0.7:
            local = "".join(ch for ch in name.lower().replace(" ", ".") if ch.isascii() and (ch.isalnum() or ch == "."))
            email = f"{local or 'customer'}{rng.randint(1, 99)}@example.com"
        conv = self._new_conversation(name=name, language=code, channel=channel, email=email, user_id=None)
        conv.topic = rng.choice(lang.topics)
        conv.order = str(rng.randint(10000, 99999))
        self._customer_message(conv, conv.topic.opening.format(order=conv.order))
        return conv

    def _follow_up(self, conv: _Conversation) -> str:
        assert conv.topic is not None
        lines = conv.topic.follow_ups
        return lines[(conv.turns - 1) % len(lines)].format(order=conv.order)

    def _reason(self, conv: _Conversation) -> str:
        if conv.topic is None:
            return "Customer asked for a human"
        return conv.topic.escalation_reason.format(order=conv.order)

    def _bot_answer(self, conv: _Conversation) -> None:
        lang = script.LANGUAGES.get(conv.language, script.LANGUAGES["en"])
        if conv.state is State.ESCALATED:
            text = lang.holding
        elif conv.topic is not None and conv.turns <= len(conv.topic.bot_answers):
            text = conv.topic.bot_answers[conv.turns - 1].format(order=conv.order)
        else:
            text = script.GENERIC_BOT.get(conv.language, script.GENERIC_BOT["en"])
        self._add_message(conv, Role.ASSISTANT, text)
        conv.awaiting_bot = False

    def _escalate(self, conv: _Conversation, reason: str) -> None:
        lang = script.LANGUAGES.get(conv.language, script.LANGUAGES["en"])
        if not conv.ai_paused:
            self._add_message(conv, Role.ASSISTANT, lang.handoff)
        conv.state = State.ESCALATED
        conv.escalation_reason = reason
        conv.awaiting_bot = False
        self._add_message(conv, Role.SYSTEM, script.SYSTEM_ESCALATED.format(reason=reason))

    def _end(self, conv: _Conversation) -> None:
        conv.state = State.ENDED
        conv.awaiting_bot = False
        self._add_message(conv, Role.SYSTEM, script.SYSTEM_ENDED)

    # --------------------------------------------------------------- storage

    def _now(self) -> float:
        return round(float(self._clock()), 3)

    def _new_conversation(
        self, *, name: str, language: str, channel: str, email: str | None, user_id: str | None
    ) -> _Conversation:
        self._conv_counter += 1
        n = self._conv_counter
        now = self._now()
        conv = _Conversation(
            id=f"conv_{n:04d}",
            channel=channel,
            user_id=user_id or f"user_{n:04d}",
            name=name,
            email=email,
            language=language,
            created_at=now,
            updated_at=now,
        )
        self._convs[conv.id] = conv
        self._touch(conv)
        return conv

    def _conv(self, conv_id: str) -> _Conversation:
        try:
            return self._convs[conv_id]
        except KeyError:
            raise KeyError(f"no conversation {conv_id!r}") from None

    def _touch(self, conv: _Conversation) -> None:
        self._seq += 1
        conv.seq = self._seq
        conv.updated_at = max(conv.updated_at, self._now())

    def _add_message(self, conv: _Conversation, role: Role, text: str, author_name: str | None = None) -> _Message:
        self._msg_counter += 1
        msg = _Message(f"msg_{self._msg_counter:06d}", role, text, self._now(), author_name)
        conv.messages.append(msg)
        self._touch(conv)
        return msg

    def _customer_message(self, conv: _Conversation, text: str) -> _Message:
        conv.turns += 1
        conv.awaiting_bot = True
        return self._add_message(conv, Role.USER, text)

    # ------------------------------------------------------------------ HTTP

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


async def serve(
    host: str,
    port: int,
    api_key: str,
    seed: int = 0,
    tick_seconds: float | None = 3.0,
    *,
    initial_conversations: int = 12,
    on_ready: Callable[[str], Any] | None = None,
) -> None:
    """Run a simulator until cancelled (the ``helpdesk bot-sim`` command).

    Starts with *initial_conversations* conversations already under way and
    advances every *tick_seconds*. *on_ready* receives the base URL once the
    server listens.
    """
    sim = Simulator(api_key, seed=seed)
    sim.populate(initial_conversations)
    url = await sim.start(host, port, tick_seconds=tick_seconds)
    log.info("chatbot simulator listening on %s", url)
    if on_ready is not None:
        on_ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()
