"""A snapshot of the ticket screen: fixed clock, fixed data, UTC.

Update with ``pytest tests/ui/test_ticket_snapshot.py --snapshot-update`` after
a deliberate change, and look at the SVG before committing it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from textual.app import App

from tui_helpdesk.domain.model import Status, TicketType
from tui_helpdesk.ui.ticket.screen import TicketScreen

try:
    from .ticket_fixtures import wait_until
except ImportError:
    from ticket_fixtures import wait_until
from tests.clock import Clock
from tests.desks import START, isolate, open_desk


class SnapshotApp(App):
    """Builds its desk inside its own event loop (the snapshot plugin runs the app)."""

    def __init__(self, db: Path):
        super().__init__()
        self.db = db
        self.desk = None

    async def on_mount(self) -> None:
        clock = Clock(START - timedelta(days=3))
        desk = self.desk = await open_desk(self.db, clock)
        hd, ann, bob = desk.hd, desk.ann, desk.bob
        ann = await hd.agents.set(ann, "ann", name="Ann Lee")
        old = await hd.tickets.create(subject="Invoice copy for March", body="Could you send the invoice again?",
                                      requester_email="cy@example.com", requester_name="Cy Young",
                                      channel="email", type=TicketType.EMAIL)
        await hd.tickets.set_status(old.id, Status.CLOSED, actor=ann)
        clock.advance(days=2)
        t = await hd.tickets.create(
            subject="Refund for order 4521 not received", requester_email="cy@example.com",
            requester_name="Cy Young", channel="web form", type=TicketType.API, language="en",
            tags=["billing", "refund"],
            summary="Cy paid for order 4521 twice and asks for one payment back.",
            body="Hello,\n\nI was charged twice for order 4521. Please refund one of the payments.\n\n"
                 "On Mon, Support wrote:\n> Thanks for your order!\n> It ships tomorrow.",
        )
        clock.advance(hours=2)
        await hd.tickets.assign(t.id, "bob", actor=ann)
        await hd.tickets.reply(t.id, "Hi Cy,\n\nsorry about that. I have asked billing to check the second charge.",
                               actor=bob)
        clock.advance(hours=1)
        await hd.tickets.note(t.id, "@bob the second charge is a pre-authorisation; it drops off in 3 days.",
                              actor=ann)
        clock.advance(hours=3)
        await hd.tickets.add_customer_message(t.id, "It is still on my statement. Screenshot attached.",
                                              meta={"attachments": [{"filename": "statement.png", "size": 48213}]})
        clock.now = START
        await hd.agents.identify("ann")
        from tui_helpdesk.services.composer import ComposerService

        await ComposerService(hd.store).heartbeat(bob, t.id, typing=True)
        self.push_screen(TicketScreen(hd, ann, t.id))

    async def on_unmount(self) -> None:
        if self.desk is not None:
            await self.desk.hd.close()


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_ticket_screen_snapshot(snap_compare, tmp_path, monkeypatch, utc):
    isolate(monkeypatch, tmp_path)
    app = SnapshotApp(tmp_path / "desk.db")

    async def ready(pilot) -> None:
        def shown() -> bool:
            screen = pilot.app.screen
            return isinstance(screen, TicketScreen) and screen.loaded and screen.query_one("#ticket-presence").display

        await wait_until(pilot, shown, timeout=10, what="the ticket and its presence line")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(120, 36), run_before=ready)
