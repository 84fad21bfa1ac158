"""What the parts of the conversation service share: limits, the desk record, reports, transcript text.

Kept apart so that the poller, escalation and following modules (and the
service that ties them) import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ...domain.chat.model import ChatMessage, MessageRole
from ...adapters.store.chatstore import ChatLine, naive
from ...domain.errors import ConfigError
from ...domain.text import clean, one_line
from ...settings import DeskSettings

PAGE_LIMIT = 100
MAX_PAGES = 50  # per poll; the rest on the next one
TRANSCRIPT_LINES = 500  # messages written into the summary note
ENDED_SHOWN = timedelta(hours=24)  # ended conversations stay in the view this long
WORK_RETRY_BASE = 5.0
WORK_RETRY_CAP = 300.0
POLL_BACKOFF_CAP = 60.0
ENDED = "CONVERSATION_ENDED"

STATE_LABELS = {
    "ongoing": "ongoing",
    "escalated": "escalated",
    "taken_over": "taken over",
    "ended": "ended",
}


# ---------------------------------------------------------------- reporting


@dataclass
class PollReport:
    """What one poll of one desk did (for tests, logs and ``helpdesk sync``)."""

    changed: int = 0
    created: list[int] = field(default_factory=list)
    synced: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (conversation id, error)


@dataclass(frozen=True, slots=True)
class _Desk:
    slug: str
    id: int
    settings: DeskSettings


class ChatNotConfigured(ConfigError):
    """The desk has no chatbot platform (or no API key) configured."""


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _backoff(attempts: int, base: float, cap: float) -> float:
    return min(cap, base * (2 ** max(0, attempts - 1)))


# ------------------------------------------------------------------ helpers


def _line(m: ChatMessage) -> ChatLine:
    return ChatLine(m.id, m.role.value, m.text, naive(m.created_at), m.author_name)


def _event_text(m: ChatMessage) -> str:
    text = one_line(m.text, 300)
    if m.role is MessageRole.ASSISTANT:
        return f"Chatbot said: {text}"
    if m.role is MessageRole.HUMAN_AGENT:
        return f"{one_line(m.author_name or 'A teammate', 60)} wrote on the chat platform: {text}"
    return f"Chat: {text}"


def transcript_text(messages: Sequence[ChatMessage], customer: str) -> tuple[str, int]:
    """The transcript as plain text for the folded part of the summary note; (text, messages shown).

    Times are UTC; the date is written on the first line and when it changes.
    """
    shown = list(messages)[-TRANSCRIPT_LINES:]
    lines: list[str] = []
    if len(messages) > len(shown):
        lines.append(f"({len(messages) - len(shown)} earlier messages not shown)")
    day = None
    for m in shown:
        at = _utc(m.created_at)
        stamp = at.strftime("%H:%M") if at else "--:--"
        if at and at.date() != day:
            day = at.date()
            lines.append(f"— {day.isoformat()} (UTC) —")
        if m.role is MessageRole.USER:
            who = one_line(customer, 60) or "Customer"
        elif m.role is MessageRole.ASSISTANT:
            who = "Chatbot"
        elif m.role is MessageRole.HUMAN_AGENT:
            who = f"{one_line(m.author_name or 'Teammate', 60)} (teammate)"
        else:
            who = "Platform"
        body = clean(m.text).strip("\n").split("\n") or [""]
        lines.append(f"{stamp} {who}: {body[0]}")
        lines.extend(f"      {rest}" for rest in body[1:])
    return "\n".join(lines), len(shown)


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)
