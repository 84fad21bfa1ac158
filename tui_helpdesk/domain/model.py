"""The words of the help desk: desks, agents, requesters, tickets, timeline entries.

These are plain frozen dataclasses handed between layers. Database rows live in
the store adapter and are mapped to these; the UI sees only these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Status(str, enum.Enum):
    NEW = "new"
    ON_YOU = "on_you"
    ON_CUSTOMER = "on_customer"
    ON_HOLD = "on_hold"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATUSES

    @classmethod
    def parse(cls, text: str) -> "Status":
        """Accept ``on_you``, ``on-you``, ``On you`` and unique prefixes like ``hold``."""
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        for status in cls:
            if key in (status.value, status.label.lower().replace(" ", "_")):
                return status
        matches = [s for s in cls if key and (s.value.startswith(key) or s.value.endswith(key))]
        if len(matches) == 1:
            return matches[0]
        names = ", ".join(s.value for s in cls)
        raise ValueError(f"unknown status {text!r} (expected one of: {names})")


_STATUS_LABELS = {
    Status.NEW: "New",
    Status.ON_YOU: "On you",
    Status.ON_CUSTOMER: "On customer",
    Status.ON_HOLD: "On hold",
    Status.CLOSED: "Closed",
    Status.CANCELLED: "Cancelled",
}
# Tuples, in lifecycle order, so queries written from them read the same every run.
ACTIVE_STATUSES = (Status.NEW, Status.ON_YOU, Status.ON_CUSTOMER, Status.ON_HOLD)
CLOSED_STATUSES = (Status.CLOSED, Status.CANCELLED)


class TicketType(str, enum.Enum):
    EMAIL = "email"
    LIVE_CHAT = "live_chat"
    API = "api"


class Role(str, enum.Enum):
    ADMIN = "admin"
    AGENT = "agent"


class Availability(str, enum.Enum):
    AVAILABLE = "available"
    AWAY = "away"
    BUSY = "busy"
    PAUSED = "paused"


class EntryKind(str, enum.Enum):
    MESSAGE = "message"  # from the customer
    REPLY = "reply"  # from an agent, seen by the customer
    NOTE = "note"  # internal, never shown to the customer
    EVENT = "event"  # system event: status, assignment, takeover, ...


class Author(str, enum.Enum):
    """Who wrote the last message: drives 'Last message by'."""

    CUSTOMER = "customer"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Desk:
    id: int
    slug: str
    name: str
    enabled: bool = True
    reopen_days: int = 7


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    login: str
    name: str
    email: str = ""
    role: Role = Role.AGENT
    availability: Availability = Availability.AVAILABLE
    max_open: int = 0  # 0 = no cap
    shift: str | None = None
    active: bool = True  # a deactivated agent keeps their history but is never assigned and cannot act

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class Requester:
    id: int
    name: str
    email: str | None = None
    chatbot_user_id: str | None = None
    language: str | None = None

    @property
    def display(self) -> str:
        return self.name or self.email or self.chatbot_user_id or f"requester {self.id}"


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    desk_id: int
    type: TicketType
    channel: str
    subject: str
    status: Status
    requester: Requester
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    last_message_by: Author
    version: int
    assignee: Agent | None = None
    summary: str | None = None
    tags: tuple[str, ...] = ()
    conversation_id: str | None = None
    ai_replies_allowed: bool = False
    language: str | None = None
    follow_up_of: int | None = None
    updated_by: str | None = None
    hold_until: datetime | None = None  # On hold until then (naive UTC), when a time was given

    @property
    def ref(self) -> str:
        return f"#{self.id}"


@dataclass(frozen=True, slots=True)
class TicketRow:
    """One line of the ticket table: just what the table shows."""

    id: int
    status: Status
    type: TicketType
    channel: str
    subject: str
    preview: str
    requester: str
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    last_message_by: Author
    tags: tuple[str, ...] = ()
    requester_email: str | None = None  # a chat customer may have none


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    id: int
    ticket_id: int
    kind: EntryKind
    body: str
    created_at: datetime
    author: str  # display name of agent, requester, or "system"
    author_agent_id: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def is_internal(self) -> bool:
        return self.kind in (EntryKind.NOTE, EntryKind.EVENT)


@dataclass(frozen=True, slots=True)
class Change:
    """One row of the change feed: something about *ticket_id* changed at *seq*."""

    seq: int
    ticket_id: int | None
    kind: str
    agent_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class SearchHit:
    ticket_id: int
    subject: str
    status: Status
    snippet: str
    at: datetime
