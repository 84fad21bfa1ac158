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

:func:`dbapi` returns the module SQLAlchemy is given (``module=``); if the
installed aiosqlite lacks what this relies on, it returns None and the stock
adapter is used.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT


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
            description, rows, rowcount, lastrowid = await connection._execute(
                _run, connection._conn, operation, parameters, many)
            self._description = description
            self._rowcount = rowcount
            self._lastrowid = lastrowid
            self._rows = collections.deque(rows) if rows is not None else collections.deque()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        adapted.__class__ = OneTripConnection  # same state, the one-trip cursor class
        return adapted


def dbapi() -> OneTripDBAPI | None:
    """The adapted aiosqlite module for ``create_async_engine(module=...)``, or None to use the stock one."""
    connection = getattr(aiosqlite, "Connection", None)
    if connection is None or not hasattr(connection, "_execute") or not hasattr(connection, "_conn"):
        return None
    return OneTripDBAPI(aiosqlite, sqlite3)
