"""Mail queries: message keys, participants, the outbox, sync state, set-aside mail.

Functions take a :class:`~.repository.Tx` so callers choose the transaction;
the inbound sync writes a whole fetch batch (tickets, entries, keys, change
feed) in one. The bulk helpers issue one statement per table per batch: over
aiosqlite every statement is a thread hop (about 0.2 ms), so per-message
statements, not SQLite, would bound the sync.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError

from ...domain.outbox import MailOutboxItem
from .repository import Tx
from .tables import CHANGE, ENTRY, LEASE, TICKET
from .tables import REQUESTER as REQ
from .tables_mail import MAIL_KEY as KEY
from .tables_mail import MAIL_MESSAGE as MM
from .tables_mail import MAIL_OUTBOX as OUTBOX
from .tables_mail import MAIL_PARTICIPANT as PART
from .tables_mail import MAIL_SET_ASIDE as ASIDE
from .tables_mail import MAIL_SYNC_STATE as SYNC
from .tx.feed import PG_FEED_LOCK

# Large IN lists are split so neither SQLite's variable limit nor PostgreSQL's
# 32k parameters is ever reached.
_CHUNK = 500

MESSAGE_ID_KEY = "message_id_hmac"


def _chunks(values: Sequence, size: int = _CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


# ---------------------------------------------------------------- signing key


async def message_id_secret(tx: Tx) -> tuple[bytes, bool]:
    """The HMAC key for our Message-IDs, created on first use (32 random bytes).

    Returns (key, committed): a key created in *tx* is not yet committed, and
    must not be cached by the caller until it has been read back committed.
    """
    row = (await tx.conn.execute(select(KEY.c.value).where(KEY.c.name == MESSAGE_ID_KEY))).first()
    if row is not None:
        return bytes.fromhex(row[0]), True
    value = secrets.token_hex(32)
    try:
        async with tx.conn.begin_nested():
            await tx.conn.execute(insert(KEY).values(name=MESSAGE_ID_KEY, value=value, created_at=tx.now()))
    except IntegrityError:  # another process made it first: use theirs
        row = (await tx.conn.execute(select(KEY.c.value).where(KEY.c.name == MESSAGE_ID_KEY))).first()
        return bytes.fromhex(row[0]), True
    return bytes.fromhex(value), False


# ----------------------------------------------------------------- sync state


@dataclass(frozen=True, slots=True)
class SyncState:
    account: str
    mailbox: str
    uidvalidity: int | None
    last_uid: int
    messages: int
    last_sync_at: datetime | None
    last_error: str | None
    warning: str | None
    warning_at: datetime | None
    connected_at: datetime | None = None  # the first sync of this mailbox by the desk
    history_uid: int | None = None  # mail below this UID was there before it: history


async def sync_state(tx: Tx, account: str, mailbox: str) -> SyncState | None:
    row = (await tx.conn.execute(select(SYNC).where(SYNC.c.account == account, SYNC.c.mailbox == mailbox))).first()
    return _state(row) if row else None


async def all_sync_states(tx: Tx) -> list[SyncState]:
    rows = await tx.conn.execute(select(SYNC).order_by(SYNC.c.account, SYNC.c.mailbox))
    return [_state(r) for r in rows]


def _state(r) -> SyncState:
    return SyncState(r.account, r.mailbox, r.uidvalidity, r.last_uid, r.messages, r.last_sync_at, r.last_error,
                     r.warning, r.warning_at, r.connected_at, r.history_uid)


async def save_sync_state(tx: Tx, account: str, mailbox: str, *, add_messages: int = 0, **values) -> None:
    """Upsert the row for (account, mailbox); ``add_messages`` adds to the count."""
    stmt = update(SYNC).where(SYNC.c.account == account, SYNC.c.mailbox == mailbox)
    if add_messages:
        values["messages"] = SYNC.c.messages + add_messages
    result = await tx.conn.execute(stmt.values(**values)) if values else None
    if result is not None and (result.rowcount or 0) == 1:
        return
    exists = (await tx.conn.execute(
        select(SYNC.c.account).where(SYNC.c.account == account, SYNC.c.mailbox == mailbox))).first()
    if exists:
        return
    plain = {k: v for k, v in values.items() if k != "messages"}
    await tx.conn.execute(insert(SYNC).values(account=account, mailbox=mailbox, messages=add_messages, **plain))


# --------------------------------------------------------------- message keys


async def existing_uids(tx: Tx, account: str, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for part in _chunks(list(uids)):
        rows = await tx.conn.execute(
            select(MM.c.uid).where(MM.c.account == account, MM.c.mailbox == mailbox,
                                   MM.c.uidvalidity == uidvalidity, MM.c.uid.in_(part)))
        found.update(r[0] for r in rows)
    return found


async def unmarked_uids(tx: Tx, account: str, mailbox: str, uidvalidity: int, limit: int = 5000) -> list[int]:
    """Committed messages not yet flagged or moved on the server (a crash came between)."""
    rows = await tx.conn.execute(
        select(MM.c.uid).where(MM.c.account == account, MM.c.mailbox == mailbox, MM.c.uidvalidity == uidvalidity,
                               MM.c.marked.is_(False)).order_by(MM.c.uid).limit(limit))
    return [r[0] for r in rows]


async def set_marked(tx: Tx, account: str, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> None:
    for part in _chunks(list(uids)):
        await tx.conn.execute(
            update(MM).where(MM.c.account == account, MM.c.mailbox == mailbox, MM.c.uidvalidity == uidvalidity,
                             MM.c.uid.in_(part)).values(marked=True))


@dataclass(frozen=True, slots=True)
class KnownMessage:
    message_id: str | None
    raw_sha256: str
    from_addr: str
    kind: str
    ticket_id: int | None
    entry_id: int | None
    refs: tuple[str, ...]
    account: str = ""
    content_sha: str | None = None


async def known_messages(tx: Tx, *, message_ids: Iterable[str] = (), shas: Iterable[str] = ()) -> list[KnownMessage]:
    """Stored inbound messages with any of these Message-IDs or raw hashes."""
    out: list[KnownMessage] = []
    cols = (MM.c.message_id, MM.c.raw_sha256, MM.c.from_addr, MM.c.kind, MM.c.ticket_id, MM.c.entry_id, MM.c.refs,
            MM.c.content_sha)
    for column, values in ((MM.c.message_id, list(dict.fromkeys(message_ids))), (MM.c.raw_sha256, list(dict.fromkeys(shas)))):
        for part in _chunks(values):
            rows = await tx.conn.execute(select(*cols).where(column.in_(part)).order_by(MM.c.id))
            out.extend(KnownMessage(r[0], r[1], r[2], r[3], r[4], r[5], tuple(r[6] or ()), content_sha=r[7])
                       for r in rows)
    return out


async def insert_keys(tx: Tx, rows: list[dict]) -> None:
    if rows:
        await tx.conn.execute(insert(MM), rows)


async def reply_parent(tx: Tx, ticket_id: int) -> KnownMessage | None:
    """The newest customer mail on a ticket: what a reply answers, and through which address."""
    row = (await tx.conn.execute(
        select(MM.c.message_id, MM.c.raw_sha256, MM.c.from_addr, MM.c.kind, MM.c.ticket_id, MM.c.entry_id, MM.c.refs,
               MM.c.account)
        .where(MM.c.ticket_id == ticket_id, MM.c.kind == "message").order_by(MM.c.id.desc()).limit(1))).first()
    if row is None:
        return None
    return KnownMessage(row[0], row[1], row[2], row[3], row[4], row[5], tuple(row[6] or ()), row[7])


# ---------------------------------------------------------------- participants


async def participants(tx: Tx, ticket_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """ticket id → {address: role}; the ticket's requester counts as a participant."""
    ids = list(dict.fromkeys(ticket_ids))
    out: dict[int, dict[str, str]] = {t: {} for t in ids}
    for part in _chunks(ids):
        for r in await tx.conn.execute(select(PART.c.ticket_id, PART.c.address, PART.c.role).where(PART.c.ticket_id.in_(part))):
            out[r[0]][r[1]] = r[2]
        rows = await tx.conn.execute(
            select(TICKET.c.id, REQ.c.email).join(REQ, REQ.c.id == TICKET.c.requester_id).where(TICKET.c.id.in_(part)))
        for r in rows:
            if r[1]:
                out[r[0]].setdefault(r[1].lower(), "requester")
    return out


