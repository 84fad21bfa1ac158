"""Replies waiting to go out: the queued items of the two reply channels.

Two channels keep their own outbox: :class:`MailOutboxItem` is an e-mail to
send over SMTP (per-recipient results, the raw message), and
:class:`ChatOutboxItem` a teammate's reply to post into a chatbot
conversation (one part of a long reply, with its idempotency key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChatOutboxItem:
    id: int
    desk_id: int
    ticket_id: int
    entry_id: int
    part: int
    conversation_id: str
    text: str
    agent_name: str
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    reported: bool
    message_id: str | None


@dataclass(frozen=True, slots=True)
class MailOutboxItem:
    id: int
    ticket_id: int
    entry_id: int | None
    account: str
    message_id: str | None
    status: str
    automatic: bool
    mail_from: str
    recipients: tuple[str, ...]
    pending: tuple[str, ...]
    results: dict
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    raw: bytes
    created_at: datetime
    sent_at: datetime | None
