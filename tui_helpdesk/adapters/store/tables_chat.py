"""Tables of the chatbot integration: conversations, their ticket links, the poll cursor, the chat outbox.

* ``chat_conversation`` — every conversation the platform reported, as last
  seen (state, channel, customer, last message, a short transcript cache), and
  which ticket handles it now. ``handled`` is true while a person has it (from
  escalation or takeover until "Allow AI replies").
* ``chat_link`` — one row per hand-off of a conversation to a person. Its key
  (desk, conversation, episode) is what makes escalation exactly-once: two
  pollers racing, a re-poll or a restart all try to insert the same row and
  only one transaction can.
* ``chat_cursor`` — the platform's change-feed cursor per desk, with the
  poller's health for the UI.
* ``chat_outbox`` — replies on live-chat tickets waiting to be posted into the
  chat thread, written in the reply's own transaction.

Times are naive UTC, like the rest of the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class ChatConversationRow(SQLModel, table=True):
    __tablename__ = "chat_conversation"
    __table_args__ = (
        Index("ix_chat_conversation_state", "desk_id", "state", "handled"),
        Index("ix_chat_conversation_updated", "desk_id", "updated_at"),
        Index("ix_chat_conversation_ticket", "ticket_id"),
    )
    desk_id: int = Field(foreign_key="desk.id", primary_key=True)
    conversation_id: str = Field(primary_key=True, max_length=200)
    state: str = Field(max_length=16)
    channel: str = Field(default="", max_length=40)
    user_id: str = Field(default="", max_length=200)
    user_name: str = Field(default="", max_length=200)
    user_email: Optional[str] = Field(default=None, max_length=320)
    language: str = Field(default="", max_length=35)
    ai_paused: bool = False
    escalation_reason: Optional[str] = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_type=DateTime, nullable=False)  # on the platform
    updated_at: datetime = Field(sa_type=DateTime, nullable=False)  # on the platform
    last_role: Optional[str] = Field(default=None, max_length=16)
    last_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    last_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
    # The newest messages, oldest first: [{"id", "role", "text", "at", "author"}].
    transcript: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The ticket handling the conversation (the latest one), and whether a person has it now.
    ticket_id: Optional[int] = Field(default=None, foreign_key="ticket.id")
    handled: bool = False
    episode: int = 0  # hand-offs so far; the next escalation links episode + 1
    # Watermark of what was copied onto the ticket.
    synced_message_id: Optional[str] = Field(default=None, max_length=200)
    synced_updated_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
    synced_entry_id: int = 0
    # Work on this conversation that failed, retried with backoff.
    attempts: int = 0
    next_attempt_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    seen_at: datetime = Field(sa_type=DateTime, nullable=False)  # last reported by the platform


class ChatLinkRow(SQLModel, table=True):
    __tablename__ = "chat_link"
    __table_args__ = (Index("ix_chat_link_ticket", "ticket_id"),)
    desk_id: int = Field(foreign_key="desk.id", primary_key=True)
    conversation_id: str = Field(primary_key=True, max_length=200)
    episode: int = Field(primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    how: str = Field(max_length=16)  # "escalation" | "takeover"
    created_at: datetime = Field(sa_type=DateTime, nullable=False)


class ChatCursorRow(SQLModel, table=True):
    __tablename__ = "chat_cursor"
    desk_id: int = Field(foreign_key="desk.id", primary_key=True)
    cursor: Optional[str] = Field(default=None, sa_column=Column(Text))
    updated_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
    last_ok_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    last_error_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
    retry_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)


class ChatOutboxRow(SQLModel, table=True):
    __tablename__ = "chat_outbox"
    __table_args__ = (
        UniqueConstraint("entry_id", "part", name="uq_chat_outbox_entry"),
        UniqueConstraint("idempotency_key", name="uq_chat_outbox_key"),
        Index("ix_chat_outbox_due", "desk_id", "status", "next_attempt_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    desk_id: int = Field(foreign_key="desk.id")
    ticket_id: int = Field(foreign_key="ticket.id")
    entry_id: int = Field(foreign_key="entry.id")
    part: int = 1  # a reply longer than the platform takes is sent in parts
    conversation_id: str = Field(max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    agent_name: str = Field(max_length=200)
    idempotency_key: str = Field(max_length=200)
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=DateTime, nullable=False)
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    reported: bool = False  # a "not delivered yet" event is on the ticket
    message_id: Optional[str] = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=DateTime, nullable=False)
    sent_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
