"""Async HTTP client for the chatbot platform (contract: docs/chatbot-api.md).

:class:`ChatbotClient` polls the change feed of conversations, reads
transcripts, pauses and resumes the bot for one conversation, takes a
conversation over and posts a teammate's reply into the chat thread.

What it promises its callers:

* every answer is checked field by field and returned as the frozen
  dataclasses of :mod:`tui_helpdesk.domain.chat.model`, with every text field cleaned of terminal
  escapes and controls; anything off-contract raises :class:`BadResponse`;
* every failure is a :class:`ChatbotError` (see :mod:`tui_helpdesk.domain.chat.errors`); connection
  errors, timeouts, 5xx and 429 are retried with exponential backoff and
  jitter (429 waits at least ``Retry-After``), a bounded number of times;
* the API key is sent only in the ``Authorization`` header and never appears
  in a repr, an exception, a log line or a URL.

All calls are safe to retry: reads trivially, pause/resume/takeover because
they are idempotent, replies because they carry an idempotency key.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

import tui_helpdesk
from tui_helpdesk.domain.chat.errors import (
    BadResponse,
    ChatbotError,
    InvalidCursor,
    NotFound,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
)
from tui_helpdesk.domain.chat.model import (
    ChatMessage,
    ChatUser,
    Conversation,
    ConversationState,
    LastMessage,
    MessageRole,
    PlatformHealth,
    RateLimitInfo,
)
from tui_helpdesk.domain.text import clean, one_line

log = logging.getLogger(__name__)

API_PREFIX = "/api/v2/"
MAX_PAGE = 100
_MAX_ID_LEN = 200
_MAX_CURSOR_LEN = 2048
_MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the client tries before it raises a transient error.

    ``attempts`` counts the first try. The n-th retry waits about
    ``base_delay * 2**(n-1)`` seconds (capped at ``max_delay``), of which up to
    half is random jitter. A 429 waits ``Retry-After`` plus a little jitter;
    when the platform asks for more than ``max_retry_after`` seconds the client
    raises :class:`RateLimited` at once, so the caller can schedule the retry.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number *retry* (1-based), jitter included."""
        full = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return full / 2 + rng.uniform(0, full / 2)


