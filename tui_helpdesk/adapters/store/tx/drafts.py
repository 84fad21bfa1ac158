"""Drafts and presence: the composer's unsent text, and who else is on a ticket."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, insert, select

from ....domain.drafts import Draft
from ....domain.presence import Presence
from ..tables import AGENT, DRAFT, PRESENCE
from ..viewsql import A
from .base import TxPart


class DraftQueries(TxPart):
    """The draft and presence tables."""

    async def get_draft(self, agent_id: int, ticket_id: int) -> Draft | None:
        row = (await self.conn.execute(select(DRAFT).where(DRAFT.c.agent_id == agent_id, DRAFT.c.ticket_id == ticket_id))).first()
        return Draft(row.ticket_id, row.mode, row.body, row.base_entry_id, row.updated_at) if row else None

    async def save_draft(self, agent_id: int, ticket_id: int, mode: str, body: str, base_entry_id: int) -> None:
        await self.conn.execute(delete(DRAFT).where(DRAFT.c.agent_id == agent_id, DRAFT.c.ticket_id == ticket_id))
        if body.strip():
            await self.conn.execute(insert(DRAFT).values(
                agent_id=agent_id, ticket_id=ticket_id, mode=mode, body=body, base_entry_id=base_entry_id, updated_at=self.now()))

    async def delete_draft(self, agent_id: int, ticket_id: int) -> None:
        await self.conn.execute(delete(DRAFT).where(DRAFT.c.agent_id == agent_id, DRAFT.c.ticket_id == ticket_id))

    async def touch_presence(self, agent_id: int, ticket_id: int, typing: bool) -> None:
        await self.conn.execute(delete(PRESENCE).where(PRESENCE.c.agent_id == agent_id))
        if ticket_id:
            await self.conn.execute(insert(PRESENCE).values(agent_id=agent_id, ticket_id=ticket_id, typing=typing, seen_at=self.now()))

    async def presence(self, ticket_id: int, *, max_age: timedelta) -> list[Presence]:
        stmt = (
            select(PRESENCE.c.agent_id, A.name, PRESENCE.c.typing, PRESENCE.c.seen_at)
            .join(AGENT, A.id == PRESENCE.c.agent_id)
            .where(PRESENCE.c.ticket_id == ticket_id, PRESENCE.c.seen_at >= self.now() - max_age)
        )
        return [Presence(r[0], r[1], r[2], r[3]) for r in await self.conn.execute(stmt)]
