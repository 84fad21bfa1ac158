"""Desk settings rows: read, write with a version check, and lock for assignment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from ..tables import AGENT, DESK, DESK_SETTINGS, TICKET, TIME_OFF
from .base import TxPart


@dataclass(frozen=True, slots=True)
class SettingsRow:
    desk_id: int
    version: int
    data: dict
    updated_at: datetime
    updated_by: str | None
    imported_from: str | None


def _row(r) -> SettingsRow:
    return SettingsRow(r.desk_id, r.version, dict(r.data or {}), r.updated_at, r.updated_by, r.imported_from)


class DeskSettingsQueries(TxPart):
    """The desk_settings table (and the agent columns scheduling owns)."""

    async def desk_settings_rows(self) -> dict[int, SettingsRow]:
        rows = await self.conn.execute(select(DESK_SETTINGS))
        return {r.desk_id: _row(r) for r in rows}

    async def desk_settings_row(self, desk_id: int, *, lock: bool = False) -> SettingsRow | None:
        """The desk's row; *lock* holds it until the transaction ends (PostgreSQL; SQLite's writer is alone)."""
        stmt = select(DESK_SETTINGS).where(DESK_SETTINGS.c.desk_id == desk_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _row(row) if row else None

    async def lock_desk(self, desk_id: int) -> None:
        """Serialise decisions per desk: lock the desk row itself (present whether settings are stored or not)."""
        if self.dialect == "postgresql":
            await self.conn.execute(select(DESK.c.id).where(DESK.c.id == desk_id).with_for_update())

    async def write_desk_settings(self, desk_id: int, data: dict, *, expected_version: int | None, actor: str | None,
                                  imported_from: str | None = None) -> int | None:
        """Insert or update; returns the new version, or None when *expected_version* is stale."""
        now = self.now()
        if expected_version is None or expected_version == 0:
            existing = await self.desk_settings_row(desk_id, lock=True)
            if existing is not None:
                if expected_version == 0:
                    return None  # someone saved first
                expected_version = existing.version
            else:
                await self.conn.execute(insert(DESK_SETTINGS).values(
                    desk_id=desk_id, version=1, data=data, updated_at=now, updated_by=actor,
                    imported_from=imported_from))
                return 1
        done = await self.conn.execute(
            update(DESK_SETTINGS)
            .where(DESK_SETTINGS.c.desk_id == desk_id, DESK_SETTINGS.c.version == expected_version)
            .values(data=data, version=expected_version + 1, updated_at=now, updated_by=actor)
        )
        return expected_version + 1 if done.rowcount == 1 else None

    async def update_desk_row(self, desk_id: int, *, name: str, enabled: bool, reopen_days: int) -> None:
        await self.conn.execute(update(DESK).where(DESK.c.id == desk_id).values(
            name=name, enabled=enabled, reopen_days=reopen_days))

    async def add_desk(self, slug: str, name: str) -> int:
        await self.conn.execute(insert(DESK).values(slug=slug, name=name, reopen_days=7, enabled=True, settings={},
                                                    created_at=self.now()))
        return (await self.conn.execute(select(DESK.c.id).where(DESK.c.slug == slug))).scalar_one()

    async def time_off(self, agent_id: int | None = None) -> dict[int, list[tuple]]:
        stmt = select(TIME_OFF).order_by(TIME_OFF.c.start)
        if agent_id is not None:
            stmt = stmt.where(TIME_OFF.c.agent_id == agent_id)
        out: dict[int, list[tuple]] = {}
        for r in await self.conn.execute(stmt):
            out.setdefault(r.agent_id, []).append((r.start, r.end))
        return out

    async def replace_time_off(self, agent_id: int, ranges) -> None:
        await self.conn.execute(delete(TIME_OFF).where(TIME_OFF.c.agent_id == agent_id))
        for start, end in ranges:
            await self.conn.execute(insert(TIME_OFF).values(agent_id=agent_id, start=start, end=end))
        await self.record_change(None, "agent", agent_id)

    async def rename_shift(self, old: str, new: str | None) -> None:
        await self.conn.execute(update(AGENT).where(AGENT.c.shift == old).values(shift=new))

    async def waiting_unassigned(self, desk_id: int, statuses: list[str], limit: int) -> list[int]:
        """Unassigned tickets of a desk in *statuses*, oldest first (the hand-out queue)."""
        rows = await self.conn.execute(
            select(TICKET.c.id).where(TICKET.c.desk_id == desk_id, TICKET.c.assignee_id.is_(None),
                                      TICKET.c.closed.is_(False), TICKET.c.status.in_(statuses))
            .order_by(TICKET.c.created_at, TICKET.c.id).limit(limit))
        return [r[0] for r in rows]