async def ticket_participants(tx: Tx, ticket_id: int) -> list[tuple[str, str, str]]:
    """(address, name, role) of a ticket's mail participants, oldest first."""
    rows = await tx.conn.execute(
        select(PART.c.address, PART.c.name, PART.c.role).where(PART.c.ticket_id == ticket_id).order_by(PART.c.added_at))
    return [(r[0], r[1], r[2]) for r in rows]


async def add_participants(tx: Tx, rows: list[dict]) -> None:
    """Insert (ticket_id, address, name, role, added_at) rows not already there."""
    if not rows:
        return
    unique = {(r["ticket_id"], r["address"]): r for r in rows}
    existing: set[tuple[int, str]] = set()
    keys = list(unique)
    for part in _chunks(keys):
        found = await tx.conn.execute(
            select(PART.c.ticket_id, PART.c.address).where(tuple_(PART.c.ticket_id, PART.c.address).in_(part)))
        existing.update((r[0], r[1]) for r in found)
    fresh = [r for k, r in unique.items() if k not in existing]
    if fresh:
        await tx.conn.execute(insert(PART), fresh)


async def set_cc(tx: Tx, ticket_id: int, addresses: Sequence[str], at: datetime) -> None:
    """Make *addresses* the ticket's Cc participants: the ones an agent took off go, new ones come."""
    keep = list(dict.fromkeys(a.lower() for a in addresses))
    stmt = delete(PART).where(PART.c.ticket_id == ticket_id, PART.c.role == "cc")
    if keep:
        stmt = stmt.where(PART.c.address.notin_(keep))
    await tx.conn.execute(stmt)
    await add_participants(tx, [{"ticket_id": ticket_id, "address": a, "name": "", "role": "cc", "added_at": at}
                                for a in keep])


