"""Queries behind splitting and merging tickets (services/threads.py): entries, mail keys, merges.

Functions take a :class:`~.repository.Tx`, so the service does a whole split
or merge in one transaction. Merging moves entries (their ids, and so their
order, stay); on SQLite the ticket-keyed search index gets the moved entries
under the surviving ticket (see :func:`index_moved`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, text, update

from .engine import FTS_SHIFT
from .repository import Tx
from .tables import ENTRY, MENTION, TICKET_TAG
from .tables_mail import MAIL_MESSAGE as MM
from .tables_mail import MAIL_OUTBOX as OUTBOX
from .tables_mail import MAIL_PARTICIPANT as PART
from .tables_mail import TICKET_MERGE as MERGE

__all__ = [
    "EntryRow", "copy_entry", "entry", "index_moved", "merge_row", "merged_into", "move_ticket_rows",
    "rekey_entry_mail", "set_entry_meta", "unindex_moved",
]


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: int
    ticket_id: int
    kind: str
    body: str
    search_extra: str | None
    author_name: str
    author_agent_id: int | None
    author_requester_id: int | None
    meta: dict
    created_at: datetime


def _row(r) -> EntryRow:
    return EntryRow(r.id, r.ticket_id, r.kind, r.body, r.search_extra, r.author_name, r.author_agent_id,
                    r.author_requester_id, dict(r.meta or {}), r.created_at)


async def entry(tx: Tx, entry_id: int) -> EntryRow | None:
    row = (await tx.conn.execute(select(ENTRY).where(ENTRY.c.id == entry_id))).first()
    return _row(row) if row is not None else None


async def count_messages(tx: Tx, ticket_id: int) -> int:
    return (await tx.conn.execute(select(func.count()).select_from(ENTRY).where(
        ENTRY.c.ticket_id == ticket_id, ENTRY.c.kind == "message"))).scalar_one()


async def copy_entry(tx: Tx, source: EntryRow, ticket_id: int, meta: dict, search_extra: str | None) -> int:
    """*source* written again on *ticket_id*, with its author and time (a split)."""
    result = await tx.conn.execute(insert(ENTRY).values(
        ticket_id=ticket_id, kind=source.kind, body=source.body, search_extra=search_extra,
        author_agent_id=source.author_agent_id, author_requester_id=source.author_requester_id,
        author_name=source.author_name, meta=meta, created_at=source.created_at,
    ).returning(ENTRY.c.id))
    return result.scalar_one()


async def set_entry_meta(tx: Tx, entry_id: int, meta: dict) -> None:
    await tx.conn.execute(update(ENTRY).where(ENTRY.c.id == entry_id).values(meta=meta))


async def rekey_entry_mail(tx: Tx, entry_id: int, ticket_id: int, new_entry_id: int) -> None:
    """The inbound mail behind *entry_id* now belongs to *ticket_id* (later replies to it thread there)."""
    await tx.conn.execute(update(MM).where(MM.c.entry_id == entry_id).values(ticket_id=ticket_id,
                                                                             entry_id=new_entry_id))


async def add_participant(tx: Tx, ticket_id: int, address: str, name: str, role: str) -> None:
    exists = (await tx.conn.execute(select(PART.c.address).where(
        PART.c.ticket_id == ticket_id, PART.c.address == address))).first()
    if exists is None:
        await tx.conn.execute(insert(PART).values(ticket_id=ticket_id, address=address, name=name, role=role,
                                                  added_at=tx.now()))


async def merged_into(tx: Tx, ticket_ids: Iterable[int]) -> dict[int, int]:
    """Merged ticket -> the ticket that survives it (chains followed to the end)."""
    out: dict[int, int] = {}
    todo = set(ticket_ids)
    for _ in range(20):  # a chain longer than this is not made by hand
        if not todo:
            break
        rows = await tx.conn.execute(select(MERGE.c.ticket_id, MERGE.c.into_id).where(MERGE.c.ticket_id.in_(todo)))
        step = {r[0]: r[1] for r in rows}
        for source, target in out.items():
            if target in step:
                out[source] = step[target]
        for source, target in step.items():
            out.setdefault(source, target)
        todo = set(step.values()) - set(out)
    return out


async def merge_row(tx: Tx, ticket_id: int, into_id: int, by: str) -> None:
    await tx.conn.execute(insert(MERGE).values(ticket_id=ticket_id, into_id=into_id, merged_by=by,
                                               merged_at=tx.now()))


async def merged_from(tx: Tx, ticket_id: int) -> list[int]:
    rows = await tx.conn.execute(select(MERGE.c.ticket_id).where(MERGE.c.into_id == ticket_id).order_by(MERGE.c.ticket_id))
    return [r[0] for r in rows]


async def move_ticket_rows(tx: Tx, source: int, target: int) -> list[EntryRow]:
    """Move *source*'s entries, mentions, tags, mail keys, participants and outbox to *target*.

    Returns the moved entries (in id order) so the caller can index them.
    """
    moved = [_row(r) for r in await tx.conn.execute(select(ENTRY).where(ENTRY.c.ticket_id == source).order_by(ENTRY.c.id))]
    await tx.conn.execute(update(ENTRY).where(ENTRY.c.ticket_id == source).values(ticket_id=target))
    await tx.conn.execute(update(MENTION).where(MENTION.c.ticket_id == source).values(ticket_id=target))
    await tx.conn.execute(update(MM).where(MM.c.ticket_id == source).values(ticket_id=target))
    await tx.conn.execute(update(OUTBOX).where(OUTBOX.c.ticket_id == source).values(ticket_id=target))
    tags = [r[0] for r in await tx.conn.execute(select(TICKET_TAG.c.tag).where(TICKET_TAG.c.ticket_id == source))]
    have = {r[0] for r in await tx.conn.execute(select(TICKET_TAG.c.tag).where(TICKET_TAG.c.ticket_id == target))}
    if [t for t in tags if t not in have]:
        await tx.conn.execute(insert(TICKET_TAG), [{"ticket_id": target, "tag": t} for t in tags if t not in have])
    people = list(await tx.conn.execute(select(PART).where(PART.c.ticket_id == source)))
    for p in people:
        await add_participant(tx, target, p.address, p.name, "cc" if p.role == "requester" else p.role)
    return moved


async def index_moved(tx: Tx, target: int, before: int, moved: list[EntryRow]) -> None:
    """Index entries moved onto *target* in SQLite's ticket-keyed search index.

    Its rows are keyed by (ticket, position); positions after the *before*
    entries *target* had keep them unique, and the insert trigger numbers
    later entries after all of them (:func:`unindex_moved` takes the old rows
    out from under the merged ticket).
    """
    if tx.dialect != "sqlite":
        return  # PostgreSQL indexes the entry table itself
    position = before
    for e in moved:
        position += 1
        if (e.kind != "event" or e.search_extra is not None) and position < (1 << FTS_SHIFT):
            await tx.conn.execute(text("INSERT INTO ticket_fts(rowid, body, search_extra) VALUES (:r, :b, :s)"),
                                  {"r": (target << FTS_SHIFT) + position, "b": e.body, "s": e.search_extra})


async def unindex_moved(tx: Tx, source: int, moved: list[EntryRow]) -> None:
    """Take entries moved off *source* out of SQLite's search index, so a search finds them once.

    The contentless index can only forget a row given its exact values and
    key: (ticket, position among the ticket's entries). Bodies never change,
    and a ticket that never received merged entries numbered its entries in
    id order, so the keys are known; one that did keeps its old rows (a
    search may then also list the closed, merged ticket, which links on).
    """
    if tx.dialect != "sqlite" or await merged_from(tx, source):
        return
    for position, e in enumerate(moved, 1):
        if (e.kind != "event" or e.search_extra is not None) and position < (1 << FTS_SHIFT):
            await tx.conn.execute(
                text("INSERT INTO ticket_fts(ticket_fts, rowid, body, search_extra) VALUES ('delete', :r, :b, :s)"),
                {"r": (source << FTS_SHIFT) + position, "b": e.body, "s": e.search_extra})


async def count_entries(tx: Tx, ticket_id: int) -> int:
    return (await tx.conn.execute(select(func.count()).select_from(ENTRY).where(ENTRY.c.ticket_id == ticket_id))).scalar_one()
