"""Mail tables (SQLModel): inbound message keys, participants, the outbox,
set-aside messages, per-mailbox sync state and the Message-ID signing key.

Imported at the end of ``tables.py`` so ``create_all`` sees them.

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

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class MailMessageRow(SQLModel, table=True):
    __tablename__ = "mail_message"
    __table_args__ = (
        UniqueConstraint("account", "mailbox", "uidvalidity", "uid", name="uq_mail_message_key"),
        Index("ix_mail_message_msgid", "message_id"),
        Index("ix_mail_message_sha", "raw_sha256"),
        Index("ix_mail_message_ticket", "ticket_id", "id"),
        Index("ix_mail_message_unmarked", "account", "mailbox", "marked"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    account: str = Field(max_length=320)
    mailbox: str = Field(max_length=300)
    # 32-bit unsigned on the wire: BIGINT so PostgreSQL takes values above 2**31.
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: Optional[str] = Field(default=None, max_length=998)
    from_addr: str = Field(default="", max_length=320)
    raw_sha256: str = Field(default="", max_length=64)
    # message | duplicate | auto_reply | bounce | own | set_aside | rematched
    kind: str = Field(max_length=16)
    ticket_id: Optional[int] = Field(default=None, foreign_key="ticket.id")
    entry_id: Optional[int] = Field(default=None, foreign_key="entry.id")
    # The References chain of this message (newest last, trimmed), so a reply
    # to it can carry References = refs + message_id.
    refs: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Flagged \Seen or moved to the processed folder on the server.
    marked: bool = False
    received_at: datetime = Field(sa_type=DateTime, nullable=False)


class MailParticipantRow(SQLModel, table=True):
    """Who takes part in a ticket's mail thread: the requester and CC'd people."""

    __tablename__ = "mail_participant"
    __table_args__ = (Index("ix_mail_participant_address", "address"),)
    ticket_id: int = Field(foreign_key="ticket.id", primary_key=True)
    address: str = Field(max_length=320, primary_key=True)
    name: str = Field(default="", max_length=300)
    role: str = Field(default="cc", max_length=16)  # requester | cc
    added_at: datetime = Field(sa_type=DateTime, nullable=False)


class OutboxRow(SQLModel, table=True):
    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("ix_mail_outbox_due", "status", "next_attempt_at"),
        Index("ix_mail_outbox_ticket", "ticket_id", "id"),
        Index("ix_mail_outbox_entry", "entry_id"),
        Index("ix_mail_outbox_auto", "automatic", "status", "sent_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    entry_id: Optional[int] = Field(default=None, foreign_key="entry.id")
    account: str = Field(max_length=320)  # the support address it is sent from
    message_id: Optional[str] = Field(default=None, max_length=998, unique=True)
    status: str = Field(default="queued", max_length=16)
    automatic: bool = False
    mail_from: str = Field(max_length=320)
    recipients: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Recipients still to be delivered (a partial refusal retries only these).
    pending: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # address -> {"state": sent|failed|retry|unknown, "code": int, "text": str}
    results: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=DateTime, nullable=False)
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    raw: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    claimed_by: Optional[str] = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=DateTime, nullable=False)
    updated_at: datetime = Field(sa_type=DateTime, nullable=False)
    sent_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)


class MailSetAsideRow(SQLModel, table=True):
    """A message that became no ticket entry, and why; the raw message is kept."""

    __tablename__ = "mail_set_aside"
    __table_args__ = (Index("ix_mail_set_aside_created", "created_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    account: str = Field(max_length=320)
    mailbox: str = Field(max_length=300)
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: Optional[str] = Field(default=None, max_length=998)
    from_addr: str = Field(default="", max_length=320)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    raw_sha256: str = Field(default="", max_length=64)  # in the attachment store
    size: int = 0
    ticket_id: Optional[int] = Field(default=None, foreign_key="ticket.id")
    created_at: datetime = Field(sa_type=DateTime, nullable=False)


class MailSyncStateRow(SQLModel, table=True):
    __tablename__ = "mail_sync_state"
    account: str = Field(max_length=320, primary_key=True)
    mailbox: str = Field(max_length=300, primary_key=True)
    uidvalidity: Optional[int] = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # Highest UID committed under this UIDVALIDITY: the next sync asks for UID last_uid+1:*.
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    messages: int = 0
    last_sync_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    warning: Optional[str] = Field(default=None, sa_column=Column(Text))
    warning_at: Optional[datetime] = Field(default=None, sa_type=DateTime, nullable=True)


class MailKeyRow(SQLModel, table=True):
    """The HMAC key for our Message-IDs, generated once per database.

    Kept in the database so every process and host that shares the desk signs
    and verifies with the same key. It grants nothing a database reader does
    not already have: it only lets mail thread into tickets.
    """

    __tablename__ = "mail_key"
    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=DateTime, nullable=False)
