"""SQLite through aiosqlite with one trip to the driver's thread per statement, not four.

aiosqlite runs each sqlite3 call on its connection's own thread and the event
loop waits for it. SQLAlchemy's adapter makes four such trips for a statement
(make a cursor, execute, fetch the rows, close the cursor), each a queue hand-off
and a thread switch: about 50 µs apiece on a busy machine, against a few µs for
the statement itself — most of a ticket write's time. This cursor does the four
steps in one function on that same thread, so a statement is one trip. It is
the same connection, thread, transaction and error handling otherwise; a
statement still runs off the event loop, so a long query or a wait for
another process's write lock never freezes the app.

A *quick* transaction (:func:`quick`: a few statements on indexed rows, such
as reading one ticket or creating one) skips the trip altogether: its
statements run on the event loop's own thread, a few microseconds each
instead of a hand-off that costs a hundred or more. It never waits there:
the connection's busy timeout is zero while it is quick (and stays so until
a statement goes to the driver's thread again, which restores it first), and
a statement that finds the database locked by another process (SQLITE_BUSY,
nothing done) is tried again every millisecond at most, the loop free in
between, until the busy timeout.

:func:`dbapi` returns the module SQLAlchemy is given (``module=``); if the
installed aiosqlite lacks what this relies on, it returns None and the stock
adapter is used.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


def _run(conn: sqlite3.Connection, operation: str, parameters, many: bool):
    """On the driver's thread: execute, fetch and close in one go."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


QUICK = "_helpdesk_quick"  # set on an aiosqlite connection while quick: the busy timeout to wait with
# Set while the connection's busy timeout is zero, to the one to give it back: a quick transaction
# leaves it at zero (the next one is most likely quick too), and the next statement sent to the
# driver's thread restores it on the way.
NO_WAIT = "_helpdesk_no_wait"
SQLITE_BUSY_SNAPSHOT = 517  # a read transaction's snapshot is too old to write from: waiting never helps


def _busy(exc: BaseException) -> bool:
    """SQLITE_BUSY (or one of its extended codes): the lock was not had, the statement did nothing."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_BUSY and code != SQLITE_BUSY_SNAPSHOT
    return isinstance(exc, sqlite3.OperationalError) and "database is locked" in str(exc)


def _commit(conn: sqlite3.Connection) -> None:
    conn.commit()


def _rollback(conn: sqlite3.Connection) -> None:
    conn.rollback()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement, rows and metadata come back in one trip."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection):  # noqa: ANN001 - SQLAlchemy's adapted connection
        # No aiosqlite cursor (that would be a trip of its own): the sqlite3 one
        # lives and dies inside _run.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description = None
        self._rowcount = -1
        self._lastrowid = None

    @property
    def description(self):
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self):
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return None  # nothing is open between statements

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._one_trip(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._one_trip(operation, seq_of_parameters, True)

    async def _one_trip(self, operation: Any, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            description, rows, rowcount, lastrowid = await _call(connection, _run, operation, parameters, many)
            self._description = description
            self._rowcount = rowcount
            self._lastrowid = lastrowid
            self._rows = collections.deque(rows) if rows is not None else collections.deque()


async def _call(connection: aiosqlite.Connection, fn, *args):
    """*fn(sqlite3 connection, *args)* here if the connection is quick, else on the connection's thread.

    Quick and the database locked by another process: tried again every
    millisecond at most (the loop free meanwhile) until the busy timeout. SQLite's own
    busy handler would sleep in growing steps up to 100 ms; another process's
    write holds the lock for a millisecond or two, so a short poll is served sooner.
    """
    waits = getattr(connection, QUICK, None)
    if waits is None:
        restore = getattr(connection, NO_WAIT, None)
        if restore is not None:  # left without a busy timeout by a quick transaction: give it back first
            setattr(connection, NO_WAIT, None)
            fn = _with_busy_timeout(fn, restore)
        return await connection._execute(fn, connection._conn, *args)
    deadline = None
    delay = 0.0002
    while True:
        try:
            return fn(connection._conn, *args)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            now = time.monotonic()
            deadline = deadline or now + waits / 1000
            if now >= deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.001)


def _with_busy_timeout(fn, busy_timeout_ms: int):
    def run(conn: sqlite3.Connection, *args):
        conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        return fn(conn, *args)

    return run


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    def commit(self) -> None:
        self._end(_commit, super().commit)

    def rollback(self) -> None:
        self._end(_rollback, super().rollback)

    def _end(self, fn, stock) -> None:
        """COMMIT or ROLLBACK: here when quick, else as SQLAlchemy's adapter does it."""
        connection = self._connection
        if getattr(connection, QUICK, None) is None:
            return stock()
        try:
            await_(_call(connection, fn))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy's own translation of driver errors
            self._handle_exception(error)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        adapted.__class__ = OneTripConnection  # same state, the one-trip cursor class
        return adapted


def make_quick(dbapi_connection: Any, busy_timeout_ms: int) -> bool:
    """From now on *dbapi_connection* (checked out, between transactions) runs its statements on the
    calling thread; False (and nothing done) for a connection this module did not make or one quick already."""
    driver = getattr(dbapi_connection, "_connection", None)
    if not isinstance(dbapi_connection, OneTripConnection) or driver is None or getattr(driver, QUICK, None):
        return False
    if getattr(driver, NO_WAIT, None) is None:
        driver._conn.execute("PRAGMA busy_timeout=0")
        setattr(driver, NO_WAIT, busy_timeout_ms)
    setattr(driver, QUICK, busy_timeout_ms)
    return True


@contextlib.contextmanager
def quick(dbapi_connection: Any, busy_timeout_ms: int) -> Iterator[bool]:
    """:func:`make_quick` while open; yields whether it did."""
    made = make_quick(dbapi_connection, busy_timeout_ms)
    try:
        yield made
    finally:
        if made:
            setattr(dbapi_connection._connection, QUICK, None)


def dbapi() -> OneTripDBAPI | None:
    """The adapted aiosqlite module for ``create_async_engine(module=...)``, or None to use the stock one."""
    connection = getattr(aiosqlite, "Connection", None)
    if connection is None or not hasattr(connection, "_execute") or not hasattr(connection, "_conn"):
        return None
    return OneTripDBAPI(aiosqlite, sqlite3)
