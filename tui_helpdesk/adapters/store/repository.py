"""The ticket store: SQL behind small async methods, on SQLite or PostgreSQL.

``Store.read()`` and ``Store.write()`` hand out a :class:`Tx` — one transaction
on one connection. Services make their decisions inside ``write()`` so they see
the row as it is; on SQLite that transaction began with ``BEGIN IMMEDIATE``,
on PostgreSQL the ticket row is locked with ``FOR UPDATE``. ``Tx`` is composed
of the query areas in :mod:`.tx` (desks, agents, tickets, timeline, views, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...domain.clock import naive_utc, utcnow
from ...domain.errors import HelpdeskError
from . import engine as engine_mod
from .steady import SteadyConnection, connect, finish, transaction
from .tx.agents import AgentQueries
from .tx.ai import AIQueries
from .tx.desk_settings import DeskSettingsQueries
from .tx.desks import DeskQueries
from .tx.drafts import DraftQueries
from .tx.feed import FeedQueries
from .tx.leases import LeaseQueries
from .tx.saved_views import SavedViewQueries
from .tx.tickets import TicketQueries
from .tx.timeline import TimelineQueries
from .tx.views import ViewQueries


# How long closing waits for transactions that are still ending.
CLOSE_GRACE_SECONDS = 5.0


class _Held:
    """A pooled SQLite connection the store keeps checked out for quick reads, one at a time:
    checking a connection out and in and making it quick cost about as much as the quick read
    itself. (Writes do not keep one: a held writer's connection made the WAL grow without bound
    under concurrent writes, its checkpoints never completing.)"""

    __slots__ = ("conn", "lock")

    def __init__(self) -> None:
        self.conn: AsyncConnection | None = None
        self.lock = asyncio.Lock()


class Store:
    """Owns the engine. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.clock = clock
        self.dialect = engine.dialect.name
        self._active = 0  # transactions open right now
        # SQLite takes one writer at a time; the others sleep in its busy handler
        # and poll (1 ms, 2 ms, ... 100 ms), so under load a write waits for
        # seconds and the writer that holds the lock competes with the pollers.
        # This process's writers queue here instead, first come first served;
        # other processes still meet at SQLite's lock (BEGIN IMMEDIATE).
        self._write_queue = asyncio.Lock() if self.dialect == "sqlite" else None
        self._writing: asyncio.Task | None = None  # the task inside a queued write
        # (words, threshold) -> (matched at least that many entries?, when checked); see Tx._matches_at_least
        self.common_words: dict[tuple[str, int], tuple[bool, float]] = {}
        self._held_read = _Held() if self.dialect == "sqlite" else None

    @classmethod
    async def open(
        cls, url: str, *, create: bool = True, upgrade: bool = False, clock: Callable[[], datetime] = utcnow
    ) -> "Store":
        url = engine_mod.normalise_url(url)
        path = engine_mod.sqlite_path(url)
        if path is not None:
            engine_mod.check_file_modes(path, creating=create)
        engine = engine_mod.make_engine(url)
        store = cls(engine, clock)
        try:
            async with connect(engine) as conn:
                conn = await conn.execution_options(**{engine_mod.WRITE_OPTION: True})
                async with transaction(conn.begin()):
                    store.prepared = await finish(conn.run_sync(lambda c: engine_mod.prepare(c, upgrade=upgrade)))
        except (DBAPIError, OSError) as exc:
            # Not a database, server down, wrong password: one line, no traceback.
            await engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            shown = make_url(url).render_as_string(hide_password=True)
            raise HelpdeskError(f"cannot open the database {shown}: {reason[0] if reason else type(exc).__name__}") from None
        except BaseException:
            await engine.dispose()
            raise
        return store

    async def close(self) -> None:
        # Transactions still ending (a cancelled caller rolling back) finish first:
        # disposing of the engine under them would leave their connections closing forever.
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS
        while self._active and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        held = self._held_read
        if held is not None and held.conn is not None:
            conn, held.conn = held.conn, None
            with contextlib.suppress(Exception):  # disposing of the engine closes it anyway
                await finish(conn.close())
        await self.engine.dispose()

    def held_connections(self) -> int:
        """Pooled connections kept checked out for quick reads (see :class:`_Held`)."""
        held = self._held_read
        return 1 if held is not None and held.conn is not None else 0

    @asynccontextmanager
    async def _connect_held(self, held: _Held) -> AsyncIterator[AsyncConnection]:
        async with held.lock:
            conn = held.conn
            if conn is None or conn.closed or conn.invalidated:
                held.conn = None
                conn = self.engine.connect()
                await finish(conn.start())
                try:
                    from .sqlite_driver import make_quick

                    make_quick((await conn.get_raw_connection()).dbapi_connection, engine_mod.BUSY_TIMEOUT_MS)
                except BaseException:
                    await finish(conn.close())
                    raise
                held.conn = conn
            self._active += 1
            try:
                yield conn
            finally:
                self._active -= 1
                if conn.closed or conn.invalidated:
                    held.conn = None

    @asynccontextmanager
    async def _connect(self, quick: bool = False) -> AsyncIterator[AsyncConnection]:
        self._active += 1
        try:
            async with connect(self.engine) as conn:
                if quick and self.dialect == "sqlite":
                    from .sqlite_driver import quick as on_this_thread

                    raw = await conn.get_raw_connection()
                    with on_this_thread(raw.dbapi_connection, engine_mod.BUSY_TIMEOUT_MS):
                        yield conn
                else:
                    yield conn
        finally:
            self._active -= 1

    @asynccontextmanager
    async def read(self, *, quick: bool = False) -> AsyncIterator["Tx"]:
        """A read transaction. *quick*: a few statements on indexed rows (one ticket, one token),
        which on SQLite run without the trip to the driver's thread (see sqlite_driver)."""
        if quick:
            await asyncio.sleep(0)  # a quick transaction never suspends: let the others run first
        held = self._held_read
        connecting = (self._connect_held(held) if quick and held is not None and not held.lock.locked()
                      else self._connect(quick))
        async with connecting as conn:
            async with transaction(conn.begin()):
                yield Tx(SteadyConnection(conn), self)

    @asynccontextmanager
    async def write(self, *, quick: bool = False) -> AsyncIterator["Tx"]:
        """A write transaction, queued behind this process's other writers on SQLite; *quick* as for read."""
        if quick:
            await asyncio.sleep(0)  # as for read
        queue = self._write_queue
        task = asyncio.current_task()
        if queue is None or task is None or self._writing is task:
            # PostgreSQL locks rows, not the database; a write opened inside this
            # task's own write keeps SQLite's behaviour (its busy timeout) as before.
            async with self._write(quick) as tx:
                yield tx
            return
        async with queue:
            self._writing = task
            try:
                async with self._write(quick) as tx:
                    yield tx
            finally:
                self._writing = None

    @asynccontextmanager
    async def _write(self, quick: bool) -> AsyncIterator["Tx"]:
        async with self._connect(quick) as conn:
            conn = await conn.execution_options(**{engine_mod.WRITE_OPTION: True})
            async with transaction(conn.begin()):
                yield Tx(SteadyConnection(conn), self)


class Tx(
    DeskQueries, AgentQueries, TicketQueries, TimelineQueries, ViewQueries, SavedViewQueries, FeedQueries,
    DraftQueries, LeaseQueries, DeskSettingsQueries, AIQueries,
):
    """One transaction. Every method is a small, named query (by area in :mod:`.tx`)."""

    def __init__(self, conn: "AsyncConnection | SteadyConnection", store: Store):
        self.conn = conn
        self.store = store
        self.dialect = store.dialect

    def now(self) -> datetime:
        return naive_utc(self.store.clock())

    # ----------------------------------------------------------------- checks

    async def integrity_ok(self) -> bool:
        if self.dialect != "sqlite":
            return True
        return (await self.conn.execute(text("PRAGMA integrity_check"))).scalar() == "ok"
