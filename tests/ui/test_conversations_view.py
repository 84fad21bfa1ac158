"""The Conversations view under Pilot, fed by the simulator over HTTP through the real poller.

Hostile customer names and messages are shown literally (cleaned ``Text``,
never markup); ``t`` takes a conversation over and lands on its ticket; a
taken-over conversation opens its ticket; an ended one says it cannot be
taken over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from tests.chat_fixtures import FORBIDDEN, KEY, PAYLOADS, open_desk
from tui_helpdesk.adapters.chatbot.sim import Simulator
from tui_helpdesk.domain.model import Status
from tui_helpdesk.ui.conversations import ConversationsView
from tui_helpdesk.ui.handback import allow_ai_replies


pytestmark = pytest.mark.sim(seed=3, rate_limit=100_000)


@pytest.fixture
async def hd(tmp_path, sim, clock):
    desk = await open_desk(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", sim, clock)
    yield desk
    await desk.close()


class Harness(App):
    def __init__(self, hd, me) -> None:
        super().__init__()
        self.hd, self.me = hd, me
        self.notes: list[str] = []

    def compose(self) -> ComposeResult:
        yield ConversationsView(self.hd, self.me, refresh_seconds=0.1, id="conversations")

    def on_mount(self) -> None:
        self.query_one(ConversationsView).focus_table()

    def notify(self, message, **kwargs) -> None:  # keep what the agent was told, for the test
        self.notes.append(message.plain if isinstance(message, Text) else str(message))
        super().notify(message, **kwargs)


async def until(pilot, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("timed out waiting for the screen")
        await pilot.pause(0.05)


def rows(view: ConversationsView) -> dict[str, dict[str, Text]]:
    """Each row's cells by column key, as the table holds them."""
    table = view.table
    return {str(r.value): {str(c.value): table.get_cell(r, c) for c in table.columns} for r in table.rows}


async def test_payloads_are_shown_literally_and_takeover_opens_the_ticket(hd, sim):
    me = await hd.agents.identify()
    convs = [sim.add_conversation(f"Eve {p} Mallory", text=f"hi {p} there", channel=f"web{p}") for p in PAYLOADS]
    sim.escalate(convs[0], "needs a person \x1b]0;PWNED\x1b\\")
    ended = sim.add_conversation("Grace Lee", text="bye")
    sim.end(ended)
    await hd.conversations.poll_once()  # escalates convs[0]
    app = Harness(hd, me)
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.query_one(ConversationsView)
        await until(pilot, lambda: len(view.items) == len(convs) + 1)
        shown = rows(view)
        for cells in shown.values():
            for cell in cells.values():
                assert isinstance(cell, Text)
                assert not any(ch in cell.plain for ch in FORBIDDEN), repr(cell.plain)
        customers = " ".join(cells["customer"].plain for cells in shown.values())
        messages = " ".join(cells["last"].plain for cells in shown.values())
        assert "Eve [@click=app.quit]x[/] Mallory" in customers and "Eve [/] Mallory" in customers
        assert "hi [@click=app.quit]x[/] there" in messages and "invoicefdp.exe" in messages
        assert "ok FAKE" in messages  # the carriage return cannot overwrite the line
        preview = str(view.query_one("#conv-preview").render())
        assert not any(ch in preview for ch in FORBIDDEN)

        # Escalated, already a ticket: t opens it.
        [esc] = [i for i in view.items if i.id == convs[0]]
        assert esc.handled and esc.ticket_id
        view.table.move_cursor(row=view.items.index(esc))
        await pilot.press("t")
        await until(pilot, lambda: type(app.screen).__name__ == "TicketScreen")
        assert app.screen.ticket_id == esc.ticket_id
        app.pop_screen()

        # Ended: a clear notice, no ticket.
        await until(pilot, lambda: type(app.screen).__name__ != "TicketScreen")
        view.table.move_cursor(row=[i.id for i in view.items].index(ended))
        await pilot.press("t")
        await until(pilot, lambda: any("ended" in n for n in app.notes))
        async with hd.store.read() as tx:
            assert await tx.tickets_by_conversation(ended) == []

        # Ongoing: t takes it over and lands on the new ticket, mine, On you.
        target = convs[5]  # the markup payload
        view.table.move_cursor(row=[i.id for i in view.items].index(target))
        await pilot.press("t")
        await until(pilot, lambda: type(app.screen).__name__ == "TicketScreen", timeout=10)
        ticket = await hd.tickets.get(app.screen.ticket_id)
        assert ticket.conversation_id == target and ticket.assignee.id == me.id
        assert ticket.status is Status.ON_YOU
        assert sim.snapshot(target)["state"] == "taken_over"
        app.pop_screen()

        # Handing back from the ticket: resumed on the platform, closed here.
        assert await allow_ai_replies(app, hd, me, ticket.id)
        assert (await hd.tickets.get(ticket.id)).status is Status.CLOSED
        sim.down = True
        other = esc.ticket_id
        assert not await allow_ai_replies(app, hd, me, other)
        assert any(n.startswith("Nothing changed") for n in app.notes)
        assert (await hd.tickets.get(other)).status is Status.NEW


