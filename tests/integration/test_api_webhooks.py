"""Webhooks against a receiver written here: signatures, retries, an endpoint down then back, redelivery.

The sender is the real one (the outbox engine, httpx, the lease) with short
retry delays; the receiver is aiohttp on loopback, answering as each test
scripts it.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tui_helpdesk.adapters.webhooks import HttpPoster
from tui_helpdesk.api.app import ApiOptions
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.services.outbox_engine import RetryPolicy
from tui_helpdesk.settings import load

from ..api_support import Receiver, verify
from .test_api_http import new_ticket, open_env

FAST = RetryPolicy(base=0.05, cap=0.3, max_attempts=8, jitter=0.2)


def fast(hd, *, timeout: float = 0.5, pause_after: int = 50):
    hooks = hd.webhooks
    hooks.policy = FAST
    hooks.pause_after = pause_after
    hooks.poster_factory = lambda: HttpPoster(timeout=timeout)
    return hooks


@pytest.fixture
async def receiver():
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def desk(db_url):
    """A desk on SQLite and on PostgreSQL: the webhook outbox is the same on both."""
    hd = await bootstrap(load(database_url=db_url))
    ann = await hd.agents.identify("ann")
    bob = await hd.agents.add(ann, "bob", name="Bob Brown")
    yield hd, ann, bob
    await hd.close()


async def drain_until(hooks, predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await hooks.drain()
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not delivered in time")


async def test_every_event_is_signed_and_internal_notes_never_leave(desk, receiver):
    hd, ann, bob = desk
    hooks = fast(hd)
    sub, secret = await hooks.add(ann, receiver.url, "all")
    t = await hd.tickets.create(subject="Broken printer", body="It jams", requester_email="cy@example.com")
    await hd.tickets.note(t.id, "SECRET-NOTE: the customer owes us money", actor=ann)
    await hd.tickets.assign(t.id, "bob", actor=ann)
    await hd.tickets.reply(t.id, "Try the blue lever.", actor=bob)
    await hd.tickets.add_customer_message(t.id, "That worked")
    await hd.tickets.assign(t.id, None, actor=ann)  # unassigning is an event too
    await hd.tickets.set_status(t.id, "closed", actor=ann)
    wanted = ["ticket.created", "ticket.assignee_changed", "ticket.status_changed", "ticket.agent_reply",
              "ticket.status_changed", "ticket.customer_message", "ticket.assignee_changed", "ticket.status_changed"]
    await drain_until(hooks, lambda: len(receiver.delivered()) >= len(wanted))
    calls = receiver.delivered()
    assert sorted(c.event for c in calls) == sorted(wanted)
    for c in calls:
        assert verify(secret, c.headers, c.body), c.headers
        assert not verify("whsec_wrong", c.headers, c.body)
        assert not verify(secret, c.headers, c.body + b" ")
        doc = c.json()
        assert doc["type"] == c.event and doc["data"]["ticket"]["id"] == t.id and doc["desk"] == "support"
        assert c.delivery.startswith("whd_") and doc["id"].startswith("evt_")
    everything = b"".join(c.body for c in calls)
    assert b"SECRET-NOTE" not in everything and b"owes us" not in everything
    assert len({c.delivery for c in calls}) == len(calls)
    by_type = {}
    for c in calls:
        by_type.setdefault(c.event, []).append(c.json()["data"])
    assignments = {(d["change"]["from"], d["change"]["to"]) for d in by_type["ticket.assignee_changed"]}
    assert assignments == {(None, "bob"), ("bob", None)}
    assert by_type["ticket.agent_reply"][0]["reply"]["body"] == "Try the blue lever."
    assert by_type["ticket.customer_message"][0]["message"]["body"] == "That worked"
    changes = sorted((d["change"]["from"], d["change"]["to"]) for d in by_type["ticket.status_changed"])
    assert changes == sorted([("new", "on_customer"), ("on_customer", "on_you"), ("on_you", "closed")])
    # A replay outside the window fails verification.
    old = receiver.delivered()[0]
    assert not verify(secret, old.headers, old.body, now=int(old.headers["X-Helpdesk-Timestamp"]) + 301)
    assert (await hooks.counts())["pending"] == 0


async def test_retries_on_500_429_and_timeout_then_delivers_once(desk, receiver):
    hd, ann, _ = desk
    hooks = fast(hd, timeout=0.3)
    receiver.script = [500, 429, "timeout", "ok"]
    receiver.retry_after = "1"
    receiver.slow_seconds = 1.0
    await hooks.add(ann, receiver.url, "created")
    await hd.tickets.create(subject="Hi", body="Hello", requester_email="cy@example.com")
    await drain_until(hooks, lambda: receiver.delivered(), timeout=15)
    assert [c.answer for c in receiver.calls] == [500, 429, "timeout", "ok"]
    assert len({c.delivery for c in receiver.calls}) == 1  # one delivery id, retried
    assert len({c.body for c in receiver.calls}) == 1  # the same bytes every time
    t429 = float(receiver.calls[1].headers["X-Helpdesk-Timestamp"])
    t_after = float(receiver.calls[2].headers["X-Helpdesk-Timestamp"])
    assert t_after - t429 >= 1  # Retry-After honoured over the 0.05 s backoff
    [d] = await hooks.deliveries(ann)
    assert (d.status, d.attempts, d.last_status) == ("sent", 4, 200)
    _, attempts = await hooks.delivery(ann, d.uid)
    assert [a.status_code for a in attempts] == [500, 429, None, 200]
    assert "no answer" in attempts[2].error


async def test_receiver_down_then_back_loses_and_duplicates_nothing(desk, receiver):
    hd, ann, _ = desk
    hooks = fast(hd)
    await hooks.add(ann, receiver.url, "created,customer_message")
    await receiver.stop()
    made = [await hd.tickets.create(subject=f"T{i}", body="x", requester_email=f"c{i}@example.com")
            for i in range(5)]
    for _ in range(4):
        await hooks.drain()
        await asyncio.sleep(0.1)
    pending = await hooks.deliveries(ann, status="pending")
    assert len(pending) == 5 and all(d.attempts >= 1 and d.last_status is None for d in pending)
    # The first pass tried all five; after that a dead endpoint gets one probe per pass.
    assert sum(d.attempts for d in pending) <= 5 + 3
    await hd.tickets.add_customer_message(made[0].id, "still there?")
    await receiver.start()  # back on the same port
    await drain_until(hooks, lambda: len(receiver.delivered()) >= 6)
    await asyncio.sleep(0.3)
    await hooks.drain()
    delivered = receiver.delivered()
    assert len(delivered) == 6 and len({c.delivery for c in delivered}) == 6
    assert sorted(c.json()["data"]["ticket"]["id"] for c in delivered if c.event == "ticket.created") == [
        t.id for t in made]
    sub = (await hooks.list(ann))[0]
    assert sub.failures == 0 and sub.state == "active"


async def test_redelivery_sends_the_same_body_under_a_new_delivery_id(desk, receiver):
    hd, ann, _ = desk
    hooks = fast(hd)
    _, secret = await hooks.add(ann, receiver.url, "created")
    await hd.tickets.create(subject="Hi", body="Hello", requester_email="cy@example.com")
    await drain_until(hooks, lambda: len(receiver.delivered()) == 1)
    first = receiver.delivered()[0]
    again = await hooks.redeliver(ann, first.delivery)
    assert again.uid != first.delivery and again.redelivery_of is not None
    await drain_until(hooks, lambda: len(receiver.delivered()) == 2)
    second = receiver.delivered()[1]
    assert second.delivery == again.uid and second.body == first.body and verify(secret, second.headers, second.body)


async def test_a_refusal_fails_a_delivery_and_a_dead_endpoint_is_paused_then_resumed(desk, receiver):
    hd, ann, _ = desk
    hooks = fast(hd, pause_after=3)
    sub, _ = await hooks.add(ann, receiver.url, "created")
    receiver.script = [400]
    await hd.tickets.create(subject="A", body="x", requester_email="a@example.com")
    await drain_until(hooks, lambda: len(receiver.calls) == 1)
    [d] = await hooks.deliveries(ann)
    assert (d.status, d.attempts, d.last_status) == ("failed", 1, 400)  # a 4xx is not retried
    receiver.default = 503
    await hd.tickets.create(subject="B", body="x", requester_email="b@example.com")
    for _ in range(50):
        await hooks.drain()
        if (await hooks.get(ann, sub.id)).state == "paused":
            break
        await asyncio.sleep(0.1)
    paused = await hooks.get(ann, sub.id)
    assert paused.state == "paused" and "failed attempts" in paused.paused_reason and paused.failures >= 3
    calls = len(receiver.calls)
    await asyncio.sleep(0.4)
    await hooks.drain()
    assert len(receiver.calls) == calls  # paused: nothing is tried ...
    assert len(await hooks.deliveries(ann, status="pending")) == 1  # ... and nothing is dropped
    receiver.default = "ok"
    await hooks.set_paused(ann, sub.id, False)
    await drain_until(hooks, lambda: len(receiver.delivered()) == 1)
    assert (await hooks.get(ann, sub.id)).failures == 0


async def test_a_rotated_secret_signs_beside_the_old_one(desk, receiver):
    hd, ann, _ = desk
    hooks = fast(hd)
    sub, old = await hooks.add(ann, receiver.url, "created")
    _, new = await hooks.rotate_secret(ann, sub.id)
    assert new != old
    await hd.tickets.create(subject="Hi", body="Hello", requester_email="cy@example.com")
    await drain_until(hooks, lambda: receiver.delivered())
    call = receiver.delivered()[0]
    assert call.headers["X-Helpdesk-Signature"].count("v1=") == 2
    assert verify(new, call.headers, call.body) and verify(old, call.headers, call.body)


async def test_two_senders_at_once_deliver_each_webhook_once(desk, receiver):
    hd, ann, _ = desk
    other = await bootstrap(load(database_url=hd.settings.database_url))
    try:
        hooks_a, hooks_b = fast(hd), fast(other)
        await hooks_a.add(ann, receiver.url, "created")
        for i in range(20):
            await hd.tickets.create(subject=f"T{i}", body="x", requester_email=f"c{i}@example.com")
        for _ in range(10):
            await asyncio.gather(hooks_a.drain(), hooks_b.drain())
            if len(receiver.delivered()) == 20:
                break
        await asyncio.gather(hooks_a.drain(), hooks_b.drain())
        assert len(receiver.delivered()) == 20 and len({c.delivery for c in receiver.delivered()}) == 20
    finally:
        await other.close()


async def test_a_ticket_created_through_the_api_is_sent_by_the_api_server(sqlite_url, receiver):
    env = await open_env(sqlite_url, ApiOptions(send_webhooks=True, webhook_poll=0.1))
    try:
        _, secret = await env.hd.webhooks.add(env.ann, receiver.url, "created")
        async with env.client(env.write) as c:
            r = await c.post("/api/v1/tickets", json=new_ticket(1))
        deadline = time.monotonic() + 5
        while not receiver.delivered() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        [call] = receiver.delivered()
        assert verify(secret, call.headers, call.body)
        assert call.json()["data"]["ticket"]["id"] == r.json()["data"]["id"]
        assert call.json()["data"]["source"] == "create"
    finally:
        await env.server.astop()
        await env.hd.close()


async def test_a_pass_settles_its_batch_in_a_few_transactions_and_the_running_sender_gives_up_the_lease(desk, receiver):
    from sqlalchemy import event

    from tui_helpdesk.adapters.store import mailstore as ms

    hd, ann, _ = desk
    hooks = fast(hd)
    await hooks.add(ann, receiver.url, "created")
    for i in range(30):
        await hd.tickets.create(subject=f"T{i}", body="x", requester_email=f"d{i}@example.com")
    writes: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(hd.store.engine.sync_engine, "before_cursor_execute", seen)
    try:
        report, holder = await hooks.drain()
    finally:
        event.remove(hd.store.engine.sync_engine, "before_cursor_execute", seen)
    assert holder is None and report.sent == 30 and len(receiver.delivered()) == 30
    # Take the lease, log 30 attempts, mark 30 sent, renew, give up: not a statement per delivery.
    assert len(writes) <= 8, writes
    assert len(await hooks.deliveries(ann, status="sent", limit=100)) == 30

    # The running sender keeps the lease while it sends and gives it up once nothing is due.
    stop = asyncio.Event()
    task = asyncio.create_task(hooks.run(stop, poll=0.1, gap=0.05))
    try:
        await hd.tickets.create(subject="Late", body="x", requester_email="late@example.com")
        deadline = time.monotonic() + 5
        while len(receiver.delivered()) < 31 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(receiver.delivered()) == 31
        held = True
        while held and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            async with hd.store.read() as tx:
                held = bool(await ms.lease_holder(tx, "webhooks"))
        assert not held
    finally:
        stop.set()
        await task
