"""The help desk's record of chatbot conversations.

What the desk last saw of each conversation on the chat platform (its state,
customer, cached transcript, the ticket it was handed off to and the sync
bookkeeping), and how polling the platform's change feed is going. The store
reads them from its chat tables; services and the Conversations view use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One message of a cached transcript."""

    id: str | None
    role: str
    text: str
    at: datetime | None
    author: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """A conversation as the help desk last saw it."""

    desk_id: int
    id: str
    state: str
    channel: str
    user_id: str
    user_name: str
    user_email: str | None
    language: str
    ai_paused: bool
    escalation_reason: str | None
    created_at: datetime
    updated_at: datetime
    last_role: str | None
    last_text: str
    last_at: datetime | None
    transcript: tuple[ChatLine, ...]
    ticket_id: int | None
    handled: bool
    episode: int
    synced_message_id: str | None
    synced_updated_at: datetime | None
    synced_entry_id: int
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    seen_at: datetime

    @property
    def customer(self) -> str:
        return self.user_name or self.user_email or self.user_id


@dataclass(frozen=True, slots=True)
class PollStatus:
    cursor: str | None
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    retry_at: datetime | None
