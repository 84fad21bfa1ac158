"""Opening a long ticket settles in few frames: the entries drawn after the first frame,
the rest of the open (team, deliveries, the draft's toast) and the scrollbars that
follow them are folded together instead of a frame each."""

from __future__ import annotations

import time

import pytest

from tui_helpdesk.domain.model import EntryKind
from tui_helpdesk.services.composer import ComposerService
from tui_helpdesk.ui.ticket.screen import TicketScreen

try:
    from .ticket_fixtures import TicketHarness, opened
except ImportError:
    from ticket_fixtures import TicketHarness, opened
from tests.desks import START

pytestmark = [pytest.mark.desk("team"), pytest.mark.clock(START)]

MAX_FRAMES = 3  # the first frame, the rest of the open, and one more (it was 5-6; the goal is 2)


async def long_ticket(desk, entries: int = 80) -> int:
    hd, ann, bob = desk.hd, desk.ann, desk.bob
    ticket = await hd.tickets.create(subject="Refund for order 4521", body="Where is it?", requester_email="cy@example.com",
                                     requester_name="Cy Young", channel="email")
    async with hd.store.write() as tx:
        for i in range(entries):
            kind = (EntryKind.MESSAGE, EntryKind.REPLY, EntryKind.NOTE)[i % 3]
            body = f"Entry {i + 1}. " + "\n\n".join(f"Paragraph {p} of entry {i + 1}: " + "refund please " * 12
                                                   for p in range(1 + i % 3))
            await tx.insert_entry(ticket_id=ticket.id, kind=kind, body=body, author_name="Cy Young",
                                  author_agent_id=bob.id if kind is not EntryKind.MESSAGE else None, meta={})
    await ComposerService(hd.store).save_draft(ann, ticket.id, "reply", "Hi Cy,\n\nthanks for waiting", 0)
    return ticket.id


async def test_opening_a_long_ticket_settles_in_few_frames(desk):
    ticket_id = await long_ticket(desk)
    app = TicketHarness(desk.hd, desk.ann, ticket_id)
    frames: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        original = app._display

        def display(screen, renderable) -> None:
            if renderable is not None and isinstance(screen, TicketScreen) and not app._batch_count:
                frames.append(time.perf_counter())
            original(screen, renderable)

        app._display = display
        screen = await opened(pilot)
        await pilot.pause(0.3)
        first = next(t for t in frames)
        in_open = [t for t in frames if t - first <= 0.3]
        assert len(in_open) <= MAX_FRAMES, f"{len(in_open)} frames in the first 0.3 s of the open"
        # Nothing was hidden to get there: every entry is drawn and laid out, the newest in view.
        timeline = screen.timeline
        assert all(block.key is not None for block in timeline.blocks)
        assert timeline._heights == [block.height for block in timeline.blocks]
        assert timeline.scroll_y == timeline.max_scroll_y > 0
        assert "draft is back" in " ".join(app.notes)
