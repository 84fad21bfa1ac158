"""Leases: one process at a time does a job (a mailbox's sync, an account's outbox, a desk's chatbot work).

A lease is a row in the database with a holder and an expiry. The holder
renews it while it works and gives it up when it stops; anyone else who asks
is told who holds it. A holder that is killed (SIGKILL, a power cut) cannot
give it up: the lease then passes to the next process that asks once it has
expired, or at once when the holder was a process on this host that no
longer exists. Every holder is written ``host:pid:random`` so that can be
told; the random part keeps two holders in one process apart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from datetime import timedelta

from ..adapters.store import mailstore as ms
from ..adapters.store.repository import Store, Tx

log = logging.getLogger(__name__)


def new_holder() -> str:
    """A holder name for this process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_alive(holder: str) -> bool:
    """False only when *holder* is a process on this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    """Lease *name* for *holder* (a new one for this process by default), *ttl* long each time it is renewed."""

    def __init__(self, store: Store, name: str, ttl: timedelta | float, holder: str | None = None):
        self.store = store
        self.name = name
        self.ttl = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
        self.holder = holder or new_holder()
        self._renewed = 0.0  # time.monotonic() of the last take or renewal that worked

    @property
    def key(self) -> tuple[str, str, timedelta]:
        """(name, holder, ttl), as ``tx.acquire_lease`` takes them: renewing inside a transaction
        makes the transaction's work depend on still holding the lease."""
        return (self.name, self.holder, self.ttl)

    async def take_in(self, tx: Tx) -> str | None:
        """Take or renew the lease in *tx*: None when it is ours, else who holds it."""
        if await self.renew_in(tx):
            return None
        if await ms.steal_dead_lease(tx, self.name, holder_alive) and await self.renew_in(tx):
            return None
        held = await ms.lease_holder(tx, self.name)
        return held[0] if held else "another process"

    async def take(self) -> str | None:
        """Take or renew the lease: None when it is ours, else who holds it."""
        async with self.store.write(quick=True) as tx:
            return await self.take_in(tx)

    async def renew_in(self, tx: Tx) -> bool:
        """Renew the lease in *tx*; False when someone else holds it now."""
        ok = await tx.acquire_lease(*self.key)
        if ok:
            self._renewed = time.monotonic()
        return ok

    async def renew(self) -> bool:
        async with self.store.write(quick=True) as tx:
            return await self.renew_in(tx)

    async def refresh(self) -> None:
        """Renew when a quarter of the TTL has passed since the last renewal.

        For work that runs long between its transactions (a slow server): the
        lease must not lapse meanwhile, or another process would take over.
        """
        if time.monotonic() - self._renewed > self.ttl.total_seconds() / 4:
            await self.renew()

    async def release(self) -> None:
        async with self.store.write(quick=True) as tx:
            await tx.release_lease(self.name, self.holder)

    async def keep(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        """Renew every third of the TTL until *stop* is set; set *lost* and return when someone else has it."""
        interval = self.ttl.total_seconds() / 3
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
                return
            except asyncio.TimeoutError:
                pass
            try:
                ok = await self.renew()
            except Exception:  # noqa: BLE001 - try again next round; the TTL covers us
                log.warning("could not renew %s", self.name, exc_info=True)
                continue
            if not ok:
                lost.set()
                return
