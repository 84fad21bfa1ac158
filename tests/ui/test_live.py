"""Live refresh through the change feed: other terminals' changes show within a second."""

from __future__ import annotations

import time

from ui_support import settle

from tests.desks import fixed_clock, make_settings
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import Status


async def wait_for(pilot, predicate, timeout=2.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        await pilot.pause(0.05)
    raise AssertionError(f"not seen within {timeout} s")


async def test_two_apps_on_one_database_see_each_other(tmp_path, desk, make_app):
    hd_a, ana, _ = desk
    # A second "terminal": its own store (engine, connections) on the same file, as ben.
    hd_b = await bootstrap(make_settings(tmp_path / "desk.db"), clock=fixed_clock)
    ben = await hd_b.agents.get("ben")
    app_a = make_app(hd_a, ana, poll_seconds=0.3)
    app_b = make_app(hd_b, ben, poll_seconds=0.3)
    try:
        async with app_a.run_test(size=(140, 40)) as pa, app_b.run_test(size=(140, 40)) as pb:
            await settle(pa)
            await settle(pb)
            app_a.inbox.select_view("unassigned")
            await settle(pa, lambda: app_a.inbox.view_key == "unassigned")
            before_a = app_a.inbox.rail.item("inbox").count
            before_b = app_b.inbox.rail.item("inbox").count
            target = app_a.inbox.table.current_id()
            # Ben takes the ticket in his terminal ...
            app_b.inbox.select_view("unassigned")
            await settle(pb, lambda: app_b.inbox.view_key == "unassigned")
            assert app_b.inbox.table.current_id() == target
            await pb.press("t")
            await wait_for(pb, lambda: app_b.inbox.rail.item("inbox").count == before_b + 1)
            # ... and Ana's terminal drops it from Unassigned within a second.
            took = await wait_for(pa, lambda: target not in [r.id for r in app_a.inbox.table.window.rows], 1.5)
            assert took < 1.5
            assert app_a.inbox.rail.item("inbox").count == before_a
            # Ana closes one of her tickets; Ben's All count follows.
            all_b = app_b.inbox.rail.item("all").count
            app_a.inbox.select_view("inbox")
            await settle(pa, lambda: app_a.inbox.view_key == "inbox")
            await pa.press("c")
            await wait_for(pb, lambda: app_b.inbox.rail.item("all").count == all_b - 1, 1.5)
    finally:
        await hd_b.close()


async def test_note_with_mention_raises_mentions_and_notifies(desk, make_app):
    hd, ana, ben = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        before = app.inbox.rail.item("mentions").count
        tickets = [r.id for r in app.inbox.table.window.rows]
        await hd.tickets.note(tickets[0], "@ana can you check the refund? @nobody", actor=ben)
        await wait_for(pilot, lambda: app.inbox.rail.item("mentions").count == before + 1)
        await wait_for(pilot, lambda: any("mentioned" in str(n.message) for n in app._notifications))
        # A note mentioning someone else does not count for ana.
        await hd.tickets.note(tickets[0], "@ben over to you", actor=ana)
        await pilot.pause(0.5)
        assert app.inbox.rail.item("mentions").count == before + 1
        # The Mentions view lists the ticket.
        app.inbox.select_view("mentions")
        await settle(pilot, lambda: app.inbox.view_key == "mentions")
        assert tickets[0] in [r.id for r in app.inbox.table.window.rows]


async def test_new_ticket_in_my_inbox_notifies(desk, make_app):
    hd, ana, ben = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        before = app.inbox.rail.item("inbox").count
        ticket = await hd.tickets.create(subject="Printer [on fire]", body="help", requester_email="p@example.com")
        await hd.tickets.assign(ticket.id, "ana", actor=ben)
        await wait_for(pilot, lambda: app.inbox.rail.item("inbox").count == before + 1)
        await wait_for(pilot, lambda: ticket.id in [r.id for r in app.inbox.table.window.rows])
        await wait_for(pilot, lambda: any("Printer [on fire]" in str(n.message) for n in app._notifications))
        # A status change by someone else keeps the row, updated in place.
        await hd.tickets.set_status(ticket.id, Status.ON_HOLD, actor=ben)
        await wait_for(pilot, lambda: next(r for r in app.inbox.table.window.rows if r.id == ticket.id).status
                       is Status.ON_HOLD)
