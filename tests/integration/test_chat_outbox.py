"""Replies on live-chat tickets reach the chat thread through the outbox — over HTTP, to the simulator."""

from __future__ import annotations

import asyncio

import pytest

from tui_helpdesk.adapters.chatbot.sim import Simulator
from tui_helpdesk.adapters.store.chatstore import ChatTx
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import EntryKind, TicketType
from tui_helpdesk.services.chat_outbox import MAX_TEXT, idempotency_key, split_text

from ..chat_fixtures import chat_settings, without_chatbot


pytestmark = [pytest.mark.desk("chat"), pytest.mark.sim(seed=2, rate_limit=100_000)]


@pytest.fixture
async def taken(desk, sim):
    """A conversation taken over by the first agent: (agent, conversation id, ticket id, desk id)."""
    me = await desk.agents.identify()
    conv = sim.add_conversation("Alice Johnson", text="Hi, where is my order?")
    await desk.conversations.poll_once()
    tid = await desk.conversations.takeover(conv, me)
    d = await desk.conversations._desk()
    return me, conv, tid, d.id


def thread(sim: Simulator, conv: str) -> list[dict]:
    return [m for m in sim.snapshot(conv)["messages"] if m["role"] == "human_agent"]


async def outbox(hd, ticket_id: int):
    async with hd.store.read() as tx:
        return await ChatTx(tx).replies(ticket_id=ticket_id)


def events(entries) -> list[str]:
    return [e.body for e in entries if e.kind is EntryKind.EVENT]


async def test_reply_is_queued_with_the_entry_and_posted_once(desk, sim, taken):
    me, conv, tid, desk_id = taken
    result = await desk.tickets.reply(tid, "On its way!", actor=me)
    [row] = await outbox(desk, tid)
    assert (row.entry_id, row.status, row.idempotency_key) == (result.entry.id, "pending", idempotency_key(result.entry.id))
    assert row.agent_name == me.name and row.text == "On its way!"
    assert await desk.chat_outbox.send_due(desk_id) == 1
    assert await desk.chat_outbox.send_due(desk_id) == 0
    assert [m["text"] for m in thread(sim, conv)] == ["On its way!"]
    [row] = await outbox(desk, tid)
    assert row.status == "sent" and row.message_id == thread(sim, conv)[0]["id"]
    assert await desk.chat_outbox.pending(tid) == []


async def test_replies_on_other_tickets_stay_out_of_the_chat(desk):
    me = await desk.agents.identify()
    ticket = await desk.tickets.create(subject="Mail", body="hello", requester_email="a@example.com")
    await desk.tickets.reply(ticket.id, "answer by mail", actor=me)
    assert await outbox(desk, ticket.id) == []


async def test_platform_down_retries_with_backoff_and_says_so(desk, sim, taken, clock):
    me, conv, tid, desk_id = taken
    await desk.tickets.reply(tid, "Checking with the carrier.", actor=me)
    sim.down = True
    assert await desk.chat_outbox.send_due(desk_id) == 0
    [row] = await outbox(desk, tid)
    assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > clock()
    assert any(e.startswith("Reply not delivered to the chat yet") for e in events(await desk.tickets.timeline(tid)))
    sim.down = False
    assert await desk.chat_outbox.send_due(desk_id) == 0  # not due yet
    clock.advance(minutes=1)
    assert await desk.chat_outbox.send_due(desk_id) == 1
    assert [m["text"] for m in thread(sim, conv)] == ["Checking with the carrier."]
    assert "Reply delivered to the chat after 2 attempts" in events(await desk.tickets.timeline(tid))


async def test_a_lost_answer_is_resent_without_a_duplicate(desk, sim, taken, clock):
    me, conv, tid, desk_id = taken
    await desk.tickets.reply(tid, "Refund approved.", actor=me)
    sim.garbage_next(1, "truncated")  # posted, but the answer is spoiled
    assert await desk.chat_outbox.send_due(desk_id) == 0
    clock.advance(minutes=1)
    sim.fail_next(1, 503)  # and a 5xx on the retry, retried by the client
    assert await desk.chat_outbox.send_due(desk_id) == 1
    assert [m["text"] for m in thread(sim, conv)] == ["Refund approved."]


async def test_ended_chat_fails_the_reply_visibly(desk, sim, taken):
    me, conv, tid, desk_id = taken
    sim.end(conv)
    await desk.tickets.reply(tid, "Are you still there?", actor=me)
    await desk.chat_outbox.send_due(desk_id)
    [row] = await outbox(desk, tid)
    assert row.status == "failed"
    assert "Reply not delivered to the chat: the customer's chat has ended" in events(await desk.tickets.timeline(tid))
    assert await desk.chat_outbox.pending(tid) == [row]


async def test_long_replies_go_in_parts(desk, sim, taken):
    me, conv, tid, desk_id = taken
    body = ("line of text\n" * 2500).strip()
    await desk.tickets.reply(tid, body, actor=me)
    rows = await outbox(desk, tid)
    assert len(rows) == 2 and all(len(r.text) <= MAX_TEXT for r in rows)
    assert await desk.chat_outbox.send_due(desk_id) == 2
    assert "".join(m["text"] + "\n" for m in thread(sim, conv)).strip() == body
    assert split_text("short") == ["short"]


async def test_background_worker_sends_promptly(desk, sim, taken):
    me, conv, tid, desk_id = taken
    desk.conversations.start()
    await desk.tickets.reply(tid, "Sent by the worker.", actor=me)
    for _ in range(100):
        if thread(sim, conv):
            break
        await asyncio.sleep(0.05)
    assert [m["text"] for m in thread(sim, conv)] == ["Sent by the worker."]


async def test_desk_without_a_chatbot_marks_chat_replies_failed(sqlite_url, sim, clock):
    hd = await bootstrap(without_chatbot(chat_settings(sqlite_url, sim.base_url)), clock=clock)
    try:
        me = await hd.agents.identify()
        ticket = await hd.tickets.create(subject="Chat", body="hi", type=TicketType.LIVE_CHAT, channel="web",
                                         chatbot_user_id="u1", conversation_id="conv_x")
        await hd.tickets.reply(ticket.id, "hello", actor=me)
        [row] = await outbox(hd, ticket.id)
        assert row.status == "failed"
        assert any("no chatbot platform configured" in e for e in events(await hd.tickets.timeline(ticket.id)))
    finally:
        await hd.close()
