"""Async HTTP client for the chatbot platform (contract: docs/chatbot-api.md).

:class:`ChatbotClient` polls the change feed of conversations, reads
transcripts, pauses and resumes the bot for one conversation, takes a
conversation over and posts a teammate's reply into the chat thread.

What it promises its callers:

* every answer is checked field by field (:mod:`.parse`) and returned as the
  frozen dataclasses of :mod:`tui_helpdesk.domain.chat.model`, with every text
  field cleaned of terminal escapes and controls; anything off-contract raises
  :class:`BadResponse`;
* every failure is a :class:`ChatbotError` (see
  :mod:`tui_helpdesk.domain.chat.errors`); connection
  errors, timeouts, 5xx and 429 are retried with exponential backoff and
  jitter (429 waits at least ``Retry-After``), a bounded number of times
  (:mod:`.retry`);
* the API key is sent only in the ``Authorization`` header and never appears
  in a repr, an exception, a log line or a URL.

All calls are safe to retry: reads trivially, pause/resume/takeover because
they are idempotent, replies because they carry an idempotency key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections.abc import Awaitable, Callable
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
from tui_helpdesk.domain.chat.model import ChatMessage, Conversation, PlatformHealth, RateLimitInfo
from tui_helpdesk.domain.text import one_line

from .parse import MAX_TIMESTAMP, Invalid, parse_conversation_of, parse_health, parse_page, parse_reply
from .retry import RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

API_PREFIX = "/api/v2/"
MAX_PAGE = 100


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
        return self._parse(f"GET {API_PREFIX}health", data, parse_health)

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
        return self._parse(f"GET {API_PREFIX}conversations", envelope, lambda env: parse_page(env, cursor))

    async def get_conversation(self, conversation_id: str) -> Conversation:
        """One conversation with its whole transcript (``messages``)."""
        path = _conv_path(conversation_id)
        data = await self._call("GET", path)
        return self._parse(f"GET {API_PREFIX}{path}", data,
                           lambda d: parse_conversation_of(d, conversation_id, with_messages=True))

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
        return self._parse(f"POST {API_PREFIX}{path}", data, parse_reply)

    # --------------------------------------------------------------- plumbing

    async def _conv_action(self, conversation_id: str, action: str) -> Conversation:
        path = f"{_conv_path(conversation_id)}/{action}"
        data = await self._call("POST", path, json_body={})
        return self._parse(f"POST {API_PREFIX}{path}", data, lambda d: parse_conversation_of(d, conversation_id))

    def _parse(self, what: str, value: Any, parser: Callable[[Any], Any]) -> Any:
        try:
            return parser(value)
        except Invalid as exc:
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
            retry_after = parse_retry_after(headers.get("Retry-After"))
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
            if math.isfinite(reset) and 0 <= reset <= MAX_TIMESTAMP:
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
