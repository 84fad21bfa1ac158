"""On hold until: the ticket comes back to On you when its time comes, in whichever process looks first."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.errors import UsageError
from tui_helpdesk.domain.model import Status
from tui_helpdesk.settings import load
from tests.clock import Clock


@pytest.fixture
async def two(db_url):
    """Two processes' worth of Helpdesk on one database, sharing a clock."""
    clock = Clock()
    one = await bootstrap(load(database_url=db_url), clock=clock, upgrade=True)
    other = await bootstrap(load(database_url=db_url), clock=clock)
    yield one, other, clock
    await other.close()
    await one.close()


async def test_a_hold_with_a_time_comes_back_once_with_an_event(two):
    one, other, clock = two
    ann = await one.agents.identify("ann")
    ticket = await one.tickets.create(subject="Courier", body="Where is it?", requester_email="c@example.com")
    held = await one.tickets.set_status(ticket.id, "on_hold", actor=ann, reason="waiting for the courier",
                                        hold_until=clock.now + timedelta(hours=2))
    assert held.status is Status.ON_HOLD and held.hold_until == clock.now + timedelta(hours=2)
    event = (await one.tickets.timeline(ticket.id))[-1]
    assert "waiting for the courier" in event.body and "until" in event.body and event.meta["until"]

    assert await other.tickets.wake_held() == 0  # not yet
    clock.advance(hours=2)
    # Both processes look at the same moment: the ticket comes back once.
    woke = await asyncio.gather(one.tickets.wake_held(), other.tickets.wake_held())
    assert sorted(woke) == [0, 1]
    back = await other.tickets.get(ticket.id)
    assert back.status is Status.ON_YOU and back.hold_until is None
    events = [e for e in await other.tickets.timeline(ticket.id) if e.meta and e.meta.get("event") == "status"]
    assert events[-1].meta["from"] == "on_hold" and events[-1].meta["to"] == "on_you"
    assert "automatically" in events[-1].body


async def test_the_time_goes_with_the_hold(two):
    one, _, clock = two
    ann = await one.agents.identify("ann")
    ticket = await one.tickets.create(subject="Parts", body="?", requester_email="p@example.com")
    with pytest.raises(UsageError):
        await one.tickets.set_status(ticket.id, "on_customer", actor=ann, hold_until=clock.now + timedelta(hours=1))
    with pytest.raises(UsageError):
        await one.tickets.set_status(ticket.id, "on_hold", actor=ann, hold_until=clock.now - timedelta(hours=1))
    await one.tickets.set_status(ticket.id, "on_hold", actor=ann, hold_until=clock.now + timedelta(hours=1))
    moved = await one.tickets.set_status(ticket.id, "on_hold", actor=ann, hold_until=clock.now + timedelta(days=1))
    assert moved.hold_until == clock.now + timedelta(days=1)
    assert (await one.tickets.timeline(ticket.id))[-1].meta["event"] == "hold"
    # Taken off hold by hand: the time is gone, and nothing wakes it later.
    off = await one.tickets.set_status(ticket.id, "on_customer", actor=ann)
    assert off.hold_until is None
    clock.advance(days=2)
    assert await one.tickets.wake_held() == 0
    assert (await one.tickets.get(ticket.id)).status is Status.ON_CUSTOMER
