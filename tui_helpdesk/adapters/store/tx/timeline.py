"""A ticket's timeline: its entries (messages, replies, notes, events) and the @mentions in notes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, insert, select, update

from ....domain.clock import naive_utc
from ....domain.model import EntryKind, TimelineEntry
from ..tables import ENTRY, MENTION
from ..viewsql import E, M
from .base import TxPart, prepared
from .rows import _entry


@prepared
def _insert_entry():
    return insert(ENTRY).returning(ENTRY.c.id)


class TimelineQueries(TxPart):
    """The entry and mention tables."""

    # ---------------------------------------------------------------- entries

    async def insert_entry(
        self, *, ticket_id: int, kind: EntryKind, body: str, author_name: str,
        author_agent_id: int | None = None, author_requester_id: int | None = None,
        meta: dict | None = None, search_extra: str | None = None, at: datetime | None = None,
    ) -> TimelineEntry:
        now = naive_utc(at) if at else self.now()
        result = await self.conn.execute(_insert_entry(), dict(
            ticket_id=ticket_id, kind=kind.value, body=body, search_extra=search_extra,
            author_agent_id=author_agent_id, author_requester_id=author_requester_id,
            author_name=author_name, meta=meta or {}, created_at=now,
        ))
        return TimelineEntry(
            id=result.scalar_one(), ticket_id=ticket_id, kind=kind, body=body, created_at=now,
            author=author_name, author_agent_id=author_agent_id, meta=meta or {},
        )

    async def timeline(self, ticket_id: int, *, after_id: int = 0, limit: int | None = None) -> list[TimelineEntry]:
        stmt = select(ENTRY).where(E.ticket_id == ticket_id, E.id > after_id).order_by(E.id)
        if limit:
            stmt = stmt.limit(limit)
        return [_entry(r) for r in await self.conn.execute(stmt)]

    async def timeline_tail(self, ticket_id: int, limit: int) -> list[TimelineEntry]:
        """The newest *limit* entries, oldest first (for lazy rendering of long threads)."""
        stmt = select(ENTRY).where(E.ticket_id == ticket_id).order_by(E.id.desc()).limit(limit)
        return [_entry(r) for r in reversed((await self.conn.execute(stmt)).all())]

    async def timeline_before(self, ticket_id: int, before_id: int, limit: int) -> list[TimelineEntry]:
        stmt = select(ENTRY).where(E.ticket_id == ticket_id, E.id < before_id).order_by(E.id.desc()).limit(limit)
        return [_entry(r) for r in reversed((await self.conn.execute(stmt)).all())]

    async def count_entries(self, ticket_id: int) -> int:
        return (await self.conn.execute(select(func.count()).where(E.ticket_id == ticket_id))).scalar_one()

    async def last_entry_id(self, ticket_id: int) -> int:
        return (await self.conn.execute(select(func.max(E.id)).where(E.ticket_id == ticket_id))).scalar() or 0

    async def entries_since(self, ticket_id: int, entry_id: int, kinds: Sequence[EntryKind]) -> list[TimelineEntry]:
        stmt = select(ENTRY).where(E.ticket_id == ticket_id, E.id > entry_id, E.kind.in_([k.value for k in kinds]))
        return [_entry(r) for r in await self.conn.execute(stmt.order_by(E.id))]

    # --------------------------------------------------------------- mentions

    async def insert_mentions(self, entry_id: int, ticket_id: int, agent_ids: Iterable[int]) -> None:
        for agent_id in agent_ids:
            await self.conn.execute(insert(MENTION).values(entry_id=entry_id, ticket_id=ticket_id, agent_id=agent_id))

    async def unread_mentions(self, agent_id: int) -> int:
        stmt = select(func.count()).where(M.agent_id == agent_id, M.read_at.is_(None))
        return (await self.conn.execute(stmt)).scalar_one()

    async def mark_mentions_read(self, ticket_id: int, agent_id: int) -> int:
        result = await self.conn.execute(
            update(MENTION).where(M.ticket_id == ticket_id, M.agent_id == agent_id, M.read_at.is_(None)).values(read_at=self.now())
        )
        return result.rowcount or 0
