"""Desks: list, look up by id or slug, create on first use."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select

from ....domain.errors import NotFound
from ....domain.model import Desk
from ..tables import DESK
from .base import TxPart, prepared
from .rows import _desk


@prepared
def _desk_by(column: str | None):
    """The desk whose *column* is :key, or the first desk (None)."""
    if column is None:
        return select(DESK).order_by(DESK.c.id).limit(1)
    return select(DESK).where(DESK.c[column] == bindparam("key"))


class DeskQueries(TxPart):
    """The desk table."""

    async def list_desks(self) -> list[Desk]:
        rows = await self.conn.execute(select(DESK).order_by(DESK.c.id))
        return [_desk(r) for r in rows]

    async def get_desk(self, key: str | int | None = None) -> Desk:
        if key is None:
            row = (await self.conn.execute(_desk_by(None))).first()
        elif isinstance(key, int) or str(key).isdigit():
            row = (await self.conn.execute(_desk_by("id"), {"key": int(key)})).first()
        else:
            row = (await self.conn.execute(_desk_by("slug"), {"key": str(key).lower()})).first()
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
