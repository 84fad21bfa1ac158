"""On hold with a reason and an "until", from the ticket screen; the hold ends in another terminal on time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ui_support import settle, until

from tests.desks import make_settings
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import Status
from tui_helpdesk.ui.dialogs import HoldDialog, StatusPicker



@pytest.mark.desk("team")
async def test_on_hold_until_tomorrow_comes_back_in_the_other_terminal(desk, make_app, tmp_path, monkeypatch):
    monkeypatch.setattr("tui_helpdesk.ui.app.HOLD_CHECK_SECONDS", 0.2)
    hd, ann, bob, clock = desk.hd, desk.ann, desk.bob, desk.clock
    ticket = await hd.tickets.create(subject="Waiting for parts", body="When?", requester_email="w@example.com")
    await hd.tickets.assign(ticket.id, "ann", actor=ann)
    other_hd = await bootstrap(make_settings(tmp_path / "desk.db"), clock=clock)
    app = make_app(hd, ann, clock=clock)
    other = make_app(other_hd, bob, clock=clock)
    try:
        async with app.run_test(size=(140, 40)) as pilot, other.run_test(size=(140, 40)) as other_pilot:
            await settle(pilot)
            await settle(other_pilot)
            # Keys only: with two apps in one test, code run from here would see the other as the active app.
            assert app.inbox.table.current_id() == ticket.id  # Ann's Inbox, first row
            await pilot.press("enter")
            await until(pilot, lambda: getattr(app.screen, "ticket_id", None) == ticket.id and app.screen.loaded)
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, StatusPicker))
            await pilot.press("4")  # On hold
            await until(pilot, lambda: isinstance(app.screen, HoldDialog))
            await pilot.press(*"parts on order", "tab", *"soon")
            await pilot.pause(0.1)
            await pilot.press("enter")  # cannot be read: said, and the dialog stays
            await pilot.pause(0.2)
            assert isinstance(app.screen, HoldDialog)
            assert "cannot read" in str(app.screen.query_one("#hold-error").render())
            for _ in range(4):
                await pilot.press("backspace")
            await pilot.press(*"2h", "enter")
            await until(pilot, lambda: type(app.screen).__name__ == "TicketScreen")
            await until(pilot, lambda: app.screen.ticket is not None and app.screen.ticket.status is Status.ON_HOLD)
            held = await hd.tickets.get(ticket.id)
            assert held.hold_until == clock.now + timedelta(hours=2)
            assert "parts on order" in (await hd.tickets.timeline(ticket.id))[-1].body

            clock.advance(hours=2, minutes=1)
            # Bob's terminal notices first or Ann's does: either way once, and Ann's open ticket shows it.
            await until(pilot, lambda: app.screen.ticket.status is Status.ON_YOU, 5)
            back = await other_hd.tickets.get(ticket.id)
            assert back.status is Status.ON_YOU and back.hold_until is None
            wakes = [e for e in await hd.tickets.timeline(ticket.id)
                     if e.meta and e.meta.get("event") == "status" and e.meta.get("from") == "on_hold"]
            assert len(wakes) == 1
    finally:
        await other_hd.close()