async def test_platform_trouble_is_shown_not_raised(hd, sim):
    me = await hd.agents.identify()
    sim.add_conversation("Sam Carter", text="hello")
    await hd.conversations.poll_once()
    conv = sim.add_conversation("Tom O'Brien", text="anyone?")
    app = Harness(hd, me)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.query_one(ConversationsView)
        await until(pilot, lambda: len(view.items) == 1)
        hd.conversations.start()  # the background poller, with the platform down
        sim.down = True
        status = view.query_one("#conv-status")
        await until(pilot, lambda: "chat platform" in str(status.render()), timeout=10)
        sim.down = False
        await until(pilot, lambda: any(i.id == conv for i in view.items), timeout=10)
        # A takeover while the platform is down says so and changes nothing.
        sim.down = True
        view.table.move_cursor(row=[i.id for i in view.items].index(conv))
        await pilot.press("t")
        await until(pilot, lambda: any("Take over failed" in n or "unavailable" in n for n in app.notes), timeout=10)
        assert type(app.screen).__name__ != "TicketScreen"
        async with hd.store.read() as tx:
            assert await tx.tickets_by_conversation(conv) == []
        sim.down = False


async def test_the_inbox_shows_the_view_and_runs_the_poller(hd, sim):
    from tui_helpdesk.ui.app import HelpdeskApp
    from tui_helpdesk.ui.inbox import InboxScreen

    me = await hd.agents.identify()
    conv = sim.add_conversation("Beatriz Costa", text="Olá, o Pix não foi confirmado", language="pt")
    app = HelpdeskApp(hd=hd, me=me, clock=hd.store.clock, poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen.loaded)
        inbox = app.screen
        await until(pilot, lambda: (inbox.rail.item("conversations") or None) is not None
                    and inbox.rail.item("conversations").count == 1, timeout=10)
        inbox.select_view("conversations")
        view = inbox.query_one(ConversationsView)
        await until(pilot, lambda: view.display and not inbox.table.display and len(view.items) == 1)
        view.focus_table()
        await pilot.press("t")
        await until(pilot, lambda: type(app.screen).__name__ == "TicketScreen", timeout=10)
        ticket = await hd.tickets.get(app.screen.ticket_id)
        assert ticket.conversation_id == conv and ticket.assignee.id == me.id
        app.pop_screen()
        await until(pilot, lambda: inbox.rail.item("conversations").count == 0, timeout=10)
        inbox.select_view("inbox")
        await until(pilot, lambda: inbox.table.display and not view.display)


async def test_highlighting_reads_the_whole_transcript(hd, sim):
    me = await hd.agents.identify()
    conv = sim.add_conversation("Jürgen Müller", text="Guten Tag, meine Rechnung ist falsch.", language="de")
    sim.customer_says(conv, "Die Rechnungsnummer ist 4711.")
    other = sim.add_conversation("Sam Carter", text="hello")
    await hd.conversations.poll_once()  # the feed brings only the newest line of each
    [info] = [i for i in await hd.conversations.lines() if i.id == conv]
    assert [x.text for x in info.transcript] == ["Die Rechnungsnummer ist 4711."]
    app = Harness(hd, me)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.query_one(ConversationsView)
        await until(pilot, lambda: len(view.items) == 2)
        view.table.move_cursor(row=[i.id for i in view.items].index(other))
        view.table.move_cursor(row=[i.id for i in view.items].index(conv))
        preview = view.query_one("#conv-preview")
        await until(pilot, lambda: "meine Rechnung ist falsch" in str(preview.render()))


