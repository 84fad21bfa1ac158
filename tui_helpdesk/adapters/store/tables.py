"""Database tables (SQLModel). Rows stay in the store; services see domain objects.

Times are stored as naive UTC. ``ticket.closed`` mirrors the status group so the
busiest views (All, Unassigned, Inbox, Solved) are one index range each.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Column, Date, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata


class DeskRow(SQLModel, table=True):
    __tablename__ = "desk"
    id: Optional[int] = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    enabled: bool = True
    reopen_days: int = 7
    settings: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=DateTime, nullable=False)


class AgentRow(SQLModel, table=True):
    __tablename__ = "agent"
    id: Optional[int] = Field(default=None, primary_key=True)
    login: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    email: str = Field(default="", max_length=320)
    role: str = Field(default="agent", max_length=16)
    availability: str = Field(default="available", max_length=16)
    max_open: int = 0
    shift: Optional[str] = Field(default=None, max_length=100)
    last_assigned_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
    active: bool = True
    created_at: datetime = Field(sa_type=DateTime, nullable=False)


class RequesterRow(SQLModel, table=True):
    __tablename__ = "requester"
    __table_args__ = (Index("ix_requester_email", "email"), Index("ix_requester_chatbot", "chatbot_user_id"))
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=300)
    email: Optional[str] = Field(default=None, max_length=320)
    chatbot_user_id: Optional[str] = Field(default=None, max_length=200)
    language: Optional[str] = Field(default=None, max_length=16)
    created_at: datetime = Field(sa_type=DateTime, nullable=False)


class TicketRow(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_closed_updated", "closed", "updated_at", "id"),
        Index("ix_ticket_assignee_closed_updated", "assignee_id", "closed", "updated_at", "id"),
        Index("ix_ticket_updated", "updated_at", "id"),
        Index("ix_ticket_created", "created_at", "id"),
        Index("ix_ticket_requester", "requester_id", "created_at"),
        Index("ix_ticket_status", "status", "updated_at"),
        Index("ix_ticket_conversation", "conversation_id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    desk_id: int = Field(foreign_key="desk.id")
    type: str = Field(max_length=16)
    channel: str = Field(max_length=32)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    summary: Optional[str] = Field(default=None, sa_column=Column(Text))
    status: str = Field(max_length=16)
    closed: bool = False
    closed_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
    assignee_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    requester_id: int = Field(foreign_key="requester.id")
    created_at: datetime = Field(sa_type=DateTime, nullable=False)
    updated_at: datetime = Field(sa_type=DateTime, nullable=False)
    last_message_at: datetime = Field(sa_type=DateTime, nullable=False)
    last_message_by: str = Field(default="customer", max_length=16)
    preview: str = Field(default="", max_length=300)
    conversation_id: Optional[str] = Field(default=None, max_length=200)
    ai_replies_allowed: bool = False
    language: Optional[str] = Field(default=None, max_length=16)
    follow_up_of: Optional[int] = Field(default=None, foreign_key="ticket.id")
    version: int = 1
    updated_by: Optional[str] = Field(default=None, max_length=200)


class TicketTagRow(SQLModel, table=True):
    __tablename__ = "ticket_tag"
    __table_args__ = (Index("ix_ticket_tag_tag", "tag", "ticket_id"),)
    ticket_id: int = Field(foreign_key="ticket.id", primary_key=True)
    tag: str = Field(max_length=64, primary_key=True)


class EntryRow(SQLModel, table=True):
    """A timeline entry. Append-only: never updated, never deleted."""

    __tablename__ = "entry"
    __table_args__ = (Index("ix_entry_ticket", "ticket_id", "id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    kind: str = Field(max_length=16)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Text indexed for search besides the body (the subject, on a ticket's first entry).
    search_extra: Optional[str] = Field(default=None, sa_column=Column(Text))
    author_agent_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    author_requester_id: Optional[int] = Field(default=None, foreign_key="requester.id")
    author_name: str = Field(default="", max_length=300)
    meta: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=DateTime, nullable=False)


class MentionRow(SQLModel, table=True):
    __tablename__ = "mention"
    __table_args__ = (
        Index("ix_mention_agent_unread", "agent_id", "read_at"),
        Index("ix_mention_agent_ticket", "agent_id", "ticket_id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id")
    ticket_id: int = Field(foreign_key="ticket.id")
    agent_id: int = Field(foreign_key="agent.id")
    read_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)


class SavedViewRow(SQLModel, table=True):
    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("owner_id", "desk_id", "name", name="uq_saved_view_name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    visibility: str = Field(max_length=16)
    owner_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    desk_id: Optional[int] = Field(default=None, foreign_key="desk.id")
    spec: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    position: int = 0
    created_at: datetime = Field(sa_type=DateTime, nullable=False)


class ChangeRow(SQLModel, table=True):
    """The change feed: one row per write, in commit order ("what changed since N")."""

    __tablename__ = "change"
    seq: Optional[int] = Field(default=None, primary_key=True)
    ticket_id: Optional[int] = None
    kind: str = Field(max_length=32)
    agent_id: Optional[int] = None
    at: datetime = Field(sa_type=DateTime, nullable=False)


class DraftRow(SQLModel, table=True):
    """An agent's unsent composer text, kept across closing the ticket and quitting."""

    __tablename__ = "draft"
    agent_id: int = Field(foreign_key="agent.id", primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", primary_key=True)
    mode: str = Field(default="reply", max_length=16)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The ticket's last entry id when the draft began: the collision check compares to it.
    base_entry_id: int = 0
    updated_at: datetime = Field(sa_type=DateTime, nullable=False)


class PresenceRow(SQLModel, table=True):
    """Who is viewing or typing on a ticket; rows expire by ``seen_at``."""

    __tablename__ = "presence"
    agent_id: int = Field(foreign_key="agent.id", primary_key=True)
    ticket_id: int = Field(primary_key=True)
    typing: bool = False
    seen_at: datetime = Field(sa_type=DateTime, nullable=False)


class LeaseRow(SQLModel, table=True):
    """A named lease so only one process runs a job (a mailbox sync, a poller)."""

    __tablename__ = "lease"
    name: str = Field(primary_key=True, max_length=200)
    holder: str = Field(max_length=200)
    expires_at: datetime = Field(sa_type=DateTime, nullable=False)


class TimeOffRow(SQLModel, table=True):
    """A date range (inclusive) when an agent gets no automatic assignments."""

    __tablename__ = "time_off"
    id: Optional[int] = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    start: date = Field(sa_type=Date, nullable=False)
    end: date = Field(sa_type=Date, nullable=False)


def load_channel_tables() -> None:
    """Import the mail and chat tables so ``metadata`` is complete.

    They load with their channel (``mailstore``, ``chatstore``) and here for
    creating or migrating a schema; a command that only reads tickets skips
    building them.
    """
    from . import tables_chat, tables_mail  # noqa: F401
