"""Desks: list, look up by id or slug, create on first use."""

from __future__ import annotations

from sqlalchemy import insert, select

from ....domain.errors import NotFound
from ....domain.model import Desk
from ..tables import DESK
from .base import TxPart
from .rows import _desk


class DeskQueries(TxPart):
    """The desk table."""

    async def list_desks(self) -> list[Desk]:
        rows = await self.conn.execute(select(DESK).order_by(DESK.c.id))
        return [_desk(r) for r in rows]

    async def get_desk(self, key: str | int | None = None) -> Desk:
        stmt = select(DESK)
        if key is None:
            stmt = stmt.order_by(DESK.c.id).limit(1)
        elif isinstance(key, int) or str(key).isdigit():
            stmt = stmt.where(DESK.c.id == int(key))
        else:
            stmt = stmt.where(DESK.c.slug == str(key).lower())
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            raise NotFound(f"no desk {key!r}" if key is not None else "no desk yet")
        return _desk(row)

    async def ensure_desk(self, slug: str, name: str, reopen_days: int = 7) -> Desk:
        row = (await self.conn.execute(select(DESK).where(DESK.c.slug == slug))).first()
        if row is not None:
            return _desk(row)
        await self.conn.execute(
            insert(DESK).values(slug=slug, name=name, reopen_days=reopen_days, enabled=True, settings={}, created_at=self.now())
        )
        return await self.get_desk(slug)