class _Invalid(Exception):
    """A field of an answer broke the contract; becomes :class:`BadResponse`."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")


class _TooLarge(Exception):
    pass


class ChatbotClient:
    """Talks to one chatbot platform with one API key.

    Use as ``async with ChatbotClient(url, key) as bot: ...`` or call
    :meth:`aclose` when done. *transport* is handed to ``httpx.AsyncClient``
    (tests use it); *retry* and *sleep* let tests keep retries fast.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        max_response_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._root = _api_root(base_url)
        _check_key(api_key)
        if not timeout or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._timeout = float(timeout)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep or asyncio.sleep
        self._max_bytes = max_response_bytes
        self._rng = random.Random()
        self._rate_limit: RateLimitInfo | None = None
        # The key lives only inside httpx's headers, whose repr masks it.
        self._http = httpx.AsyncClient(
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": f"tui-helpdesk/{tui_helpdesk.__version__}",
            },
            timeout=self._timeout,
            transport=transport,
            follow_redirects=False,
            trust_env=transport is None,
        )

    def __repr__(self) -> str:
        return f"ChatbotClient({self._root.removesuffix(API_PREFIX)!r})"

    async def __aenter__(self) -> "ChatbotClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The rate-limit headers of the latest response, if it had them."""
        return self._rate_limit

    # ------------------------------------------------------------------ calls

    async def health(self) -> PlatformHealth:
        """Check that the platform answers (and, when it checks it, the key)."""
        data = await self._call("GET", "health")
        return self._parse(f"GET {API_PREFIX}health", data, _parse_health)

    async def changed_conversations(
        self, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[Conversation], str | None, bool]:
        """Conversations changed since *cursor*, oldest change first.

        Returns ``(conversations, next_cursor, has_more)``. Keep
        ``next_cursor`` and pass it to the next call; when ``has_more`` is
        true, call again at once. A conversation that changes again shows up
        again later, with its newest state (at-least-once delivery).
        Raises :class:`InvalidCursor` when the platform no longer knows the
        cursor: start again with ``None`` (replaying the feed is harmless).
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be an integer from 1 to {MAX_PAGE}")
        if cursor is not None and (not isinstance(cursor, str) or not cursor):
            raise ValueError("cursor must be a non-empty string or None")
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["updated_since_cursor"] = cursor
        envelope = await self._call("GET", "conversations", params=params, whole=True)

        def parse(env: Any) -> tuple[list[Conversation], str | None, bool]:
            items = _list(env, "data", "$")
            convs = [_parse_conversation(_as_obj(item, f"data[{i}]"), f"data[{i}]") for i, item in enumerate(items)]
            page = _obj(env, "pagination", "$")
            has_more = _bool(page, "hasMore", "pagination")
            next_cursor = _opt_str(page, "cursor", "pagination")
            if next_cursor is None:
                if has_more:
                    raise _Invalid("pagination.cursor", "missing while hasMore is true")
                next_cursor = cursor
            elif not next_cursor or len(next_cursor) > _MAX_CURSOR_LEN or one_line(next_cursor) != next_cursor:
                raise _Invalid("pagination.cursor", "not a valid cursor")
            return convs, next_cursor, has_more

        return self._parse(f"GET {API_PREFIX}conversations", envelope, parse)

    async def get_conversation(self, conversation_id: str) -> Conversation:
        """One conversation with its whole transcript (``messages``)."""
        path = _conv_path(conversation_id)
        data = await self._call("GET", path)

        def parse(d: Any) -> Conversation:
            conv = _parse_conversation(_as_obj(d, "data"), "data", with_messages=True)
            if conv.id != conversation_id:
                raise _Invalid("data.id", "is not the conversation asked for")
            return conv

        return self._parse(f"GET {API_PREFIX}{path}", data, parse)

    async def pause_ai(self, conversation_id: str) -> Conversation:
        """Stop the bot answering in this conversation (idempotent)."""
        return await self._conv_action(conversation_id, "ai/pause")

    async def resume_ai(self, conversation_id: str) -> Conversation:
        """Let the bot answer again; hands an escalated or taken-over chat back (idempotent)."""
        return await self._conv_action(conversation_id, "ai/resume")

    async def take_over(self, conversation_id: str) -> Conversation:
        """Mark the conversation taken over by a human; pauses the bot (idempotent).

        Raises :class:`Rejected` (code ``CONVERSATION_ENDED``) for an ended one.
        """
        return await self._conv_action(conversation_id, "takeover")

    async def post_reply(
        self, conversation_id: str, text: str, agent_name: str, idempotency_key: str
    ) -> ChatMessage:
        """Post a teammate's reply into the chat thread; returns the message.

        Sending the same *idempotency_key* again returns the first message and
        posts nothing new, so a reply whose answer was lost can be re-sent.
        """
        for name, value in (("text", text), ("agent_name", agent_name), ("idempotency_key", idempotency_key)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
        path = _conv_path(conversation_id) + "/messages"
        body = {"text": text, "agent_name": agent_name, "idempotency_key": idempotency_key}
        data = await self._call("POST", path, json_body=body)
        return self._parse(f"POST {API_PREFIX}{path}", data, lambda d: _parse_message(_as_obj(d, "data"), "data"))

    # --------------------------------------------------------------- plumbing

    async def _conv_action(self, conversation_id: str, action: str) -> Conversation:
        path = f"{_conv_path(conversation_id)}/{action}"
        data = await self._call("POST", path, json_body={})

        def parse(d: Any) -> Conversation:
            conv = _parse_conversation(_as_obj(d, "data"), "data")
            if conv.id != conversation_id:
                raise _Invalid("data.id", "is not the conversation asked for")
            return conv

        return self._parse(f"POST {API_PREFIX}{path}", data, parse)

    def _parse(self, what: str, value: Any, parser: Callable[[Any], Any]) -> Any:
        try:
            return parser(value)
        except _Invalid as exc:
            problem = str(exc)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError, OSError,
                RecursionError) as exc:
            problem = f"unreadable answer ({type(exc).__name__})"
        raise BadResponse(f"chatbot platform sent a malformed answer to {what}: {problem}")

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        whole: bool = False,
    ) -> Any:
        """Send one request with retries; return ``data`` (or the whole envelope)."""
        policy = self._retry
        what = f"{method} {API_PREFIX}{path}"
        for attempt in range(1, policy.attempts + 1):
            error: ChatbotError
            wait: float | None = None
            outcome = await self._send_once(method, path, params, json_body)
            if isinstance(outcome, ChatbotError):
                error = outcome
            else:
                status, headers, body = outcome
                self._note_rate_limit(headers)
                if 200 <= status < 300:
                    return self._decode(what, body, whole)
                error = self._error_for(what, status, headers, body)
                if isinstance(error, RateLimited) and error.retry_after is not None:
                    if error.retry_after > policy.max_retry_after:
                        raise error
                    wait = error.retry_after + self._rng.uniform(0, min(1.0, policy.base_delay))
            if not error.transient:
                raise error
            if attempt == policy.attempts:
                break
            if wait is None:
                wait = policy.backoff(attempt, self._rng)
            log.warning("%s; retrying in %.1fs (attempt %d of %d)", error, wait, attempt + 1, policy.attempts)
            await self._sleep(wait)
        if policy.attempts > 1:
            error.args = (f"{error.args[0]} (gave up after {policy.attempts} attempts)",)
        raise error

    async def _send_once(
        self, method: str, path: str, params: dict[str, Any] | None, json_body: Any
    ) -> tuple[int, httpx.Headers, bytes] | ChatbotError:
        what = f"{method} {API_PREFIX}{path}"
        problem: str
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http.stream(method, self._root + path, params=params, json=json_body) as resp:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > self._max_bytes:
                            raise _TooLarge
                        chunks.append(chunk)
                    return resp.status_code, resp.headers, b"".join(chunks)
        except _TooLarge:
            return BadResponse(f"chatbot platform sent an answer over {self._max_bytes} bytes to {what}")
        except httpx.DecodingError:
            return BadResponse(f"chatbot platform sent an undecodable answer to {what}")
        except (TimeoutError, httpx.TimeoutException):
            problem = f"timed out after {self._timeout:g}s"
        except httpx.ConnectError:
            problem = "could not connect"
        except httpx.RemoteProtocolError:
            problem = "connection closed without an answer"
        except (httpx.HTTPError, OSError) as exc:
            problem = f"network error ({type(exc).__name__})"
        return Unavailable(f"chatbot platform unavailable: {what}: {problem}")

    def _decode(self, what: str, body: bytes, whole: bool) -> Any:
        try:
            envelope = json.loads(body)
        except (ValueError, RecursionError):
            raise BadResponse(f"chatbot platform sent a malformed answer to {what}: not JSON") from None
        if not isinstance(envelope, dict) or "data" not in envelope:
            raise BadResponse(f"chatbot platform sent a malformed answer to {what}: no data envelope")
        return envelope if whole else envelope["data"]

    def _error_for(self, what: str, status: int, headers: httpx.Headers, body: bytes) -> ChatbotError:
        code, message = self._error_body(body)
        detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        text = f"{what}: {detail}"
        if status in (401, 403):
            return Unauthorized(f"chatbot platform refused the API key: {text}", status=status, code=code)
        if status == 404:
            return NotFound(f"not found on the chatbot platform: {text}", status=status, code=code)
        if status == 429:
            retry_after = _retry_after(headers.get("Retry-After"))
            return RateLimited(f"chatbot platform rate limit hit: {text}", retry_after=retry_after, code=code)
        if status >= 500 or status == 408:
            return Unavailable(f"chatbot platform unavailable: {text}", status=status, code=code)
        if 400 <= status < 500:
            cls = InvalidCursor if code == "VALIDATION_INVALID_CURSOR" else Rejected
            return cls(f"chatbot platform refused {text}", status=status, code=code)
        return BadResponse(f"chatbot platform sent an unexpected answer to {text}", status=status, code=code)

    def _error_body(self, body: bytes) -> tuple[str | None, str | None]:
        try:
            err = json.loads(body)["error"]
            code, message = err.get("code"), err.get("message")
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError):
            return None, None
        code = one_line(code, 64) if isinstance(code, str) else None
        message = one_line(message, 200) if isinstance(message, str) else None
        key = self._http.headers.get("Authorization", "").removeprefix("Bearer ")
        if message and key and key in message:
            message = message.replace(key, "[key]")
        return code or None, message or None

    def _note_rate_limit(self, headers: httpx.Headers) -> None:
        try:
            limit = int(headers["X-RateLimit-Limit"])
            remaining = int(headers["X-RateLimit-Remaining"])
        except (KeyError, ValueError):
            return
        reset_at = None
        try:
            reset = float(headers.get("X-RateLimit-Reset", ""))
            if math.isfinite(reset) and 0 <= reset <= _MAX_TIMESTAMP:
                reset_at = datetime.fromtimestamp(reset, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            pass
        self._rate_limit = RateLimitInfo(limit=limit, remaining=remaining, reset_at=reset_at)


# ----------------------------------------------------------------- helpers


def _api_root(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise ValueError("base URL must be a string")
    try:
        url = httpx.URL(base_url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError("base URL is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("base URL must start with http:// or https:// and name a host")
    if url.userinfo:
        raise ValueError("base URL must not hold credentials; the API key is passed on its own")
    root = str(url.copy_with(query=None, fragment=None)).rstrip("/")
    root = root.removesuffix("/api/v2")
    return root + API_PREFIX


def _check_key(api_key: str) -> None:
    if not isinstance(api_key, str) or not api_key.strip():
        raise ValueError("the chatbot API key is empty")
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in api_key):
        raise ValueError("the chatbot API key holds characters not allowed in an HTTP header")


def _conv_path(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not conversation_id:
        raise ValueError("conversation id must be a non-empty string")
    quoted = quote(conversation_id, safe="")
    if quoted in (".", ".."):
        quoted = quoted.replace(".", "%2E")
    return f"conversations/{quoted}"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# Field readers: each checks one field of a JSON object and says where it broke.


def _as_obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(where, f"expected an object, got {_kind(value)}")
    return value


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise _Invalid(f"{where}.{key}", "missing")
    return obj[key]


def _obj(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    return _as_obj(_field(obj, key, where), f"{where}.{key}")


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = _field(obj, key, where)
    if not isinstance(value, list):
        raise _Invalid(f"{where}.{key}", f"expected a list, got {_kind(value)}")
    return value


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise _Invalid(f"{where}.{key}", f"expected a string, got {_kind(value)}")
    return value


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise _Invalid(f"{where}.{key}", f"expected a string or null, got {_kind(value)}")
    return value


def _bool(obj: dict[str, Any], key: str, where: str) -> bool:
    value = _field(obj, key, where)
    if not isinstance(value, bool):
        raise _Invalid(f"{where}.{key}", f"expected true or false, got {_kind(value)}")
    return value


def _ident(obj: dict[str, Any], key: str, where: str) -> str:
    value = _str(obj, key, where)
    if not value or len(value) > _MAX_ID_LEN or one_line(value) != value:
        raise _Invalid(f"{where}.{key}", "not a valid identifier")
    return value


def _time(obj: dict[str, Any], key: str, where: str) -> datetime:
    value = _field(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid(f"{where}.{key}", f"expected Unix seconds, got {_kind(value)}")
    if not math.isfinite(value) or not 0 <= value <= _MAX_TIMESTAMP:
        raise _Invalid(f"{where}.{key}", "timestamp out of range")
    return datetime.fromtimestamp(value, tz=timezone.utc)


def _enum(obj: dict[str, Any], key: str, where: str, enum_type: type) -> Any:
    value = _str(obj, key, where)
    try:
        return enum_type(value)
    except ValueError:
        raise _Invalid(f"{where}.{key}", f"unknown value {one_line(value, 40)!r}") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _parse_health(data: Any) -> PlatformHealth:
    d = _as_obj(data, "data")
    version = _opt_str(d, "version", "data")
    return PlatformHealth(status=one_line(_str(d, "status", "data"), 40),
                          version=one_line(version, 40) if version is not None else None)


def _parse_user(d: dict[str, Any], where: str) -> ChatUser:
    email_ = _opt_str(d, "email", where)
    return ChatUser(
        id=_ident(d, "id", where),
        name=one_line(_str(d, "name", where), 200),
        language=one_line(_str(d, "language", where), 35),
        email=(one_line(email_, 320) or None) if email_ is not None else None,
    )


def _parse_message(d: dict[str, Any], where: str) -> ChatMessage:
    author = _opt_str(d, "author_name", where)
    return ChatMessage(
        id=_ident(d, "id", where),
        role=_enum(d, "role", where, MessageRole),
        text=clean(_str(d, "text", where)),
        created_at=_time(d, "created_at", where),
        author_name=(one_line(author, 200) or None) if author is not None else None,
    )


def _parse_last(d: dict[str, Any], where: str) -> LastMessage:
    return LastMessage(
        role=_enum(d, "role", where, MessageRole),
        text=clean(_str(d, "text", where)),
        created_at=_time(d, "created_at", where),
    )


def _parse_conversation(d: dict[str, Any], where: str, *, with_messages: bool = False) -> Conversation:
    reason = _opt_str(d, "escalation_reason", where)
    last = d.get("last_message")
    messages = None
    if with_messages:
        items = _list(d, "messages", where)
        messages = tuple(
            _parse_message(_as_obj(m, f"{where}.messages[{i}]"), f"{where}.messages[{i}]")
            for i, m in enumerate(items)
        )
    return Conversation(
        id=_ident(d, "id", where),
        state=_enum(d, "state", where, ConversationState),
        channel=one_line(_str(d, "channel", where), 40),
        user=_parse_user(_obj(d, "user", where), f"{where}.user"),
        ai_paused=_bool(d, "ai_paused", where),
        created_at=_time(d, "created_at", where),
        updated_at=_time(d, "updated_at", where),
        escalation_reason=clean(reason) if reason is not None else None,
        last_message=_parse_last(_as_obj(last, f"{where}.last_message"), f"{where}.last_message")
        if last is not None
        else None,
        messages=messages,
    )
