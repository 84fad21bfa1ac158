"""Tables of the public HTTP API and its webhooks.

* ``api_token`` — per-desk tokens an admin made. Only a SHA-256 of the token
  is kept; ``prefix`` (public, random) finds the row so the hash is compared
  in constant time. ``scopes`` is "read" or "read,write"; a revoked token
  keeps its row (``revoked_at``) so the list still shows it.
* ``idempotency_key`` — one row per (desk, Idempotency-Key): the unique
  index is what stops two API workers from both executing the same request.
  ``state`` is ``running`` until the response is stored (``done``);
  ``ticket_id``/``entry_id`` are written in the same transaction as the
  change itself, so a request that committed and then failed to answer is
  still replayed, never executed twice.
* ``webhook_subscription`` — a URL, the events it wants and its signing
  secret (a signing key, not a login; never logged). ``previous_secret``
  still signs until ``previous_until`` after a rotation. ``state`` is
  ``active`` or ``paused`` (by an admin, or after repeated failures).
* ``webhook_delivery`` — the webhook outbox: one row per event and
  subscription, written in the transaction of the change. ``uid`` is the
  delivery id the receiver dedupes on; ``body`` the exact bytes sent.
* ``webhook_attempt`` — every attempt with its HTTP status, error and time.

Times are naive UTC, like the rest of the store.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, String, Text, Table, UniqueConstraint

from .tables import metadata

API_TOKEN = Table(
    "api_token", metadata,
    Column("id", Integer, primary_key=True),
    Column("desk_id", Integer, ForeignKey("desk.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("scopes", String(64), nullable=False),
    Column("created_by", Integer, ForeignKey("agent.id")),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    UniqueConstraint("prefix", name="uq_api_token_prefix"),
)

IDEMPOTENCY_KEY = Table(
    "idempotency_key", metadata,
    Column("id", Integer, primary_key=True),
    Column("desk_id", Integer, ForeignKey("desk.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("token_id", Integer, ForeignKey("api_token.id"), nullable=False),
    Column("operation", String(64), nullable=False),  # "create_ticket" | "add_message:<ticket id>"
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # running | done
    Column("ticket_id", Integer),
    Column("entry_id", Integer),
    Column("status_code", Integer),
    Column("response", Text),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    UniqueConstraint("desk_id", "key", name="uq_idempotency_key"),
    Index("ix_idempotency_key_expires", "expires_at"),
)

WEBHOOK_SUBSCRIPTION = Table(
    "webhook_subscription", metadata,
    Column("id", Integer, primary_key=True),
    Column("desk_id", Integer, ForeignKey("desk.id"), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),
    Column("description", String(200), nullable=False, default=""),
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100)),
    Column("previous_until", DateTime),
    Column("state", String(16), nullable=False),  # active | paused
    Column("paused_reason", Text),
    Column("failures", Integer, nullable=False, default=0),  # failed attempts in a row
    Column("created_by", Integer, ForeignKey("agent.id")),
    Column("created_at", DateTime, nullable=False),
    Column("removed_at", DateTime),
    Index("ix_webhook_subscription_desk", "desk_id", "state"),
)

WEBHOOK_DELIVERY = Table(
    "webhook_delivery", metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(40), nullable=False),
    Column("subscription_id", Integer, ForeignKey("webhook_subscription.id"), nullable=False),
    Column("event", String(40), nullable=False),
    Column("ticket_id", Integer),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_status", Integer),  # HTTP status of the last attempt; None: no answer
    Column("last_error", Text),
    Column("redelivery_of", Integer),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    UniqueConstraint("uid", name="uq_webhook_delivery_uid"),
    Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    Index("ix_webhook_delivery_subscription", "subscription_id", "id"),
)

WEBHOOK_ATTEMPT = Table(
    "webhook_attempt", metadata,
    Column("id", Integer, primary_key=True),
    Column("delivery_id", Integer, ForeignKey("webhook_delivery.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_webhook_attempt_delivery", "delivery_id", "id"),
)
