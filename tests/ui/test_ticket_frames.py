"""Opening a long ticket settles in two frames: the first one, then the rest of the open
(team, deliveries, the draft's toast) folded into one more. The entries out of view are
drawn meanwhile and laid out when the agent scrolls up to them, in place."""

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

MAX_FRAMES = 2  # the first frame and the rest of the open (it was 5-6)


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
        # Nothing was hidden to get there: every entry is drawn, the newest in view ...
        timeline = screen.timeline
        assert all(block.key is not None for block in timeline.blocks)
        assert timeline.scroll_y == timeline.max_scroll_y > 0
        assert "draft is back" in " ".join(app.notes)
        # ... and a page up lays out the ones above, the view moving by just that page.
        timeline.focus()
        await pilot.pause()
        below_view = timeline.max_scroll_y - timeline.scroll_y
        await pilot.press("pageup")
        await pilot.pause()
        assert timeline._heights == [block.height for block in timeline.blocks]
        assert timeline.max_scroll_y - timeline.scroll_y == below_view + timeline._viewport() - 1
        assert timeline.scroll_y > 0


@pytest.mark.parametrize("how", ["k", "scroll"])
async def test_going_up_from_the_newest_entry_keeps_the_view_in_place(desk, how):
    """The entries above are laid out as the agent goes up, by key or by scrolling (the wheel,
    the scrollbar), and the view moves by what was asked, never to the start of the ticket."""
    ticket_id = await long_ticket(desk)
    app = TicketHarness(desk.hd, desk.ann, ticket_id)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await opened(pilot)
        timeline = screen.timeline
        await pilot.pause(0.3)
        assert timeline._layout_due  # drawn, waiting for the view to come up
        newest = timeline.blocks[-1].entry.id
        if how == "k":
            timeline.focus()
            await pilot.pause()
            await pilot.press("k")
        else:
            timeline.scroll_to(y=timeline.scroll_y - 3, animate=False, immediate=True)
        await pilot.pause()
        assert not timeline._layout_due
        assert timeline._heights == [block.height for block in timeline.blocks]
        moved = timeline.max_scroll_y - timeline.scroll_y
        if how == "k":  # the cursor goes to the entry above, the view follows only if it must
            assert timeline.cursor == len(timeline.blocks) - 2 and moved <= 3
        else:
            assert moved == 3  # a step up from the end, not a jump
        assert timeline.blocks[-1].entry.id == newest
