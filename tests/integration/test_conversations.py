"""Escalation, takeover, following the chat and handing back — against the simulator over HTTP.

Every test runs the real client against the project's chatbot simulator on
loopback and a real database (SQLite file; PostgreSQL where races matter).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from tui_helpdesk.domain.chat.errors import BadResponse, ChatbotError, Unavailable
from tui_helpdesk.adapters.chatbot.sim import GARBAGE_KINDS, Simulator
from tui_helpdesk.adapters.store.chatstore import ChatTx
from tui_helpdesk.domain.errors import UsageError
from tui_helpdesk.domain.model import EntryKind, Status, TicketType
from tui_helpdesk.services.conversations import SUMMARY_UNAVAILABLE

from ..chat_fixtures import FORBIDDEN, PAYLOADS, FailPaths, open_desk


pytestmark = [pytest.mark.desk("chat"), pytest.mark.sim(seed=1, rate_limit=100_000)]


@pytest.fixture
async def agent(desk):
    return await desk.agents.identify()


async def chat_tickets(hd, conversation_id: str) -> list[int]:
    async with hd.store.read() as tx:
        return await tx.tickets_by_conversation(conversation_id)


def escalated(sim: Simulator, text: str = "Hola, mi pedido 31842 no llega", **kw) -> str:
    conv = sim.add_conversation("Lucía Fernández", text=text, language="es", channel="whatsapp", **kw)
    sim.escalate(conv, "Order 31842 delayed; customer asks for a person")
    return conv


# ----------------------------------------------------------------- escalation


async def test_escalation_makes_one_ticket_across_repolls_and_restarts(db_url, sim, clock):
    hd = await open_desk(db_url, sim, clock)
    conv = escalated(sim)
    try:
        report = await hd.conversations.poll_once()
        assert len(report.created) == 1
        [tid] = await chat_tickets(hd, conv)
        ticket = await hd.tickets.get(tid)
        assert ticket.type is TicketType.LIVE_CHAT and ticket.channel == "whatsapp"
        assert ticket.status is Status.NEW and ticket.assignee is None
        assert ticket.language == "es" and ticket.requester.name == "Lucía Fernández"
        assert ticket.subject == "Hola, mi pedido 31842 no llega"
        assert ticket.summary == SUMMARY_UNAVAILABLE and not ticket.ai_replies_allowed
        assert sim.snapshot(conv)["ai_paused"] is True
        entries = await hd.tickets.timeline(tid)
        note = entries[0]
        assert note.kind is EntryKind.NOTE and note.body.startswith(SUMMARY_UNAVAILABLE)
        assert "Hola, mi pedido 31842 no llega" in note.meta["quoted"]  # the transcript, folded under it
        events = [e.body for e in entries if e.kind is EntryKind.EVENT]
        assert any(e.startswith("Escalated by the chatbot: Order 31842") for e in events)
        assert "AI paused on the chat platform" in events

        for _ in range(3):  # re-polls, the pause itself coming back through the feed
            await hd.conversations.poll_once()
        assert await chat_tickets(hd, conv) == [tid]
        async with hd.store.write() as tx:  # the platform forgot the cursor: the whole feed again
            await ChatTx(tx).save_cursor(1, None)
        await hd.conversations.poll_once()
        assert await chat_tickets(hd, conv) == [tid]
    finally:
        await hd.close()

    again = await open_desk(db_url, sim, clock)  # a restart: new store, same database
    try:
        assert (await again.conversations.poll_status()).cursor is not None
        report = await again.conversations.poll_once()
        assert report.created == [] and await chat_tickets(again, conv) == [tid]
        assert await again.conversations.count_waiting() == 0
    finally:
        await again.close()


async def test_two_pollers_racing_make_one_ticket(db_url, sim, clock):
    one = await open_desk(db_url, sim, clock)
    two = await open_desk(db_url, sim, clock)
    try:
        convs = [escalated(sim, f"message {i}") for i in range(3)]
        reports = await asyncio.gather(one.conversations.poll_once(), two.conversations.poll_once())
        for conv in convs:
            assert len(await chat_tickets(one, conv)) == 1
        assert sum(len(r.created) for r in reports) == 3
        # And head to head on one conversation, past the database's own serialising.
        conv = escalated(sim, "head to head")
        d1, d2 = await one.conversations._desk(), await two.conversations._desk()
        results = await asyncio.gather(
            one.conversations.escalation.hand_off(d1, conv, how="escalation"),
            two.conversations.escalation.hand_off(d2, conv, how="escalation"),
        )
        assert results[0][0] == results[1][0] and await chat_tickets(one, conv) == [results[0][0]]
        assert sorted(new for _, new in results) == [False, True]
        async with one.store.read() as tx:
            assert len(await ChatTx(tx).links(d1.id, conv)) == 1
    finally:
        await one.close()
        await two.close()


async def test_escalation_applies_assignment(sqlite_url, sim, clock):
    hd = await open_desk(sqlite_url, sim, clock, assignment="round_robin")
    try:
        me = await hd.agents.identify()
        await hd.agents.add(me, "alice", name="Alice Adams")
        conv = escalated(sim)
        await hd.conversations.poll_once()
        [tid] = await chat_tickets(hd, conv)
        ticket = await hd.tickets.get(tid)
        assert ticket.assignee is not None
        assert any(e.meta.get("event") == "assign" for e in await hd.tickets.timeline(tid))
    finally:
        await hd.close()


async def test_summary_comes_from_the_summariser_in_the_customers_language(desk, sim):
    class Spanish:
        async def stream(self, messages, **_):
            assert "(BCP 47: es)" in messages[0]["content"] and "Customer:" in messages[-1]["content"]
            yield "Subject: Pedido 31842 retrasado\n"
            yield "Summary: La clienta espera el pedido 31842. El seguimiento no funciona. Pide una fecha."

    desk.conversations.assistant = Spanish()
    conv = escalated(sim)
    await desk.conversations.poll_once()
    ticket = await desk.tickets.get((await chat_tickets(desk, conv))[0])
    assert ticket.subject == "Pedido 31842 retrasado" and ticket.summary.startswith("La clienta")

    class Broken:
        async def stream(self, messages, **_):
            raise RuntimeError("model down")
            yield ""

    desk.conversations.assistant = Broken()
    other = escalated(sim, "Otra cosa")
    await desk.conversations.poll_once()
    ticket = await desk.tickets.get((await chat_tickets(desk, other))[0])
    assert ticket.summary == SUMMARY_UNAVAILABLE and ticket.subject == "Otra cosa"


# ------------------------------------------------------------------- takeover


async def test_takeover_assigns_to_me_and_is_idempotent(desk, sim, agent):
    conv = sim.add_conversation("Sam Carter", text="Where is my parcel?", channel="web", email="sam@example.com")
    await desk.conversations.poll_once()
    assert await desk.conversations.count_waiting() == 1
    tid = await desk.conversations.takeover(conv, agent)
    ticket = await desk.tickets.get(tid)
    assert ticket.assignee.id == agent.id and ticket.status is Status.ON_YOU
    assert ticket.requester.email == "sam@example.com"
    snap = sim.snapshot(conv)
    assert snap["state"] == "taken_over" and snap["ai_paused"] is True
    events = [e.body for e in await desk.tickets.timeline(tid) if e.kind is EntryKind.EVENT]
    assert any("Taken over from the chatbot" in e for e in events)
    # Taken over already: the same ticket ("open ticket"), also after polls.
    await desk.conversations.poll_once()
    assert await desk.conversations.takeover(conv, agent) == tid
    assert await chat_tickets(desk, conv) == [tid]
    assert await desk.conversations.count_waiting() == 0
    [line] = [c for c in await desk.conversations.lines() if c.id == conv]
    assert line.handled and line.ticket_id == tid


async def test_takeover_of_an_escalated_conversation_already_ticketed(desk, sim, agent):
    conv = escalated(sim)
    await desk.conversations.poll_once()
    [tid] = await chat_tickets(desk, conv)
    assert await desk.conversations.takeover(conv, agent) == tid


async def test_an_ended_conversation_cannot_be_taken_over(desk, sim, agent):
    conv = sim.add_conversation("Grace Lee", text="thanks, bye")
    sim.end(conv)
    await desk.conversations.poll_once()
    with pytest.raises(UsageError, match="ended"):
        await desk.conversations.takeover(conv, agent)
    unseen = sim.add_conversation("Tom O'Brien", text="hello")
    sim.end(unseen)  # ended before any poll: the platform says so
    with pytest.raises(UsageError, match="ended"):
        await desk.conversations.takeover(unseen, agent)
    assert await chat_tickets(desk, conv) == [] and await chat_tickets(desk, unseen) == []


async def test_takeover_with_the_platform_down_changes_nothing(desk, sim, agent):
    conv = sim.add_conversation("Sam Carter", text="hi")
    await desk.conversations.poll_once()
    sim.down = True
    with pytest.raises(Unavailable):
        await desk.conversations.takeover(conv, agent)
    assert await chat_tickets(desk, conv) == []
    sim.down = False
    assert await desk.conversations.takeover(conv, agent)


# ------------------------------------------------- replies and customer messages


async def test_reply_reaches_the_thread_and_customer_message_moves_status(desk, sim, agent):
    conv = sim.add_conversation("Priya Patel", text="My mug arrived broken")
    await desk.conversations.poll_once()
    tid = await desk.conversations.takeover(conv, agent)
    result = await desk.tickets.reply(tid, "Sorry about that! A new mug is on its way.", actor=agent)
    assert result.ticket.status is Status.ON_CUSTOMER
    d = await desk.conversations._desk()
    assert await desk.chat_outbox.send_due(d.id) == 1
    posted = [m for m in sim.snapshot(conv)["messages"] if m["role"] == "human_agent"]
    assert [(m["text"], m["author_name"]) for m in posted] == [("Sorry about that! A new mug is on its way.", agent.name)]

    sim.customer_says(conv, "Thank you! Can it come before Friday?")
    await desk.conversations.poll_once()
    ticket = await desk.tickets.get(tid)
    assert ticket.status is Status.ON_YOU
    entries = await desk.tickets.timeline(tid)
    messages = [e.body for e in entries if e.kind is EntryKind.MESSAGE]
    assert messages == ["Thank you! Can it come before Friday?"]
    # Our own reply is not copied back as something said on the platform.
    assert not any("wrote on the chat platform" in e.body for e in entries)
    for _ in range(2):
        await desk.conversations.poll_once()
    assert len([e for e in await desk.tickets.timeline(tid) if e.kind is EntryKind.MESSAGE]) == 1


async def test_chat_ending_is_shown_on_the_ticket(desk, sim, agent):
    conv = escalated(sim)
    await desk.conversations.poll_once()
    [tid] = await chat_tickets(desk, conv)
    sim.end(conv)
    await desk.conversations.poll_once()
    assert any(e.body == "Chat: Conversation ended" for e in await desk.tickets.timeline(tid))


# ------------------------------------------------------------------ hand back


async def test_allow_ai_replies_resumes_and_closes(desk, sim, agent):
    conv = escalated(sim)
    await desk.conversations.poll_once()
    [tid] = await chat_tickets(desk, conv)
    ticket = await desk.conversations.allow_ai_replies(tid, agent)
    assert ticket.status is Status.CLOSED and ticket.ai_replies_allowed
    snap = sim.snapshot(conv)
    assert snap["ai_paused"] is False and snap["state"] == "ongoing"
    events = [e.body for e in await desk.tickets.timeline(tid) if e.kind is EntryKind.EVENT]
    assert any(e.startswith("AI resumed by") for e in events)
    await desk.conversations.poll_once()
    assert (await desk.tickets.get(tid)).status is Status.CLOSED  # the bot's chatter stays off the ticket
    assert await desk.conversations.count_waiting() == 1

    # A second escalation later is a new ticket, a follow-up of the first.
    sim.escalate(conv, "Customer asks for a person again")
    await desk.conversations.poll_once()
    tickets = await chat_tickets(desk, conv)
    assert len(tickets) == 2 and (await desk.tickets.get(tickets[1])).follow_up_of == tid


async def test_allow_ai_replies_failing_changes_nothing(desk, sim, agent):
    conv = escalated(sim)
    await desk.conversations.poll_once()
    [tid] = await chat_tickets(desk, conv)
    before = await desk.tickets.get(tid)
    count = len(await desk.tickets.timeline(tid))
    sim.down = True
    with pytest.raises(Unavailable):
        await desk.conversations.allow_ai_replies(tid, agent)
    sim.down = False
    sim.garbage_next(1, "bad_enum")
    with pytest.raises(BadResponse):
        await desk.conversations.allow_ai_replies(tid, agent)
    after = await desk.tickets.get(tid)
    assert (after.status, after.version, after.ai_replies_allowed) == (before.status, before.version, False)
    assert len(await desk.tickets.timeline(tid)) == count
    email = await desk.tickets.create(subject="x", body="y", requester_email="a@example.com")
    with pytest.raises(UsageError, match="not a live chat"):
        await desk.conversations.allow_ai_replies(email.id, agent)


# ------------------------------------------------------------ platform failures


async def test_platform_down_5xx_and_429(desk, sim, clock):
    conv = escalated(sim)
    sim.down = True
    with pytest.raises(Unavailable):
        await desk.conversations.poll_once()
    assert await chat_tickets(desk, conv) == []
    sim.down = False
    sim.fail_next(1, 503)
    report = await desk.conversations.poll_once()  # retried by the client
    assert len(report.created) == 1
    sim.rate_limit_next(1, 0.05)
    await desk.conversations.poll_once()  # waited Retry-After, then retried
    sim.fail_next(5, 500)
    with pytest.raises(Unavailable):
        await desk.conversations.poll_once()
    sim.rate_limit_next(5, 120)  # longer than the client will wait: raised at once, the poller backs off
    with pytest.raises(ChatbotError):
        await desk.conversations.poll_once()
    assert len(await chat_tickets(desk, conv)) == 1


async def test_garbage_never_makes_half_a_ticket(desk, sim, clock):
    convs = []
    # Spoil each step of an escalation in turn: the list, the transcript, the pause.
    for kind in GARBAGE_KINDS:
        for skip in range(3):
            conv = escalated(sim, f"spoiled {kind} {skip}")
            convs.append(conv)
            for _ in range(skip):
                sim.garbage_next(1, None)  # shifted: later requests get spoiled
            sim.garbage_next(1, kind)
            try:
                await desk.conversations.poll_once()
            except BadResponse:
                pass
            sim._garbage.clear()
            # Whatever happened, a ticket is either whole or absent.
            for tid in await chat_tickets(desk, conv):
                entries = await desk.tickets.timeline(tid)
                assert entries[0].kind is EntryKind.NOTE and entries[0].meta.get("quoted")
    clock.advance(hours=1)  # past every backoff
    for _ in range(3):
        await desk.conversations.poll_once()
        clock.advance(hours=1)
    for conv in convs:
        assert len(await chat_tickets(desk, conv)) == 1, conv


async def test_pause_failing_leaves_no_ticket_and_is_retried(sqlite_url, sim, clock):
    hd = await open_desk(sqlite_url, sim, clock, transport=FailPaths("/ai/pause"))
    try:
        conv = escalated(sim)
        report = await hd.conversations.poll_once()
        assert report.created == [] and report.failed
        assert await chat_tickets(hd, conv) == []
        info = await hd.conversations.get(conv)
        assert info.state == "escalated" and not info.handled and "unavailable" in info.last_error
        await hd.conversations.poll_once()  # not due yet: backing off
        assert await chat_tickets(hd, conv) == []
    finally:
        await hd.close()
    hd = await open_desk(sqlite_url, sim, clock)
    try:
        clock.advance(minutes=10)
        await hd.conversations.poll_once()
        assert len(await chat_tickets(hd, conv)) == 1
        assert (await hd.conversations.get(conv)).last_error is None
    finally:
        await hd.close()


# ------------------------------------------------------------- untrusted text


async def test_payloads_in_names_and_messages_end_up_clean(desk, sim, agent):
    convs = []
    for payload in PAYLOADS:
        conv = sim.add_conversation(f"Eve {payload} Mallory", text=f"hello {payload} there", channel=f"web{payload}")
        sim.escalate(conv, f"reason {payload}")
        convs.append(conv)
    await desk.conversations.poll_once()
    for conv, payload in zip(convs, PAYLOADS):
        sim.customer_says(conv, f"again {payload}!")
    await desk.conversations.poll_once()
    for conv in convs:
        [tid] = await chat_tickets(desk, conv)
        ticket = await desk.tickets.get(tid)
        texts = [ticket.subject, ticket.summary or "", ticket.requester.name, ticket.channel]
        for e in await desk.tickets.timeline(tid):
            texts += [e.body, e.author, str(e.meta.get("quoted", ""))]
        for info in await desk.conversations.lines():
            texts += [info.user_name, info.last_text, info.channel] + [x.text for x in info.transcript]
        for text in texts:
            assert not any(ch in text for ch in FORBIDDEN), repr(text)
    [markup] = await chat_tickets(desk, convs[PAYLOADS.index("[@click=app.quit]x[/]")])
    assert (await desk.tickets.get(markup)).requester.name == "Eve [@click=app.quit]x[/] Mallory"


# ------------------------------------------------------ background and lease


async def test_one_poller_across_processes_runs_in_the_background(sqlite_url, sim, clock):
    one = await open_desk(sqlite_url, sim, clock)
    two = await open_desk(sqlite_url, sim, clock)
    try:
        one.conversations.start()
        two.conversations.start()
        conv = escalated(sim)
        for _ in range(200):
            if await chat_tickets(one, conv):
                break
            await asyncio.sleep(0.05)
        assert len(await chat_tickets(one, conv)) == 1
        holders = {one.conversations.holder, two.conversations.holder}
        async with one.store.read() as tx:
            [(holder,)] = (await tx.conn.execute(text("SELECT holder FROM lease WHERE name = 'chatbot:support'"))).all()
        assert holder in holders
        other = (holders - {holder}).pop()
        async with one.store.write() as tx:
            assert await tx.acquire_lease("chatbot:support", other, timedelta(seconds=1)) is False
        listing = [r for r in sim.requests if r[1] == "/api/v2/conversations"]
        assert listing  # somebody polled; the holder of the lease
    finally:
        await one.close()
        await two.close()


# ------------------------------------------------------------------ bot-sim


async def test_bot_sim_in_a_thread_and_its_command_line(monkeypatch, capsys):
    from tui_helpdesk.adapters.chatbot import ChatbotClient
    from tui_helpdesk.cli.botsim import start_in_thread
    from tui_helpdesk.cli.main import main

    running = start_in_thread(seed=4, tick=None, initial_conversations=5)
    try:
        async with ChatbotClient(running.base_url, running.api_key, timeout=2) as client:
            assert (await client.health()).status == "ok"
            convs, _, _ = await client.changed_conversations(None, limit=100)
            assert len(convs) >= 5  # and the ones started while it warmed up
    finally:
        running.stop()
    assert main(["bot-sim", "--port", "70000"]) == 2
    monkeypatch.setenv("HELPDESK_CHATBOT_KEY", "has space")
    assert main(["bot-sim"]) == 2
    assert "HELPDESK_CHATBOT_KEY" in capsys.readouterr().err


def test_demo_chatbot_starts_a_simulator_and_forgets_the_last_one(tmp_path):
    from tui_helpdesk.bootstrap import bootstrap
    from tui_helpdesk.cli.botsim import with_demo_chatbot
    from tui_helpdesk.settings import Settings

    base = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")

    async def poll(settings) -> tuple[int, int]:
        hd = await bootstrap(settings)
        try:
            report = await hd.conversations.poll_once()
            return report.changed, len(await hd.conversations.lines())
        finally:
            await hd.close()

    settings, sim = with_demo_chatbot(base, tick=0)
    try:
        assert settings.desks[0].chatbot.base_url == sim.base_url
        changed, known = asyncio.run(poll(settings))
        assert changed >= 12 and known >= 12
    finally:
        sim.stop()
    settings, sim = with_demo_chatbot(base, tick=0)  # the next demo: a new simulator, same database
    try:
        async def known_before_poll() -> int:
            hd = await bootstrap(settings)
            try:
                return len(await hd.conversations.lines())
            finally:
                await hd.close()
        assert asyncio.run(known_before_poll()) == 0

        async def requesters_with_chat_ids() -> int:
            hd = await bootstrap(settings)
            try:
                async with hd.store.read() as tx:
                    return (await tx.conn.execute(
                        text("SELECT count(*) FROM requester WHERE chatbot_user_id IS NOT NULL"))).scalar()
            finally:
                await hd.close()
        assert asyncio.run(requesters_with_chat_ids()) == 0  # the new simulator's user ids mean other people
    finally:
        sim.stop()