async def test_with_two_desks_a_desk_column_says_whose_customer_it_is(tmp_path, clock):
    from dataclasses import replace

    from tests.chat_fixtures import chat_settings, fast_client
    from tui_helpdesk.bootstrap import bootstrap

    sims = [Simulator(KEY, seed=n, rate_limit=100_000) for n in (3, 4)]
    for simulator in sims:
        await simulator.start("127.0.0.1", 0)
    hd = None
    try:
        settings = chat_settings(f"sqlite+aiosqlite:///{tmp_path / 'two.db'}", sims[0].base_url)
        support = settings.desks[0]
        sales = replace(support, slug="sales", name="Sales",
                        chatbot=replace(support.chatbot, base_url=sims[1].base_url))
        hd = await bootstrap(replace(settings, desks=(support, sales)), clock=clock)
        hd.conversations.chat_platform_factory = fast_client()
        sims[0].add_conversation("Ann Support", text="my order")
        sims[1].add_conversation("Bob Sales", text="a quote, please")
        await hd.conversations.poll_once("support")
        await hd.conversations.poll_once("sales")
        me = await hd.agents.identify()
        app = Harness(hd, me)
        async with app.run_test(size=(140, 40)) as pilot:
            view = app.query_one(ConversationsView)
            await until(pilot, lambda: len(rows(view)) == 2)
            desk_of = {cells["customer"].plain.split()[0]: cells["desk"].plain for cells in rows(view).values()}
            assert desk_of == {"Ann": support.name, "Bob": "Sales"}
    finally:
        if hd is not None:
            await hd.close()
        for simulator in sims:
            await simulator.stop()


async def test_with_one_desk_there_is_no_desk_column(hd, sim):
    me = await hd.agents.identify()
    sim.add_conversation("Ann Support", text="my order")
    await hd.conversations.poll_once()
    app = Harness(hd, me)
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.query_one(ConversationsView)
        await until(pilot, lambda: len(rows(view)) == 1)
        assert "desk" not in next(iter(rows(view).values()))


async def test_ticket_keys_in_the_conversations_view_act_on_the_conversations_ticket(hd, sim):
    """s, a, n, c … work on a taken-over row's ticket; on a waiting row they say why not;
    the table's own keys (filter, sort, columns, select) are neither shown nor run there."""
    from tui_helpdesk.ui.app import HelpdeskApp
    from tui_helpdesk.ui.dialogs import StatusPicker
    from tui_helpdesk.ui.inbox import InboxScreen

    me = await hd.agents.identify()
    sim.add_conversation("Beatriz Costa", text="Olá, o Pix não foi confirmado", language="pt")
    app = HelpdeskApp(hd=hd, me=me, clock=hd.store.clock, poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen.loaded)
        inbox = app.screen
        await until(pilot, lambda: inbox.rail.item("conversations") is not None
                    and inbox.rail.item("conversations").count == 1, timeout=10)
        inbox.select_view("conversations")
        view = inbox.query_one(ConversationsView)
        await until(pilot, lambda: view.display and len(view.items) == 1)
        view.focus_table()
        shown = {b.binding.action for b in inbox.active_bindings.values() if inbox.check_action(b.binding.action, ())}
        assert not {"filter", "sort_next", "columns", "toggle_select", "select_all"} & shown
        await pilot.press("slash")
        await pilot.pause(0.2)
        assert inbox.filter_query == "" and app.screen is inbox
        status = inbox.query_one("#conv-status")
        assert "1 waiting for a person" in str(status.render())

        notes: list[str] = []
        original = app.notify
        app.notify = lambda message, **kw: (notes.append(str(message)), original(message, **kw))[1]
        await pilot.press("s")  # not a ticket yet
        await pilot.pause(0.2)
        assert app.screen is inbox and any("take it over" in n for n in notes)

        await pilot.press("t")
        await until(pilot, lambda: type(app.screen).__name__ == "TicketScreen", timeout=10)
        ticket_id = app.screen.ticket_id
        app.pop_screen()
        await until(pilot, lambda: view.items and view.items[0].handled, timeout=10)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StatusPicker))
        await pilot.press("3")  # On customer
        await pilot.pause(0.3)
        assert (await hd.tickets.get(ticket_id)).status is Status.ON_CUSTOMER
        assert "0 waiting for a person" in str(status.render()) or view.items[0].handled
        inbox.select_view("inbox")
        await until(pilot, lambda: inbox.table.display and not view.display)
        assert inbox.check_action("filter", ()) is True
