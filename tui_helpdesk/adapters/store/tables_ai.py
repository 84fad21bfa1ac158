"""Tables of the AI features: cached translations, metered usage, requester languages, ticket summaries.

* ``ai_translation`` — a customer message in another language, computed once
  per (entry, target language, model) and read by every terminal.
* ``ai_usage`` — one row per model call: action, agent, desk, model, tokens, time.
* ``requester_language`` — the customer's language as detected offline from
  their own text, and the agent's override, which wins.
* ``ticket_summary`` — the on-demand summary of a ticket and the last entry it
  covers, so it is regenerated only when the ticket changed since.

Times are naive UTC, like the rest of the store.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from .tables import metadata

AI_TRANSLATION = Table(
    "ai_translation", metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("entry.id"), nullable=False),
    Column("target_language", String(16), nullable=False),
    Column("model", String(200), nullable=False),
    Column("source_language", String(16)),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("entry_id", "target_language", "model", name="uq_ai_translation"),
)

AI_USAGE = Table(
    "ai_usage", metadata,
    Column("id", Integer, primary_key=True),
    Column("action", String(32), nullable=False),
    Column("agent_id", Integer, ForeignKey("agent.id")),
    Column("desk_id", Integer, ForeignKey("desk.id")),
    Column("ticket_id", Integer),
    Column("model", String(200), nullable=False, default=""),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("ms", Integer, nullable=False, default=0),
    Column("ok", Boolean, nullable=False, default=True),
    Column("at", DateTime, nullable=False),
    Index("ix_ai_usage_at", "at"),
    Index("ix_ai_usage_agent_at", "agent_id", "at"),
)

REQUESTER_LANGUAGE = Table(
    "requester_language", metadata,
    Column("requester_id", Integer, ForeignKey("requester.id"), primary_key=True),
    Column("detected", String(16)),
    Column("detected_entry_id", Integer),  # the newest customer message it was detected from
    Column("override", String(16)),
    Column("updated_at", DateTime, nullable=False),
)

TICKET_SUMMARY = Table(
    "ticket_summary", metadata,
    Column("ticket_id", Integer, ForeignKey("ticket.id"), primary_key=True),
    Column("text", Text, nullable=False),
    Column("model", String(200), nullable=False, default=""),
    Column("last_entry_id", Integer, nullable=False),  # the newest entry it covers
    Column("created_at", DateTime, nullable=False),
)
