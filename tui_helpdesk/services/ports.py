"""The outside edges the services depend on, as typing Protocols.

Services never construct an adapter: bootstrap builds the IMAP worker, the
SMTP sender, the chatbot platform client and the AI assistant, and hands the
services factories for them. Each protocol below names only what the services
actually use, so a test double (or another implementation) needs nothing more.
The values and errors crossing the mail edges live in
:mod:`tui_helpdesk.domain.mail.transport`.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from ..domain.api import PostResult
from ..domain.chat.model import ChatMessage, Conversation
from ..domain.mail.transport import Fetched, Incoming, MailboxStatus, RecipientResult
from ..settings import DeskSettings, EmailSettings, MailAccount

__all__ = [
    "Assistant",
    "AttachmentStorage",
    "ChatPlatform",
    "ChatPlatformFactory",
    "Clock",
    "MailReader",
    "MailReaderFactory",
    "MailSender",
    "MailSenderFactory",
    "WebhookPoster",
]


class Clock(Protocol):
    """The current time, naive UTC: ``clock()``.

    The store's clock (``Store.open(clock=...)``) and the tests' settable
    clock are plain callables, so the port is one too.
    """

    def __call__(self) -> datetime: ...


class MailReader(Protocol):
    """One connection to one IMAP mailbox, driven from asyncio (the syncer's view of it).

    Errors are :class:`~tui_helpdesk.domain.mail.transport.ImapError`;
    :class:`~tui_helpdesk.domain.mail.transport.ConnectionLost` means
    reconnect. Fetching never sets ``\\Seen``: the caller marks messages only
    after its own commit.
    """

    # Set to wake a :meth:`wait` early (the syncer is stopping).
    stop_event: threading.Event

    async def open(self) -> None: ...

    async def select(self, mailbox: str, processed_folder: str = "") -> MailboxStatus: ...

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above *last_uid*, ascending."""
        ...

    async def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        """The messages the server returned; a missing UID is simply absent."""
        ...

    async def prepare(self, fetched: Sequence[Fetched]) -> list[Incoming]:
        """Parse and classify *fetched* beside the connection, off the event loop."""
        ...

    async def mark(self, uids: Sequence[int], processed_folder: str = "") -> None:
        """Flag ``\\Seen``, or move to *processed_folder* when one is given."""
        ...

    async def wait(self, seconds: float, *, poll_chunk: float = 1.0) -> str:
        """IDLE (or poll) up to *seconds*, until new mail, or :attr:`stop_event`."""
        ...

    async def close(self) -> None: ...


class MailReaderFactory(Protocol):
    """Builds a :class:`MailReader` for one account (``ImapWorker`` itself fits)."""

    def __call__(self, account: MailAccount, *, timeout: float, label: str) -> MailReader: ...


class MailSender(Protocol):
    """One SMTP account with a reused connection (the outbox's view of it)."""

    def check(self) -> None:
        """Raise :class:`~tui_helpdesk.domain.mail.transport.SmtpError` for a configuration no retry fixes."""
        ...

    async def send(self, mail_from: str, recipients: list[str], raw: bytes) -> dict[str, RecipientResult]:
        """Deliver *raw*; never raises for a delivery problem: one result per recipient."""
        ...

    async def close(self) -> None: ...


class MailSenderFactory(Protocol):
    """An account's email settings -> a sender for it (one per reused connection)."""

    def __call__(self, email: EmailSettings, *, timeout: float, data_timeout: float) -> MailSender: ...


class AttachmentStorage(Protocol):
    """Attachments and raw messages kept once per content, by SHA-256 (files beside the database)."""

    def put(self, data: bytes) -> str:
        """Keep *data*; return its SHA-256 (what the timeline entry refers to)."""
        ...

    def get(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...


class ChatPlatform(Protocol):
    """The chatbot platform of one desk (docs/chatbot-api.md).

    Failures are the ``ChatbotError`` family (``Unavailable``, ``RateLimited``,
    ``Rejected``, ``InvalidCursor``...); returned values are already cleaned.
    """

    async def changed_conversations(
        self, cursor: str | None = None, limit: int = 50,
    ) -> tuple[list[Conversation], str | None, bool]:
        """One page of the change feed: conversations, the next cursor, whether more follow."""
        ...

    async def get_conversation(self, conversation_id: str) -> Conversation:
        """The conversation with its whole transcript."""
        ...

    async def pause_ai(self, conversation_id: str) -> Conversation: ...

    async def resume_ai(self, conversation_id: str) -> Conversation: ...

    async def take_over(self, conversation_id: str) -> Conversation: ...

    async def post_reply(self, conversation_id: str, text: str, agent_name: str,
                         idempotency_key: str) -> ChatMessage:
        """Post a teammate's reply; the same *idempotency_key* posts it once."""
        ...

    async def aclose(self) -> None: ...


class ChatPlatformFactory(Protocol):
    """Builds the :class:`ChatPlatform` of a desk from its settings and API key (may raise ValueError)."""

    def __call__(self, desk: DeskSettings, api_key: str) -> ChatPlatform: ...


class Assistant(Protocol):
    """An AI model behind an OpenAI-compatible chat completion, streamed.

    *messages* are ``{"role": "system" | "user" | "assistant", "content": str}``;
    the answer arrives as text chunks. When *usage* is given, the implementation
    fills in ``prompt_tokens``, ``completion_tokens``, ``model`` and ``ms``.
    Errors are :class:`~tui_helpdesk.domain.ai.AIError` with one clear line;
    callers that only want a best effort treat any exception as "no answer".
    """

    def stream(
        self, messages: list[dict], *, model: str | None = None, temperature: float | None = None,
        max_tokens: int | None = None, usage: dict | None = None,
    ) -> AsyncIterator[str]: ...


class WebhookPoster(Protocol):
    """POSTs a signed webhook body to a subscriber (``adapters.webhooks.HttpPoster`` is one).

    Never raises for what the far side did: a timeout or a refused
    connection is a :class:`~tui_helpdesk.domain.api.PostResult` with no
    status and an error.
    """

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> "PostResult": ...

    async def aclose(self) -> None: ...
