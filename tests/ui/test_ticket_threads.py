"""Split and merge from the ticket screen (keys X and M, and the palette), seen live in a second terminal."""

from __future__ import annotations

from tests.desks import fixed_clock, make_settings
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import EntryKind, Status
from tui_helpdesk.ui.ticket.screen import TicketScreen

from ticket_fixtures import TicketHarness, opened, screen_text, wait_until

MAIL = {"mail": {"message_id": "<x@example.com>", "from": "carol@example.com", "subject": "Invoice wrong",
                 "threaded_by": "tag"}}


async def _two_tickets(hd, ana):
    first = await hd.tickets.create(subject="Printer broken", body="The printer is broken.",
                                    requester_email="carol@example.com", requester_name="Carol", actor=ana)
    await hd.tickets.add_customer_message(first.id, "Unrelated: my invoice is wrong.", meta=MAIL)
    second = await hd.tickets.create(subject="Printer again", body="Still broken.",
                                     requester_email="carol@example.com", requester_name="Carol", actor=ana)
    return first.id, second.id


async def test_split_and_merge_from_the_ticket_screen_show_in_another_terminal(tmp_path, desk):
    hd_a, ana, _ = desk
    first, second = await _two_tickets(hd_a, ana)
    hd_b = await bootstrap(make_settings(tmp_path / "desk.db"), clock=fixed_clock)
    ben = await hd_b.agents.get("ben")
    app_a, app_b = TicketHarness(hd_a, ana, first), TicketHarness(hd_b, ben, first)
    try:
        async with app_a.run_test(size=(140, 45)) as pa, app_b.run_test(size=(140, 45)) as pb:
            screen_a = await opened(pa)
            await opened(pb)
            assert "joined: the [#ticket] tag in its subject" in screen_text(app_a)

            # Split the second customer message off (X, then yes).
            [entry] = [e for e in await hd_a.tickets.timeline(first) if "invoice" in e.body]
            screen_a.timeline.select(screen_a.timeline.index_of(entry.id))
            await pa.press("X")
            await wait_until(pa, lambda: "Split this message off" in screen_text(app_a), what="the question")
            await pa.press("y")
            await wait_until(pa, lambda: any("is ticket #" in n for n in app_a.notes), what="the split")
            split_id = int(next(n for n in app_a.notes if "is ticket #" in n).split("#")[1].split()[0])
            [copy] = [e for e in await hd_a.tickets.timeline(split_id) if e.kind is EntryKind.MESSAGE]
            assert copy.body == "Unrelated: my invoice is wrong."
            # Ben's terminal, on the same ticket, shows it within a couple of seconds.
            await wait_until(pb, lambda: f"split off into #{split_id}" in screen_text(app_b), 5, "the split in B")

            # Merge this ticket into the requester's other one (M, pick it).
            await pa.press("M")
            await wait_until(pa, lambda: "Merge #" in screen_text(app_a), what="the picker")
            await pa.press(*str(second), "enter")
            await wait_until(pa, lambda: any("was merged into" in n for n in app_a.notes), what="the merge")
            assert (await hd_a.tickets.get(first)).status is Status.CLOSED
            assert any(e.meta.get("event") == "merged" for e in await hd_a.tickets.timeline(second))
            await wait_until(pb, lambda: f"Merged into #{second}" in screen_text(app_b), 5, "the merge in B")
            assert isinstance(app_b.screen, TicketScreen)
    finally:
        await hd_b.close()


async def test_split_and_merge_are_in_the_palette(desk):
    hd, ana, _ = desk
    first, _second = await _two_tickets(hd, ana)
    await hd.tickets.note(first, "internal remark", actor=ana)
    app = TicketHarness(hd, ana, first)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await opened(pilot)
        labels = [label for label, _keys, _run in screen.palette_commands()]
        assert "Split the customer message under the cursor off into a new ticket" in labels
        assert "Merge this ticket into another ticket of the same requester" in labels
        # on a note, split says what to do instead of failing
        screen.timeline.select(len(screen.timeline.blocks) - 1)
        assert screen.timeline.current_entry.kind is EntryKind.NOTE
        await pilot.press("X")
        await wait_until(pilot, lambda: any("customer message" in n for n in app.notes), what="a hint")
