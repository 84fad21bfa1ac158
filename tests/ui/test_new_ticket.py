"""N in the inbox: an email to a customer (To, Cc) or an internal ticket, created and opened."""

from __future__ import annotations

from sqlalchemy import select
from ui_support import settle, until

from tui_helpdesk import settings as settings_mod
from tui_helpdesk.adapters.store.tables_mail import MAIL_OUTBOX as OUTBOX
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import EntryKind, Status, TicketType
from tui_helpdesk.ui.new_ticket import NewTicketDialog

CONFIG = """\
[[desks]]
slug = "support"
name = "Support"

[[desks.email]]
address = "support@example.com"
"""



async def test_an_email_to_a_customer_with_cc_is_created_queued_and_opened(tmp_path, make_app):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    hd = await bootstrap(settings_mod.load(str(config), database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"),
                         upgrade=True)
    try:
        me = await hd.agents.identify("ann")
        app = make_app(hd, me)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("N")
            await until(pilot, lambda: isinstance(app.screen, NewTicketDialog))
            await pilot.press(*"cy@example", "tab", *"Cy Young", "tab", *"boss@example.com", "tab",
                              *"Your order 4521", "tab", *"Hello Cy")
            await pilot.press("ctrl+s")  # "cy@example" is no address: said, and nothing is lost
            await until(pilot, lambda: app.screen.query_one("#new-error").display)
            assert "not an email address" in str(app.screen.query_one("#new-error").render())
            to = app.screen.query_one("#new-to")
            to.value = "cy@example.com"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: type(app.screen).__name__ == "TicketScreen")
            ticket = await hd.tickets.get(app.screen.ticket_id)
            assert ticket.subject == "Your order 4521" and ticket.status is Status.ON_CUSTOMER
            assert ticket.requester.name == "Cy Young" and ticket.assignee.login == "ann"
            async with hd.store.read() as tx:
                [row] = list(await tx.conn.execute(select(OUTBOX)))
            assert sorted(row.recipients) == ["boss@example.com", "cy@example.com"]
    finally:
        await hd.close()


async def test_an_internal_ticket_is_mine_and_a_desk_without_email_says_so(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("N")
        await until(pilot, lambda: isinstance(app.screen, NewTicketDialog))
        await pilot.press(*"x@example.com", "tab", "tab", "tab", *"Hello", "tab", *"Body")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen.query_one("#new-error").display)
        assert "no support address" in str(app.screen.query_one("#new-error").render())
        await pilot.press("ctrl+g")  # internal instead: the same subject and text
        assert not app.screen.query_one("#new-to").display
        await pilot.press("ctrl+s")
        await until(pilot, lambda: type(app.screen).__name__ == "TicketScreen")
        ticket = await hd.tickets.get(app.screen.ticket_id)
        assert ticket.subject == "Hello" and ticket.channel == "internal" and ticket.type is TicketType.API
        assert ticket.assignee.login == "ana" and ticket.status is Status.ON_YOU
        assert [e.body for e in await hd.tickets.timeline(ticket.id) if e.kind is EntryKind.MESSAGE] == ["Body"]


async def test_a_reply_shows_its_to_and_the_agent_changes_the_cc(tmp_path, make_app):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    hd = await bootstrap(settings_mod.load(str(config), database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"),
                         upgrade=True)
    try:
        me = await hd.agents.identify("ann")
        started = await hd.tickets.start_email(to="cy@example.com", cc=["boss@example.com"], subject="Order",
                                               body="Hello", actor=me)
        app = make_app(hd, me)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.inbox.open_ticket_soon(started.ticket.id, "reply")
            await until(pilot, lambda: type(app.screen).__name__ == "TicketScreen" and app.screen.composer.to)
            screen = app.screen
            cc = screen.composer.query_one("#composer-cc")
            assert screen.composer.to == "cy@example.com" and cc.display and cc.value == "boss@example.com"
            assert "to cy@example.com" in str(screen.composer.query_one("#composer-title").render())
            cc.value = "finance@example.com"
            screen.composer.input.insert("Looping in finance.")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: not screen.composer.text)
            async with hd.store.read() as tx:
                rows = list(await tx.conn.execute(select(OUTBOX).order_by(OUTBOX.c.id)))
            assert sorted(rows[-1].recipients) == ["cy@example.com", "finance@example.com"]
            assert await hd.mail.recipients(started.ticket.id) == ("cy@example.com", ["finance@example.com"])
    finally:
        await hd.close()
