"""Database tables (SQLAlchemy Core). Rows stay in the store; services see domain objects.

Times are stored as naive UTC. ``ticket.closed`` mirrors the status group so the
busiest views (All, Unassigned, Inbox, Solved) are one index range each.

Plain ``Table`` definitions: the store writes SQL, never ORM objects, and
declaring the tables this way keeps ~0.1 s of model building off every start.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

DESK = Table(
    "desk", metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("reopen_days", Integer, nullable=False, default=7),
    Column("settings", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

AGENT = Table(
    "agent", metadata,
    Column("id", Integer, primary_key=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False, default=""),
    Column("role", String(16), nullable=False, default="agent"),
    Column("availability", String(16), nullable=False, default="available"),
    Column("max_open", Integer, nullable=False, default=0),
    Column("shift", String(100)),
    Column("last_assigned_at", DateTime),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
)

REQUESTER = Table(
    "requester", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(300), nullable=False, default=""),
    Column("email", String(320)),
    Column("chatbot_user_id", String(200)),
    Column("language", String(16)),
    Column("created_at", DateTime, nullable=False),
    Index("ix_requester_email", "email"),
    Index("ix_requester_chatbot", "chatbot_user_id"),
)

TICKET = Table(
    "ticket", metadata,
    Column("id", Integer, primary_key=True),
    Column("desk_id", Integer, ForeignKey("desk.id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("subject", Text, nullable=False, default=""),
    Column("summary", Text),
    Column("status", String(16), nullable=False),
    Column("closed", Boolean, nullable=False, default=False),
    Column("closed_at", DateTime),
    Column("assignee_id", Integer, ForeignKey("agent.id")),
    Column("requester_id", Integer, ForeignKey("requester.id"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("last_message_at", DateTime, nullable=False),
    Column("last_message_by", String(16), nullable=False, default="customer"),
    Column("preview", String(300), nullable=False, default=""),
    Column("conversation_id", String(200)),
    Column("ai_replies_allowed", Boolean, nullable=False, default=False),
    Column("language", String(16)),
    Column("follow_up_of", Integer, ForeignKey("ticket.id")),
    Column("version", Integer, nullable=False, default=1),
    Column("updated_by", String(200)),
    # On hold until (naive UTC); cleared whenever the status leaves On hold.
    Column("hold_until", DateTime),
    Index("ix_ticket_closed_updated", "closed", "updated_at", "id"),
    Index("ix_ticket_assignee_closed_updated", "assignee_id", "closed", "updated_at", "id"),
    Index("ix_ticket_updated", "updated_at", "id"),
    Index("ix_ticket_created", "created_at", "id"),
    Index("ix_ticket_requester", "requester_id", "created_at"),
    Index("ix_ticket_status", "status", "updated_at"),
    Index("ix_ticket_conversation", "conversation_id"),
    Index("ix_ticket_hold_until", "hold_until"),
)

TICKET_TAG = Table(
    "ticket_tag", metadata,
    Column("ticket_id", Integer, ForeignKey("ticket.id"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Index("ix_ticket_tag_tag", "tag", "ticket_id"),
)

# A timeline entry. Append-only: never updated, never deleted (the search index
# relies on it, see engine.SQLITE_FTS).
ENTRY = Table(
    "entry", metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("ticket.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("body", Text, nullable=False, default=""),
    # Text indexed for search besides the body (the subject, on a ticket's first entry).
    Column("search_extra", Text),
    Column("author_agent_id", Integer, ForeignKey("agent.id")),
    Column("author_requester_id", Integer, ForeignKey("requester.id")),
    Column("author_name", String(300), nullable=False, default=""),
    Column("meta", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_entry_ticket", "ticket_id", "id"),
)

MENTION = Table(
    "mention", metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("entry.id"), nullable=False),
    Column("ticket_id", Integer, ForeignKey("ticket.id"), nullable=False),
    Column("agent_id", Integer, ForeignKey("agent.id"), nullable=False),
    Column("read_at", DateTime),
    Index("ix_mention_agent_unread", "agent_id", "read_at"),
    Index("ix_mention_agent_ticket", "agent_id", "ticket_id"),
)

SAVED_VIEW = Table(
    "saved_view", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("owner_id", Integer, ForeignKey("agent.id")),
    Column("desk_id", Integer, ForeignKey("desk.id")),
    Column("spec", JSON, nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("owner_id", "desk_id", "name", name="uq_saved_view_name"),
)

# The change feed: one row per write, in commit order ("what changed since N").
CHANGE = Table(
    "change", metadata,
    Column("seq", Integer, primary_key=True),
    Column("ticket_id", Integer),
    Column("kind", String(32), nullable=False),
    Column("agent_id", Integer),
    Column("at", DateTime, nullable=False),
)

# An agent's unsent composer text, kept across closing the ticket and quitting.
DRAFT = Table(
    "draft", metadata,
    Column("agent_id", Integer, ForeignKey("agent.id"), primary_key=True),
    Column("ticket_id", Integer, ForeignKey("ticket.id"), primary_key=True),
    Column("mode", String(16), nullable=False, default="reply"),
    Column("body", Text, nullable=False, default=""),
    # The ticket's last entry id when the draft began: the collision check compares to it.
    Column("base_entry_id", Integer, nullable=False, default=0),
    Column("updated_at", DateTime, nullable=False),
)

# Who is viewing or typing on a ticket; rows expire by ``seen_at``.
PRESENCE = Table(
    "presence", metadata,
    Column("agent_id", Integer, ForeignKey("agent.id"), primary_key=True),
    Column("ticket_id", Integer, primary_key=True),
    Column("typing", Boolean, nullable=False, default=False),
    Column("seen_at", DateTime, nullable=False),
)

# A named lease so only one process runs a job (a mailbox sync, a poller).
LEASE = Table(
    "lease", metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

# A date range (inclusive) when an agent gets no automatic assignments.
TIME_OFF = Table(
    "time_off", metadata,
    Column("id", Integer, primary_key=True),
    Column("agent_id", Integer, ForeignKey("agent.id"), nullable=False, index=True),
    Column("start", Date, nullable=False),
    Column("end", Date, nullable=False),
)


def load_channel_tables() -> None:
    """Import the mail and chat tables so ``metadata`` is complete.

    They load with their channel (``mailstore``, ``chatstore``) and here for
    creating or migrating a schema; a command that only reads tickets skips
    building them.
    """
    from . import tables_ai, tables_api, tables_chat, tables_mail  # noqa: F401

# A desk's shared settings (assignment, scheduling, email, translation, the
# chatbot link): one row per desk, a JSON document checked by
# domain.desk_config, never a secret or a command. ``version`` guards
# concurrent edits; assignment locks the row to decide one ticket at a time.
DESK_SETTINGS = Table(
    "desk_settings", metadata,
    Column("desk_id", Integer, ForeignKey("desk.id"), primary_key=True),
    Column("version", Integer, nullable=False, default=1),
    Column("data", JSON, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(200)),
    # Where the first version came from ("config.toml" on import), for the record.
    Column("imported_from", Text),
)