# ------------------------------------------------------------ tickets in bulk


@dataclass(slots=True)
class TicketState:
    """What the sync needs to know about an existing ticket to apply a message."""

    id: int
    desk_id: int
    type: str
    channel: str
    subject: str
    status: str
    closed_at: datetime | None
    requester_id: int
    requester_email: str | None
    requester_name: str
    language: str | None
    version: int


async def ticket_states(tx: Tx, ticket_ids: Iterable[int]) -> dict[int, TicketState]:
    ids = sorted(set(ticket_ids))
    out: dict[int, TicketState] = {}
    for part in _chunks(ids):
        stmt = (
            select(TICKET.c.id, TICKET.c.desk_id, TICKET.c.type, TICKET.c.channel, TICKET.c.subject, TICKET.c.status,
                   TICKET.c.closed_at, TICKET.c.requester_id, REQ.c.email, REQ.c.name, TICKET.c.language,
                   TICKET.c.version)
            .join(REQ, REQ.c.id == TICKET.c.requester_id).where(TICKET.c.id.in_(part)).order_by(TICKET.c.id)
        )
        if tx.dialect == "postgresql":
            # Like TicketService's row lock: a concurrent reply waits for this batch.
            stmt = stmt.with_for_update(of=TICKET)
        for r in await tx.conn.execute(stmt):
            out[r[0]] = TicketState(*r)
    return out


async def find_requesters(tx: Tx, emails: Iterable[str]) -> dict[str, tuple[int, str]]:
    """email → (requester id, name); the oldest row wins, like find_or_create_requester."""
    out: dict[str, tuple[int, str]] = {}
    for part in _chunks(list(dict.fromkeys(emails))):
        rows = await tx.conn.execute(select(REQ.c.id, REQ.c.email, REQ.c.name).where(REQ.c.email.in_(part)).order_by(REQ.c.id))
        for r in rows:
            out.setdefault(r[1], (r[0], r[2]))
    return out


async def name_requesters(tx: Tx, names: dict[int, str]) -> None:
    """Give nameless requesters the name their mail carries."""
    if names:
        await tx.conn.execute(
            update(REQ).where(REQ.c.id == bindparam("rid"), REQ.c.name == "").values(name=bindparam("nm")),
            [{"rid": k, "nm": v} for k, v in names.items()])


