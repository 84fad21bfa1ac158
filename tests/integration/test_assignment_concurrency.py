"""Assignment that runs itself: two processes at once stay balanced and under caps; absent assignees; the queue."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path


from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.desk_config import desk_doc
from tui_helpdesk.settings import load

ROOT = Path(__file__).resolve().parents[2]
PER_PROCESS = 15

WORKER = textwrap.dedent("""
    import asyncio, sys, time
    from pathlib import Path
    from tui_helpdesk.bootstrap import bootstrap
    from tui_helpdesk.settings import load

    async def main(url, tag, go, count):
        hd = await bootstrap(load(None, database_url=url))
        try:
            while not Path(go).exists():
                await asyncio.sleep(0.01)
            for i in range(count):
                await hd.tickets.create(subject=f"{tag} {i}", body="x", requester_email=f"{tag}{i}@example.com")
        finally:
            await hd.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
""")


async def _prepare(url: str, caps: dict[str, int]) -> None:
    hd = await bootstrap(load(None, database_url=url))
    try:
        me = await hd.agents.identify("boss")
        await hd.agents.set(me, "boss", availability="away")
        for login, cap in caps.items():
            await hd.agents.add(me, login, name=login.title())
            await hd.desk_settings.set_schedule(me, login, max_open=cap)
        state = await hd.desk_settings.get()
        await hd.desk_settings.save(me, {**desk_doc(state.config), "assignment": {"method": "balanced"}},
                                    expected_version=state.version)
    finally:
        await hd.close()


async def _counts(url: str) -> tuple[Counter, int]:
    hd = await bootstrap(load(None, database_url=url))
    try:
        async with hd.store.read() as tx:
            counts = await tx.open_ticket_counts()
            agents = {a.id: a.login for a in await tx.list_agents()}
            unassigned = len(await tx.waiting_unassigned(1, ["new", "on_you"], 1000))
        return Counter({agents[k]: v for k, v in counts.items()}), unassigned
    finally:
        await hd.close()


async def _race(url: str, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), url, tag, str(go), str(PER_PROCESS)], env=env,
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    await asyncio.sleep(2.0)  # both started and bootstrapped
    go.touch()
    for proc in procs:
        assert await asyncio.to_thread(proc.wait, 120) == 0, proc.stderr.read()


async def test_two_processes_creating_tickets_at_once_stay_balanced(db_url, tmp_path):
    await _prepare(db_url, {"ann": 0, "bob": 0, "cy": 0})
    await _race(db_url, tmp_path)
    counts, unassigned = await _counts(db_url)
    assert sum(counts.values()) == 2 * PER_PROCESS and unassigned == 0
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    assert set(counts) == {"ann", "bob", "cy"}


async def test_two_processes_never_exceed_a_cap(db_url, tmp_path):
    await _prepare(db_url, {"ann": 4, "bob": 6})
    await _race(db_url, tmp_path)
    counts, unassigned = await _counts(db_url)
    assert counts == Counter({"ann": 4, "bob": 6}), counts
    assert unassigned == 2 * PER_PROCESS - 10


async def test_absent_assignee_goes_back_through_assignment_and_the_queue_hands_out_oldest_first(sqlite_url, clock):
    hd = await bootstrap(load(None, database_url=sqlite_url), clock=clock)
    try:
        me = await hd.agents.identify("boss")
        await hd.agents.set(me, "boss", availability="away")
        ann = await hd.agents.add(me, "ann", name="Ann")
        bob = await hd.agents.add(me, "bob", name="Bob")
        await hd.agents.set(me, "bob", availability="away")
        state = await hd.desk_settings.get()
        await hd.desk_settings.save(me, {**desk_doc(state.config), "assignment": {"method": "balanced"}},
                                    expected_version=state.version)
        t1 = await hd.tickets.create(subject="one", body="x", requester_email="c1@example.com")
        assert (await hd.tickets.get(t1.id)).assignee.login == "ann"
        # Ann goes away, Bob comes back; the customer writes again: the ticket moves to Bob, saying why.
        await hd.agents.set(me, "ann", availability="away")
        await hd.agents.set(me, "bob", availability="available")
        await hd.tickets.add_customer_message(t1.id, "any news?")
        ticket = await hd.tickets.get(t1.id)
        assert ticket.assignee.login == "bob"
        last_event = [e.body for e in await hd.tickets.timeline(t1.id) if e.kind.value == "event"][-1]
        assert "Ann is away" in last_event and "balanced" in last_event
        # Nobody available: new tickets wait; when Ann comes back the oldest go to her first.
        await hd.agents.set(me, "bob", availability="away")
        waiting = []
        for i in range(3):
            clock.advance(minutes=1)
            waiting.append((await hd.tickets.create(subject=f"w{i}", body="x", requester_email=f"w{i}@example.com")).id)
        assert [(await hd.tickets.get(t)).assignee for t in waiting] == [None, None, None]
        await hd.agents.set(me, "ann", availability="available")
        await hd.desk_settings.set_schedule(me, "ann", max_open=2)
        assert await hd.assignment.hand_out() == 2
        assert [(await hd.tickets.get(t)).assignee is not None for t in waiting] == [True, True, False]
        explanation = await hd.assignment.explain(waiting[2])
        why = {login: reason for login, _, reason in explanation.agents}
        assert why["ann"] == "at cap 2/2" and why["bob"] == "away" and why["boss"] == "away"
        assert "left unassigned" in explanation.decision.reason
    finally:
        await hd.close()


HAND_OUT = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from tui_helpdesk.bootstrap import bootstrap
    from tui_helpdesk.settings import load

    async def main(url, go):
        hd = await bootstrap(load(None, database_url=url))
        try:
            while not Path(go).exists():
                await asyncio.sleep(0.01)
            for _ in range(3):
                await hd.assignment.hand_out()
        finally:
            await hd.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


async def test_two_processes_handing_out_the_queue_hand_out_the_oldest_and_respect_caps(db_url, tmp_path):
    hd = await bootstrap(load(None, database_url=db_url))
    try:
        me = await hd.agents.identify("boss")
        await hd.agents.set(me, "boss", availability="away")
        for login in ("ann", "bob"):
            await hd.agents.add(me, login, name=login.title())
            await hd.desk_settings.set_schedule(me, login, max_open=5)
        ids = [(await hd.tickets.create(subject=f"t{i}", body="x", requester_email=f"q{i}@example.com")).id
               for i in range(16)]  # a manual desk: they wait
        state = await hd.desk_settings.get()
        await hd.desk_settings.save(me, {**desk_doc(state.config), "assignment": {"method": "balanced"}},
                                    expected_version=state.version)
    finally:
        await hd.close()
    script = tmp_path / "hand_out.py"
    script.write_text(HAND_OUT)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), db_url, str(go)], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    await asyncio.sleep(2.0)
    go.touch()
    for proc in procs:
        assert await asyncio.to_thread(proc.wait, 120) == 0, proc.stderr.read()
    counts, unassigned = await _counts(db_url)
    assert counts == Counter({"ann": 5, "bob": 5}) and unassigned == 6
    hd = await bootstrap(load(None, database_url=db_url))
    try:
        assigned = [t for t in ids if (await hd.tickets.get(t)).assignee is not None]
        assert assigned == ids[:10]  # the oldest first
    finally:
        await hd.close()
