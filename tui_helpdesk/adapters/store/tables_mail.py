"""Mail tables: inbound message keys, participants, the outbox,
set-aside messages, per-mailbox sync state and the Message-ID signing key.

Loaded with the mail store, and by ``tables.load_channel_tables`` so
``create_all`` and migrations see them.

Keys and why:

- ``mail_message`` holds one row per IMAP message we have looked at, keyed by
  (account, mailbox, UIDVALIDITY, UID). The row is written in the same
  transaction as the timeline entry it produced, so after any crash a message
  is either fully ingested (row present) or not at all (fetched again).
  ``message_id`` and ``raw_sha256`` let a new UIDVALIDITY re-match what we
  already have instead of ingesting it twice.
- ``mail_outbox`` is written in the reply's own transaction; its status is
  ``queued`` → ``sending`` → ``sent`` / ``failed`` / ``unknown`` (timeout after
  the final dot: shown, never resent blindly) or ``suppressed`` (loop protection).
  ``raw`` is built once, so every retry sends the same bytes and Message-ID.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from .tables import metadata

MAIL_MESSAGE = Table(
    "mail_message", metadata,
    Column("id", Integer, primary_key=True),
    Column("account", String(320), nullable=False),
    Column("mailbox", String(300), nullable=False),
    # 32-bit unsigned on the wire: BIGINT so PostgreSQL takes values above 2**31.
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("message_id", String(998)),
    Column("from_addr", String(320), nullable=False, default=""),
    Column("raw_sha256", String(64), nullable=False, default=""),
    # The content fingerprint (domain.mail.fingerprint): a reused Message-ID with
    # another fingerprint is another message. NULL on rows stored before it existed.
    Column("content_sha", String(64)),
    # message | duplicate | auto_reply | bounce | own | set_aside | rematched
    Column("kind", String(16), nullable=False),
    Column("ticket_id", Integer, ForeignKey("ticket.id")),
    Column("entry_id", Integer, ForeignKey("entry.id")),
    # The References chain of this message (newest last, trimmed), so a reply
    # to it can carry References = refs + message_id.
    Column("refs", JSON, nullable=False),
    # Flagged \Seen or moved to the processed folder on the server.
    Column("marked", Boolean, nullable=False, default=False),
    Column("received_at", DateTime, nullable=False),
    UniqueConstraint("account", "mailbox", "uidvalidity", "uid", name="uq_mail_message_key"),
    Index("ix_mail_message_msgid", "message_id"),
    Index("ix_mail_message_sha", "raw_sha256"),
    Index("ix_mail_message_ticket", "ticket_id", "id"),
    Index("ix_mail_message_unmarked", "account", "mailbox", "marked"),
)

# Who takes part in a ticket's mail thread: the requester and CC'd people.
MAIL_PARTICIPANT = Table(
    "mail_participant", metadata,
    Column("ticket_id", Integer, ForeignKey("ticket.id"), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("name", String(300), nullable=False, default=""),
    Column("role", String(16), nullable=False, default="cc"),  # requester | cc
    Column("added_at", DateTime, nullable=False),
    Index("ix_mail_participant_address", "address"),
)

MAIL_OUTBOX = Table(
    "mail_outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("ticket.id"), nullable=False),
    Column("entry_id", Integer, ForeignKey("entry.id")),
    Column("account", String(320), nullable=False),  # the support address it is sent from
    Column("message_id", String(998), unique=True),
    Column("status", String(16), nullable=False, default="queued"),
    Column("automatic", Boolean, nullable=False, default=False),
    Column("mail_from", String(320), nullable=False),
    Column("recipients", JSON, nullable=False),
    # Recipients still to be delivered (a partial refusal retries only these).
    Column("pending", JSON, nullable=False),
    # address -> {"state": sent|failed|retry|unknown, "code": int, "text": str}
    Column("results", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_error", Text),
    Column("raw", LargeBinary, nullable=False),
    Column("claimed_by", String(200)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    Index("ix_mail_outbox_due", "status", "next_attempt_at"),
    Index("ix_mail_outbox_ticket", "ticket_id", "id"),
    Index("ix_mail_outbox_entry", "entry_id"),
    Index("ix_mail_outbox_auto", "automatic", "status", "sent_at"),
)

# A message that became no ticket entry, and why; the raw message is kept.
MAIL_SET_ASIDE = Table(
    "mail_set_aside", metadata,
    Column("id", Integer, primary_key=True),
    Column("account", String(320), nullable=False),
    Column("mailbox", String(300), nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("message_id", String(998)),
    Column("from_addr", String(320), nullable=False, default=""),
    Column("subject", Text, nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("raw_sha256", String(64), nullable=False, default=""),  # in the attachment store
    Column("size", Integer, nullable=False, default=0),
    Column("ticket_id", Integer, ForeignKey("ticket.id")),
    Column("created_at", DateTime, nullable=False),
    Index("ix_mail_set_aside_created", "created_at"),
)

MAIL_SYNC_STATE = Table(
    "mail_sync_state", metadata,
    Column("account", String(320), primary_key=True),
    Column("mailbox", String(300), primary_key=True),
    Column("uidvalidity", BigInteger),
    # Highest UID committed under this UIDVALIDITY: the next sync asks for UID last_uid+1:*.
    Column("last_uid", BigInteger, nullable=False, default=0),
    Column("messages", Integer, nullable=False, default=0),
    Column("last_sync_at", DateTime),
    Column("last_error", Text),
    Column("warning", Text),
    Column("warning_at", DateTime),
    # First contact: when the desk first synced this mailbox, and the first UID
    # that arrived after it. Mail below it (already there) is history: imported
    # without acknowledgements. NULL until the first sync.
    Column("connected_at", DateTime),
    Column("history_uid", BigInteger),
)

# A ticket merged into another (SPEC §6 "threading you can see and fix"): its
# entries moved to the survivor, and mail that would thread onto it lands there.
TICKET_MERGE = Table(
    "ticket_merge", metadata,
    Column("ticket_id", Integer, ForeignKey("ticket.id"), primary_key=True),
    Column("into_id", Integer, ForeignKey("ticket.id"), nullable=False),
    Column("merged_by", String(200)),
    Column("merged_at", DateTime, nullable=False),
    Index("ix_ticket_merge_into", "into_id"),
)

# The HMAC key for our Message-IDs, generated once per database. Kept in the
# database so every process and host that shares the desk signs and verifies
# with the same key. It grants nothing a database reader does not already have:
# it only lets mail thread into tickets.
MAIL_KEY = Table(
    "mail_key", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
)