async def insert_returning_ids(tx: Tx, table, rows: list[dict]) -> list[int]:
    """Insert *rows*; their new ids, in the same order.

    SQLAlchemy's ordered RETURNING inserts one row per statement on SQLite,
    and a compiled multi-row VALUES costs more than the insert itself. So on
    SQLite this is a plain executemany (one call, a cached statement) and the
    ids are read back: the caller holds the write lock (BEGIN IMMEDIATE), and
    SQLite gives rows inserted one after another ascending ids, so the ids
    above the previous maximum are exactly these rows, in order. PostgreSQL
    has a sound ordered RETURNING (sentinel columns), used as is.
    """
    if not rows:
        return []
    if tx.dialect == "sqlite":
        before = (await tx.conn.execute(select(func.max(table.c.id)))).scalar() or 0
        await tx.conn.execute(insert(table), rows)
        ids = [r[0] for r in await tx.conn.execute(
            select(table.c.id).where(table.c.id > before).order_by(table.c.id))]
        if len(ids) != len(rows):  # cannot happen under the write lock; never guess
            raise RuntimeError(f"{table.name}: inserted {len(rows)} rows but found {len(ids)} new ids")
        return ids
    ids: list[int] = []
    for part in _chunks(rows, 1000):
        result = await tx.conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), part)
        ids.extend(r[0] for r in result)
    return ids


async def insert_requesters(tx: Tx, rows: list[dict]) -> list[int]:
    return await insert_returning_ids(tx, REQ, rows)


async def insert_tickets(tx: Tx, rows: list[dict]) -> list[int]:
    return await insert_returning_ids(tx, TICKET, rows)


async def insert_entries(tx: Tx, rows: list[dict]) -> list[int]:
    return await insert_returning_ids(tx, ENTRY, rows)


async def update_tickets(tx: Tx, rows: list[dict]) -> None:
    """Apply the end state of a batch to existing tickets, one version bump each."""
    if not rows:
        return
    columns = ("status", "closed", "closed_at", "preview", "last_message_at", "last_message_by", "updated_at",
               "updated_by")
    stmt = (
        update(TICKET).where(TICKET.c.id == bindparam("tid"))
        .values(version=TICKET.c.version + 1, **{c: bindparam("v_" + c) for c in columns})
    )
    await tx.conn.execute(stmt, [{"tid": r["id"], **{"v_" + c: r[c] for c in columns}} for r in rows])


async def touch_tickets(tx: Tx, ticket_ids: Iterable[int], at: datetime, actor: str) -> None:
    """Bump updated_at (and the version) of tickets that got only an event."""
    ids = sorted(set(ticket_ids))
    for part in _chunks(ids):
        await tx.conn.execute(update(TICKET).where(TICKET.c.id.in_(part))
                              .values(updated_at=at, version=TICKET.c.version + 1, updated_by=actor))


async def record_changes(tx: Tx, rows: list[tuple[int | None, str]]) -> None:
    """Change-feed rows in order, in one statement (see Tx.record_change)."""
    if not rows:
        return
    if tx.dialect == "postgresql":
        await tx.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_FEED_LOCK})
    now = tx.now()
    await tx.conn.execute(insert(CHANGE), [{"ticket_id": t, "kind": k, "agent_id": None, "at": now} for t, k in rows])


# --------------------------------------------------------------------- outbox


def _item(r) -> MailOutboxItem:
    return MailOutboxItem(
        id=r.id, ticket_id=r.ticket_id, entry_id=r.entry_id, account=r.account, message_id=r.message_id,
        status=r.status, automatic=r.automatic, mail_from=r.mail_from, recipients=tuple(r.recipients or ()),
        pending=tuple(r.pending or ()), results=dict(r.results or {}), attempts=r.attempts,
        next_attempt_at=r.next_attempt_at, last_error=r.last_error, raw=bytes(r.raw or b""), created_at=r.created_at,
        sent_at=r.sent_at,
    )


async def insert_outbox(tx: Tx, *, ticket_id: int, entry_id: int | None, account: str, mail_from: str,
                        recipients: Sequence[str], automatic: bool = False) -> int:
    now = tx.now()
    result = await tx.conn.execute(insert(OUTBOX).values(
        ticket_id=ticket_id, entry_id=entry_id, account=account, status="queued", automatic=automatic,
        mail_from=mail_from, recipients=list(recipients), pending=list(recipients), results={}, attempts=0,
        next_attempt_at=now, raw=b"", created_at=now, updated_at=now,
    ).returning(OUTBOX.c.id))
    return result.scalar_one()


