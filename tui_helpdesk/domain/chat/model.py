"""What the chatbot platform tells us, as typed values.

The client turns the platform's JSON into these frozen dataclasses after
checking every field. Every text field in them (names, messages, channel,
reasons, languages, e-mail addresses) has already been passed through
:func:`tui_helpdesk.domain.text.clean`, so the rest of the program may show
them without further care. Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class ConversationState(str, enum.Enum):
    ONGOING = "ongoing"  # the bot (or nobody yet) is handling it
    ESCALATED = "escalated"  # the bot asked for a human
    TAKEN_OVER = "taken_over"  # a human took it over from the bot
    ENDED = "ended"

    @property
    def is_live(self) -> bool:
        return self is not ConversationState.ENDED


class MessageRole(str, enum.Enum):
    USER = "user"  # the customer
    ASSISTANT = "assistant"  # the bot
    HUMAN_AGENT = "human_agent"  # a teammate, through the help desk
    SYSTEM = "system"  # the platform itself (escalated, ended, ...)


@dataclass(frozen=True, slots=True)
class ChatUser:
    """The customer on the other end of a conversation."""

    id: str
    name: str
    language: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a transcript."""

    id: str
    role: MessageRole
    text: str
    created_at: datetime
    author_name: str | None = None  # the teammate's name on human_agent messages


@dataclass(frozen=True, slots=True)
class LastMessage:
    """The newest message of a conversation, as list responses carry it."""

    role: MessageRole
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation on the chatbot platform.

    ``messages`` is ``None`` when the conversation came from a list (which
    carries only ``last_message``) and the whole transcript, oldest first,
    when it came from :meth:`ChatbotClient.get_conversation`.
    """

    id: str
    state: ConversationState
    channel: str
    user: ChatUser
    ai_paused: bool
    created_at: datetime
    updated_at: datetime
    escalation_reason: str | None = None
    last_message: LastMessage | None = None
    messages: tuple[ChatMessage, ...] | None = None


@dataclass(frozen=True, slots=True)
class PlatformHealth:
    """The answer of the platform's health check."""

    status: str
    version: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The ``X-RateLimit-*`` headers of the latest response."""

    limit: int
    remaining: int
    reset_at: datetime | None
