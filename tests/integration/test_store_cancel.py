"""A cancelled caller never leaves a statement half-run (the app cancels work constantly)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import text

from tui_helpdesk.adapters.store.steady import finish

SLOW_SQL = {
    # ~0.2-0.5 s of work on SQLite; a plain sleep on PostgreSQL.
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(0.3)",
}


def _terminations() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if "terminate" in repr(t.get_coro())]


@pytest.mark.parametrize("where", ["read", "write"])
async def test_cancelled_statement_finishes_and_keeps_its_connection(hd, where):
    started = asyncio.Event()

    async def slow() -> None:
        cm = hd.store.read() if where == "read" else hd.store.write()
        async with cm as tx:
            started.set()
            await tx.conn.execute(text(SLOW_SQL[hd.store.dialect]))

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The connection went back to the pool intact: nothing was invalidated or left closing.
    assert _terminations() == []
    assert hd.store.engine.pool.checkedout() == hd.store.held_connections()
    async with hd.store.read() as tx:
        assert (await tx.conn.execute(text("SELECT 1"))).scalar() == 1
    # A cancelled write committed nothing half-way: the store still takes writes.
    async with hd.store.write() as tx:
        await tx.record_change(None, "probe", None)


async def test_finish_passes_the_cancellation_on_after_the_work():
    done = []

    async def work() -> str:
        await asyncio.sleep(0.05)
        done.append(True)
        return "ok"

    task = asyncio.create_task(finish(work()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done == [True]
    assert await finish(work()) == "ok"


def test_the_app_quits_promptly_while_queries_are_in_flight(tmp_path):
    """Open the app on a database and quit at once, many times: every run must end."""
    script = textwrap.dedent(f"""
        import asyncio, os
        from tui_helpdesk.settings import Settings
        from tui_helpdesk.ui.app import HelpdeskApp

        async def quit_soon(pilot):
            await asyncio.sleep(delay)
            pilot.app.exit(0)

        for n in range(12):
            delay = (n % 6) * 0.01
            app = HelpdeskApp(Settings(database_url="sqlite+aiosqlite:///{tmp_path}/q.db"), watch=True)
            app.run(headless=True, auto_pilot=quit_soon, size=(100, 30))
        print("ALL QUIT", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=90)
    assert "ALL QUIT" in done.stdout, done.stderr[-3000:]
