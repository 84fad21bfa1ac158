"""Saved views: an agent's personal views and the desk's shared ones."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ....domain.errors import NotFound, UsageError
from ....domain.query import ViewSpec
from ....domain.views import SavedView, Visibility
from ..tables import SAVED_VIEW as VIEW
from .base import TxPart
from .rows import _saved


class SavedViewQueries(TxPart):
    """The saved-view table."""

    async def saved_views(self, agent_id: int | None) -> list[SavedView]:
        stmt = select(VIEW).where((VIEW.c.visibility == Visibility.SHARED.value) | (VIEW.c.owner_id == agent_id))
        rows = await self.conn.execute(stmt.order_by(VIEW.c.visibility.desc(), VIEW.c.position, VIEW.c.id))
        return [_saved(r) for r in rows]

    async def count_saved_views(self, *, owner_id: int | None = None, shared_desk: int | None = None) -> int:
        stmt = select(func.count()).select_from(VIEW)
        if owner_id is not None:
            stmt = stmt.where(VIEW.c.owner_id == owner_id, VIEW.c.visibility == Visibility.PERSONAL.value)
        else:
            stmt = stmt.where(VIEW.c.visibility == Visibility.SHARED.value)
            if shared_desk is not None:
                stmt = stmt.where(VIEW.c.desk_id == shared_desk)
        return (await self.conn.execute(stmt)).scalar_one()

    async def insert_saved_view(self, view: SavedView) -> SavedView:
        try:
            result = await self.conn.execute(
                insert(VIEW).values(
                    name=view.name, visibility=view.visibility.value, owner_id=view.owner_id, desk_id=view.desk_id,
                    spec=view.spec.to_dict(), position=0, created_at=self.now(),
                ).returning(VIEW.c.id)
            )
        except IntegrityError:
            raise UsageError(f"a view named {view.name!r} already exists") from None
        await self.record_change(None, "view", view.owner_id)
        return SavedView(result.scalar_one(), view.name, view.spec, view.visibility, view.owner_id, view.desk_id)

    async def get_saved_view(self, view_id: int) -> SavedView:
        row = (await self.conn.execute(select(VIEW).where(VIEW.c.id == view_id))).first()
        if row is None:
            raise NotFound(f"no saved view {view_id}")
        return _saved(row)

    async def update_saved_view(self, view_id: int, *, name: str | None = None, spec: ViewSpec | None = None) -> None:
        values: dict = {}
        if name is not None:
            values["name"] = name
        if spec is not None:
            values["spec"] = spec.to_dict()
        await self.conn.execute(update(VIEW).where(VIEW.c.id == view_id).values(**values))
        await self.record_change(None, "view", None)

    async def delete_saved_view(self, view_id: int) -> None:
        await self.conn.execute(delete(VIEW).where(VIEW.c.id == view_id))
        await self.record_change(None, "view", None)
