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

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from .tables import metadata

CHAT_CONVERSATION = Table(
    "chat_conversation", metadata,
    Column("desk_id", Integer, ForeignKey("desk.id"), primary_key=True),
    Column("conversation_id", String(200), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("channel", String(40), nullable=False, default=""),
    Column("user_id", String(200), nullable=False, default=""),
    Column("user_name", String(200), nullable=False, default=""),
    Column("user_email", String(320)),
    Column("language", String(35), nullable=False, default=""),
    Column("ai_paused", Boolean, nullable=False, default=False),
    Column("escalation_reason", Text),
    Column("created_at", DateTime, nullable=False),  # on the platform
    Column("updated_at", DateTime, nullable=False),  # on the platform
    Column("last_role", String(16)),
    Column("last_text", Text, nullable=False, default=""),
    Column("last_at", DateTime),
    # The newest messages, oldest first: [{"id", "role", "text", "at", "author"}].
    Column("transcript", JSON, nullable=False),
    # The ticket handling the conversation (the latest one), and whether a person has it now.
    Column("ticket_id", Integer, ForeignKey("ticket.id")),
    Column("handled", Boolean, nullable=False, default=False),
    Column("episode", Integer, nullable=False, default=0),  # hand-offs so far; the next links episode + 1
    # Watermark of what was copied onto the ticket.
    Column("synced_message_id", String(200)),
    Column("synced_updated_at", DateTime),
    Column("synced_entry_id", Integer, nullable=False, default=0),
    # Work on this conversation that failed, retried with backoff.
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime),
    Column("last_error", Text),
    Column("seen_at", DateTime, nullable=False),  # last reported by the platform
    Index("ix_chat_conversation_state", "desk_id", "state", "handled"),
    Index("ix_chat_conversation_updated", "desk_id", "updated_at"),
    Index("ix_chat_conversation_ticket", "ticket_id"),
)

CHAT_LINK = Table(
    "chat_link", metadata,
    Column("desk_id", Integer, ForeignKey("desk.id"), primary_key=True),
    Column("conversation_id", String(200), primary_key=True),
    Column("episode", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("ticket.id"), nullable=False),
    Column("how", String(16), nullable=False),  # "escalation" | "takeover"
    Column("created_at", DateTime, nullable=False),
    Index("ix_chat_link_ticket", "ticket_id"),
)

CHAT_CURSOR = Table(
    "chat_cursor", metadata,
    Column("desk_id", Integer, ForeignKey("desk.id"), primary_key=True),
    Column("cursor", Text),
    Column("updated_at", DateTime),
    Column("last_ok_at", DateTime),
    Column("last_error", Text),
    Column("last_error_at", DateTime),
    Column("retry_at", DateTime),
)

CHAT_OUTBOX = Table(
    "chat_outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("desk_id", Integer, ForeignKey("desk.id"), nullable=False),
    Column("ticket_id", Integer, ForeignKey("ticket.id"), nullable=False),
    Column("entry_id", Integer, ForeignKey("entry.id"), nullable=False),
    Column("part", Integer, nullable=False, default=1),  # a reply longer than the platform takes goes in parts
    Column("conversation_id", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("agent_name", String(200), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("status", String(16), nullable=False, default="pending"),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_error", Text),
    Column("reported", Boolean, nullable=False, default=False),  # a "not delivered yet" event is on the ticket
    Column("message_id", String(200)),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    UniqueConstraint("entry_id", "part", name="uq_chat_outbox_entry"),
    UniqueConstraint("idempotency_key", name="uq_chat_outbox_key"),
    Index("ix_chat_outbox_due", "desk_id", "status", "next_attempt_at"),
)
