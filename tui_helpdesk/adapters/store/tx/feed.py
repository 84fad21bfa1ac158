"""The change feed: one row per change, read by every terminal to stay live."""

from __future__ import annotations

from sqlalchemy import func, insert, select, text

from ....domain.model import Change
from ..tables import CHANGE
from .base import TxPart, prepared


@prepared
def _insert_change():
    return insert(CHANGE)


# Serialises change-feed inserts on PostgreSQL so sequence order is commit order.
PG_FEED_LOCK = 7_310_001


class FeedQueries(TxPart):
    """The change table."""

    async def record_change(self, ticket_id: int | None, kind: str, agent_id: int | None) -> None:
        if self.dialect == "postgresql":
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_FEED_LOCK})
        await self.conn.execute(_insert_change(), dict(ticket_id=ticket_id, kind=kind, agent_id=agent_id, at=self.now()))

    async def latest_seq(self) -> int:
        return (await self.conn.execute(select(func.max(CHANGE.c.seq)))).scalar() or 0

    async def changes_since(self, seq: int, limit: int = 1000) -> list[Change]:
        rows = await self.conn.execute(select(CHANGE).where(CHANGE.c.seq > seq).order_by(CHANGE.c.seq).limit(limit))
        return [Change(r.seq, r.ticket_id, r.kind, r.agent_id, r.at) for r in rows]
