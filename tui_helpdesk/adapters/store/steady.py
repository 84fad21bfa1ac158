"""Database calls that run to their end even when the caller is cancelled.

The app cancels work all the time: a view switch replaces the previous view's
query, a closed screen cancels its workers, quitting cancels them all. If the
cancellation lands inside a statement, SQLAlchemy has to throw the connection
away, and closing a connection whose worker thread has already stopped waits
forever — the process then hangs on its way out. So every statement, BEGIN,
COMMIT, ROLLBACK and savepoint is finished first (it takes milliseconds) and
the cancellation is passed on right after, with the connection in a known state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

T = TypeVar("T")


async def finish(awaitable: Awaitable[T]) -> T:
    """Await *awaitable*; if the caller is cancelled meanwhile, let it finish, then re-raise.

    There is no time limit on purpose: rolling back while the statement still
    runs would let the rest of it run outside the transaction. A statement
    ends by itself (SQLite's busy timeout, the server's own limits).

    A coroutine is first run up to its first suspension right here: one that
    never suspends (a quick SQLite transaction's statements) cannot be
    cancelled half-way and needs no task of its own, which is most of its cost.
    """
    if asyncio.iscoroutine(awaitable):
        try:
            waiting_for = awaitable.send(None)
        except StopIteration as done:
            return done.value
        task = asyncio.ensure_future(_Resumed(awaitable, waiting_for).run())
    else:
        task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                continue  # cancelled once more (quitting cancels everything): still finish first
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller hears about
        raise


class _Resumed:
    """The rest of a coroutine that already ran up to a suspension and yielded *waiting_for*."""

    __slots__ = ("_coro", "_waiting_for")

    def __init__(self, coro, waiting_for):
        self._coro = coro
        self._waiting_for = waiting_for

    def __await__(self):
        coro, waiting_for = self._coro, self._waiting_for
        while True:
            try:
                value = yield waiting_for
            except BaseException as exc:  # noqa: BLE001 - handed to the coroutine, as a task would
                step = coro.throw, exc
            else:
                step = coro.send, value
            try:
                waiting_for = step[0](step[1])
            except StopIteration as done:
                return done.value

    async def run(self):
        return await self


@asynccontextmanager
async def connect(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Like ``async with engine.connect()``, with the check-out and check-in each run to their end."""
    conn = engine.connect()
    try:
        await finish(conn.start())
    except asyncio.CancelledError:
        if conn.sync_connection is not None:
            await finish(conn.close())
        raise
    try:
        yield conn
    finally:
        await finish(conn.close())


@asynccontextmanager
async def transaction(trans: AsyncTransaction) -> AsyncIterator[AsyncTransaction]:
    """Like ``async with trans``, with the begin, commit and rollback each run to their end."""
    await finish(trans.start())
    try:
        yield trans
    except BaseException:
        if trans.is_active:
            await finish(trans.rollback())
        raise
    else:
        if trans.is_active:
            await finish(trans.commit())


class SteadyConnection:
    """An :class:`AsyncConnection` whose statements run to their end (see the module docstring)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection):
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await finish(self._conn.execute(*args, **kwargs))

    async def run_sync(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await finish(self._conn.run_sync(fn, *args, **kwargs))

    def begin_nested(self):
        """A savepoint, used as ``async with tx.conn.begin_nested():``."""
        return transaction(self._conn.begin_nested())