async def insert_outbox_many(tx: Tx, rows: list[dict]) -> list[int]:
    return await insert_returning_ids(tx, OUTBOX, rows)


async def set_outbox_messages(tx: Tx, rows: list[tuple[int, str, bytes]]) -> None:
    """(outbox id, Message-ID, raw bytes) for rows just inserted."""
    if rows:
        await tx.conn.execute(
            update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(message_id=bindparam("mid"), raw=bindparam("rw")),
            [{"oid": o, "mid": m, "rw": r} for o, m, r in rows])


async def get_outbox(tx: Tx, outbox_id: int) -> MailOutboxItem | None:
    row = (await tx.conn.execute(select(OUTBOX).where(OUTBOX.c.id == outbox_id))).first()
    return _item(row) if row else None


async def outbox_for_ticket(tx: Tx, ticket_id: int) -> list[MailOutboxItem]:
    rows = await tx.conn.execute(select(OUTBOX).where(OUTBOX.c.ticket_id == ticket_id).order_by(OUTBOX.c.id))
    return [_item(r) for r in rows]


async def outbox_by_message_ids(tx: Tx, message_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Message-ID → (outbox id, ticket id) for mail we sent."""
    out: dict[str, tuple[int, int]] = {}
    for part in _chunks(list(dict.fromkeys(message_ids))):
        rows = await tx.conn.execute(select(OUTBOX.c.message_id, OUTBOX.c.id, OUTBOX.c.ticket_id)
                                     .where(OUTBOX.c.message_id.in_(part)))
        for r in rows:
            out[r[0]] = (r[1], r[2])
    return out


async def claim_due(tx: Tx, account: str, holder: str, limit: int) -> list[MailOutboxItem]:
    """Mark up to *limit* due rows of *account* as being sent by *holder*."""
    now = tx.now()
    stmt = (select(OUTBOX).where(OUTBOX.c.account == account, OUTBOX.c.status == "queued",
                                 OUTBOX.c.next_attempt_at <= now)
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(limit))
    if tx.dialect == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = [_item(r) for r in await tx.conn.execute(stmt)]
    if rows:
        await tx.conn.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows]))
                              .values(status="sending", claimed_by=holder, updated_at=now))
    return rows


async def stranded(tx: Tx, account: str) -> list[MailOutboxItem]:
    """Rows left 'sending' by a sender that is gone (the caller holds the lease)."""
    rows = await tx.conn.execute(select(OUTBOX).where(OUTBOX.c.account == account, OUTBOX.c.status == "sending"))
    return [_item(r) for r in rows]


async def update_outbox(tx: Tx, rows: list[dict]) -> None:
    """Write back send results: each dict has ``id`` and the columns to set."""
    for r in rows:
        values = {k: v for k, v in r.items() if k != "id"}
        values["updated_at"] = tx.now()
        await tx.conn.execute(update(OUTBOX).where(OUTBOX.c.id == r["id"]).values(**values))


async def update_outbox_many(tx: Tx, rows: list[dict], columns: Sequence[str]) -> None:
    """Same columns for many rows in one executemany (the fast path for 'sent')."""
    if not rows:
        return
    stmt = update(OUTBOX).where(OUTBOX.c.id == bindparam("oid")).values(
        updated_at=bindparam("v_updated_at"), **{c: bindparam("v_" + c) for c in columns})
    now = tx.now()
    await tx.conn.execute(stmt, [{"oid": r["id"], "v_updated_at": now, **{"v_" + c: r[c] for c in columns}} for r in rows])


async def next_due(tx: Tx, account: str | None = None) -> datetime | None:
    stmt = select(func.min(OUTBOX.c.next_attempt_at)).where(OUTBOX.c.status == "queued")
    if account is not None:
        stmt = stmt.where(OUTBOX.c.account == account)
    return (await tx.conn.execute(stmt)).scalar()


async def outbox_counts(tx: Tx) -> dict[str, int]:
    rows = await tx.conn.execute(select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status))
    return {r[0]: r[1] for r in rows}


async def automatic_sent_since(tx: Tx, since: datetime) -> list[tuple[str, datetime]]:
    """(recipient, sent at) of automatic mail sent after *since*: seeds the rate limiter."""
    rows = await tx.conn.execute(select(OUTBOX.c.recipients, OUTBOX.c.sent_at).where(
        OUTBOX.c.automatic.is_(True), OUTBOX.c.status == "sent", OUTBOX.c.sent_at >= since))
    return [(addr, r[1]) for r in rows for addr in (r[0] or ())]


# ------------------------------------------------------------------ set aside


async def insert_set_aside(tx: Tx, rows: list[dict]) -> None:
    if rows:
        await tx.conn.execute(insert(ASIDE), rows)


@dataclass(frozen=True, slots=True)
class SetAside:
    id: int
    account: str
    mailbox: str
    uid: int
    message_id: str | None
    from_addr: str
    subject: str
    reason: str
    raw_sha256: str
    size: int
    ticket_id: int | None  # set once the message has been released into a ticket
    created_at: datetime
    uidvalidity: int = 0


def _aside(r) -> SetAside:
    return SetAside(r.id, r.account, r.mailbox, r.uid, r.message_id, r.from_addr, r.subject, r.reason,
                    r.raw_sha256, r.size, r.ticket_id, r.created_at, r.uidvalidity)


async def set_aside(tx: Tx, limit: int = 100, *, before: int | None = None, offset: int = 0,
                    released: bool = True) -> list[SetAside]:
    """Set-aside messages, newest first: *before* an id (a cursor) or from *offset*.

    ``released=False`` leaves out the ones already made into tickets.
    """
    query = select(ASIDE).order_by(ASIDE.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(ASIDE.c.id < before)
    if not released:
        query = query.where(ASIDE.c.ticket_id.is_(None))
    if offset:
        query = query.offset(offset)
    return [_aside(r) for r in await tx.conn.execute(query)]


async def get_set_aside(tx: Tx, item_id: int) -> SetAside | None:
    row = (await tx.conn.execute(select(ASIDE).where(ASIDE.c.id == item_id))).first()
    return _aside(row) if row is not None else None


async def count_set_aside(tx: Tx, *, released: bool = True) -> int:
    query = select(func.count()).select_from(ASIDE)
    if not released:
        query = query.where(ASIDE.c.ticket_id.is_(None))
    return (await tx.conn.execute(query)).scalar_one()


async def mark_released(tx: Tx, item_id: int, ticket_id: int) -> bool:
    """Note that set-aside message *item_id* became part of *ticket_id*; False if it already had."""
    done = await tx.conn.execute(update(ASIDE).where(ASIDE.c.id == item_id, ASIDE.c.ticket_id.is_(None))
                                 .values(ticket_id=ticket_id))
    return done.rowcount == 1


async def rekey_message(tx: Tx, key: dict) -> None:
    """Rewrite the stored key of a message already looked at (a released set-aside message)."""
    where = (MM.c.account == key["account"], MM.c.mailbox == key["mailbox"],
             MM.c.uidvalidity == key["uidvalidity"], MM.c.uid == key["uid"])
    values = {k: key[k] for k in ("kind", "ticket_id", "entry_id", "refs", "content_sha", "message_id") if k in key}
    done = await tx.conn.execute(update(MM).where(*where).values(**values))
    if done.rowcount == 0:
        await insert_keys(tx, [key])


# --------------------------------------------------------------------- leases


async def steal_dead_lease(tx: Tx, name: str, alive) -> bool:
    """Drop lease *name* when ``alive(holder)`` says its holder process is gone.

    A syncer killed with SIGKILL cannot release its lease; on the same host
    we can tell it is dead and take over at once instead of waiting out the TTL.
    """
    row = (await tx.conn.execute(select(LEASE.c.holder).where(LEASE.c.name == name))).first()
    if row is None or alive(row[0]):
        return False
    await tx.conn.execute(delete(LEASE).where(LEASE.c.name == name, LEASE.c.holder == row[0]))
    return True


async def lease_holder(tx: Tx, name: str) -> tuple[str, datetime] | None:
    row = (await tx.conn.execute(select(LEASE.c.holder, LEASE.c.expires_at).where(LEASE.c.name == name))).first()
    return (row[0], row[1]) if row else None

