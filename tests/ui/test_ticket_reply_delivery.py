"""Pilot tests: the ticket screen says how far a reply got, and a reply the channel cannot carry is refused."""

from __future__ import annotations

import pytest

from tests.desks import START
from tui_helpdesk.domain.model import EntryKind, Status, TicketType
from tui_helpdesk.ui.dialogs import ConfirmDialog

try:
    from .ticket_fixtures import TicketHarness, opened, wait_until
except ImportError:
    from ticket_fixtures import TicketHarness, opened, wait_until

pytestmark = [pytest.mark.desk("team"), pytest.mark.clock(START)]

NO_ADDRESS = "no support address is configured for this desk"


async def test_a_refused_reply_says_why_keeps_the_status_and_can_become_a_note(desk):
    hd, ann = desk.hd, desk.ann
    t = await hd.tickets.create(subject="Refund", body="Where is my refund?", requester_email="cy@example.com",
                                type=TicketType.EMAIL, channel="email")
    await hd.tickets.set_status(t.id, Status.ON_YOU, actor=ann)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("Refund sent today")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the offer to save a note")
        assert any(n == f"Reply not sent: {NO_ADDRESS}" for n in app.notes), app.notes
        assert not any("Reply sent" in n or "On customer" in n for n in app.notes), app.notes
        assert (await hd.tickets.get(t.id)).status is Status.ON_YOU
        await pilot.press("y")
        await wait_until(pilot, lambda: "Saved as an internal note" in app.notes, what="the note")
        assert screen.ticket.status is Status.ON_YOU
    entries = await hd.tickets.timeline(t.id)
    assert [e.body for e in entries if e.kind is EntryKind.NOTE] == ["Refund sent today"]
    assert not [e for e in entries if e.kind is EntryKind.REPLY]
    assert (await hd.tickets.get(t.id)).status is Status.ON_YOU


async def test_declining_the_note_keeps_the_text_in_the_composer(desk):
    hd, ann = desk.hd, desk.ann
    t = await hd.tickets.create(subject="Refund", body="Where is my refund?", requester_email="cy@example.com",
                                type=TicketType.EMAIL, channel="email")
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("Refund sent today")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the offer to save a note")
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen and screen.composer.display, what="the composer")
        assert screen.composer.text == "Refund sent today" and screen.composer.mode == "reply"
    assert (await hd.tickets.get(t.id)).status is Status.NEW
    assert [e.kind for e in await hd.tickets.timeline(t.id)] == [EntryKind.MESSAGE]


async def test_a_reply_on_a_ticket_without_a_channel_is_not_called_sent(desk):
    hd, ann = desk.hd, desk.ann
    t = await hd.tickets.create(subject="Refund", body="Where is my refund?", requester_email="cy@example.com")
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("Refund sent today")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.ticket.status is Status.ON_CUSTOMER, what="On customer")
        await wait_until(pilot, lambda: any(n.startswith("Reply") for n in app.notes), what="the toast")
        assert not any(n.startswith("Reply sent") for n in app.notes), app.notes
