"""Quick transactions: on SQLite their statements run on the event loop's thread, and never wait there.

A ticket read or created through the API is a handful of statements on indexed
rows; each trip to the driver's thread costs more than the statement. A quick
transaction runs them where it is — but a write lock held by another process
must still be waited for off the loop, or every other request would stall.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from tui_helpdesk.adapters.store import sqlite_driver
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import TicketType
from tui_helpdesk.settings import load


@pytest.fixture
async def shd(sqlite_url, clock):
    hd = await bootstrap(load(None, database_url=sqlite_url), clock=clock)
    yield hd
    await hd.close()


def _trips(monkeypatch) -> list[str]:
    """Every function sent to a driver thread, by name."""
    import aiosqlite

    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


async def _create(hd, n: int = 0):
    return await hd.tickets.create(subject=f"Order {n}", body="Where is it?", requester_email=f"c{n}@example.com",
                                   channel="shop", type=TicketType.API, tags=["vip"])


async def test_a_quick_transaction_makes_no_trip_to_the_driver_thread(shd, monkeypatch):
    ticket = await _create(shd)
    await shd.tickets.get(ticket.id)  # the store's connection for quick reads is open from here on
    await _create(shd, 9)  # ... and a pooled one for writes (opening a connection is trips of its own)
    sent = _trips(monkeypatch)
    loop_thread = threading.get_ident()
    async with shd.store.read(quick=True) as tx:
        raw = await tx.conn.get_raw_connection()
        seen: list[int] = []
        raw.driver_connection._conn.create_function("whose_thread", 0, lambda: seen.append(threading.get_ident()) or 1)
        assert (await tx.conn.execute(text("SELECT whose_thread()"))).scalar() == 1
        read = await tx.get_ticket(ticket.id)
    assert seen == [loop_thread]
    assert read.tags == ("vip",) and read.subject == "Order 0"
    made = await _create(shd, 1)  # TicketService.create is a quick write
    assert (await shd.tickets.get(made.id)).requester.email == "c1@example.com"
    assert sent == []
    async with shd.store.read() as tx:  # and an ordinary one still goes to the driver's thread
        await tx.get_ticket(ticket.id)
    assert sent


async def test_a_quick_write_waits_for_another_process_lock_off_the_loop(shd, sqlite_url):
    await _create(shd)
    path = sqlite_url.split("///", 1)[1]
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    creating = asyncio.create_task(_create(shd, 2))
    await asyncio.sleep(0.4)
    assert not creating.done()  # waiting for the lock ...
    assert ticks >= 20  # ... while the loop goes on
    other.execute("INSERT INTO change (ticket_id, kind, at) VALUES (NULL, 'probe', '2026-01-01 00:00:00')")
    other.execute("COMMIT")
    made = await asyncio.wait_for(creating, 10)
    stop.set()
    await ticking
    other.close()
    assert (await shd.tickets.get(made.id)).subject == "Order 2"
    # The connection went back with its usual busy timeout: an ordinary write waits as before.
    async with shd.store.read() as tx:
        assert (await tx.conn.execute(text("PRAGMA busy_timeout"))).scalar() == 30_000


async def test_a_failed_quick_write_rolls_back_and_leaves_nothing(shd):
    await _create(shd)
    with pytest.raises(RuntimeError):
        async with shd.store.write(quick=True) as tx:
            await tx.record_change(None, "half", None)
            raise RuntimeError("boom")
    async with shd.store.read(quick=True) as tx:
        kinds = [r[0] for r in await tx.conn.execute(text("SELECT kind FROM change"))]
    assert "half" not in kinds


async def test_busy_is_told_apart_from_other_errors():
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY | (1 << 8)  # SQLITE_BUSY_RECOVERY
    assert sqlite_driver._busy(locked)
    stale = sqlite3.OperationalError("database is locked")
    stale.sqlite_errorcode = sqlite_driver.SQLITE_BUSY_SNAPSHOT  # waiting would not help
    assert not sqlite_driver._busy(stale)
    other = sqlite3.OperationalError("no such table: x")
    other.sqlite_errorcode = sqlite3.SQLITE_ERROR
    assert not sqlite_driver._busy(other)


async def test_quick_reads_stay_quick_under_concurrency(shd):
    """Sixteen tasks reading and two writing at once, as an API server does: every answer right."""
    made = [await _create(shd, n) for n in range(8)]

    async def reader(n: int) -> None:
        for i in range(20):
            t = made[(n + i) % len(made)]
            got = await shd.api_access.public_timeline(t.desk_id, t.id)
            assert got[0].id == t.id and got[1][0].body == "Where is it?"

    async def writer(n: int) -> None:
        for i in range(10):
            await _create(shd, 100 + n * 10 + i)

    started = time.monotonic()
    await asyncio.gather(*(reader(n) for n in range(16)), writer(0), writer(1))
    assert time.monotonic() - started < 30
    async with shd.store.read() as tx:
        assert (await tx.conn.execute(text("SELECT count(*) FROM ticket"))).scalar() == 28


async def test_quick_reads_keep_one_connection_and_give_it_back_on_close(sqlite_url, clock):
    hd = await bootstrap(load(None, database_url=sqlite_url), clock=clock)
    try:
        made = await _create(hd)
        await hd.tickets.get(made.id)
        assert hd.store.held_connections() == 1  # the one for quick reads
        with pytest.raises(RuntimeError):  # a caller's error rolls back; the connection stays good
            async with hd.store.read(quick=True) as tx:
                await tx.get_ticket(made.id)
                raise RuntimeError("boom")
        assert (await hd.tickets.get(made.id)).id == made.id
        # A quick read while another one is inside its transaction takes a pooled connection.
        async with hd.store.read(quick=True) as outer:
            async with hd.store.read(quick=True) as inner:
                assert inner.conn._conn is not outer.conn._conn
                assert (await inner.get_ticket(made.id)).id == made.id
        assert hd.store.engine.pool.checkedout() == 1
    finally:
        store = hd.store
        await hd.close()
    assert store.held_connections() == 0


async def test_a_loop_of_quick_transactions_lets_the_other_tasks_run(shd):
    """Quick statements never suspend; each quick transaction still gives the loop a turn."""
    made = await _create(shd)
    turns = 0
    done = False

    async def other() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    for _ in range(100):
        await shd.tickets.get(made.id)
    for n in range(20):
        await _create(shd, 200 + n)
    done = True
    await task
    assert turns >= 120
