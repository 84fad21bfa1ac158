"""Leases: which process runs a singleton job (mail sync, the outboxes) right now."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..tables import LEASE
from .base import TxPart


class LeaseQueries(TxPart):
    """The lease table."""

    async def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take or renew lease *name* for *holder*; False when someone else holds it."""
        now = self.now()
        row = (await self.conn.execute(select(LEASE).where(LEASE.c.name == name))).first()
        if row is None:
            try:
                async with self.conn.begin_nested():
                    await self.conn.execute(insert(LEASE).values(name=name, holder=holder, expires_at=now + ttl))
                return True
            except IntegrityError:
                return False
        if row.holder != holder and row.expires_at > now:
            return False
        result = await self.conn.execute(
            update(LEASE).where(LEASE.c.name == name, LEASE.c.holder == row.holder, LEASE.c.expires_at == row.expires_at)
            .values(holder=holder, expires_at=now + ttl)
        )
        return (result.rowcount or 0) == 1

    async def release_lease(self, name: str, holder: str) -> None:
        await self.conn.execute(delete(LEASE).where(LEASE.c.name == name, LEASE.c.holder == holder))
