"""The table never loads a whole view: pages as the cursor nears an edge, G from the end."""

from __future__ import annotations

from ui_support import settle

from tui_helpdesk.adapters.store.seed import seed
from tui_helpdesk.ui.widgets.table_window import PAGE_SIZE


async def test_pages_load_on_demand_and_g_jumps_to_the_end(desk, make_app):
    hd, ana, _ = desk
    await seed(hd.store, tickets=1500, messages_per_ticket=1, seed=3)
    app = make_app(hd, ana)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        app.inbox.select_view("all")
        await settle(pilot, lambda: app.inbox.view_key == "all")
        table = app.inbox.table
        total = table.total
        assert total > 3 * PAGE_SIZE
        assert table.row_count == PAGE_SIZE  # only the first page
        # Moving down near the end of the window fetches the next page.
        await pilot.press("ctrl+d", "ctrl+d", "ctrl+d", "ctrl+d", "ctrl+d", "ctrl+d")
        await settle(pilot, lambda: table.row_count == 2 * PAGE_SIZE)
        # G: the last page, fetched in reverse; the cursor on the view's last ticket.
        await pilot.press("G")
        await settle(pilot, lambda: table.window.from_end)
        assert table.row_count == PAGE_SIZE
        assert table.position() == f"{total:,} of {total:,}"
        last = (await hd.views.page(app.inbox.effective_spec(), ana, limit=1, reverse=True)).rows[0]
        assert table.current_id() == last.id
        # Going up near the top of that window prepends the page before it.
        await pilot.press("ctrl+u", "ctrl+u", "ctrl+u", "ctrl+u", "ctrl+u", "ctrl+u", "ctrl+u", "ctrl+u")
        await settle(pilot, lambda: table.row_count == 2 * PAGE_SIZE)
        ids = [r.id for r in table.rows]
        assert len(ids) == len(set(ids))
        assert table.current_id() is not None
        # g: back to the first page.
        await pilot.press("g")
        await settle(pilot, lambda: not table.window.from_end)
        assert table.position() == f"1 of {total:,}"
        # Sorted by a non-keyset column (requester), paging goes by offset and still ends right.
        await pilot.press("o", "o", "o", "o")
        await settle(pilot, lambda: table.sort_key.value == "requester")
        await pilot.press("G")
        await settle(pilot, lambda: table.window.from_end)
        assert table.position() == f"{total:,} of {total:,}"


async def test_the_window_stays_bounded_and_positions_stay_true(desk, make_app, monkeypatch):
    from tui_helpdesk.ui.widgets import table_window as table_mod

    hd, ana, _ = desk
    await seed(hd.store, tickets=1500, messages_per_ticket=1, seed=4)
    monkeypatch.setattr(table_mod, "MAX_WINDOW", 250)
    app = make_app(hd, ana)
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(pilot)
        app.inbox.select_view("all")
        await settle(pilot, lambda: app.inbox.view_key == "all")
        table = app.inbox.table
        spec = app.inbox.effective_spec()

        async def expected_at(index: int) -> int:
            return (await hd.views.page(spec, ana, limit=1, offset=index - 1)).rows[0].id

        def index() -> int:
            return int(table.position().split(" of ")[0].replace(",", ""))

        for _ in range(15):
            await pilot.press("ctrl+d")
            await settle(pilot)
        assert table.row_count <= 250 + PAGE_SIZE
        assert table.window.head is not None  # rows above were let go
        assert index() > 250
        assert table.current_id() == await expected_at(index())
        for _ in range(14):
            await pilot.press("ctrl+u")
            await settle(pilot)
        assert index() < 60
        assert table.current_id() == await expected_at(index())
        ids = [r.id for r in table.rows]
        assert len(ids) == len(set(ids)) and table.row_count <= 250 + PAGE_SIZE
        # A change elsewhere reloads the same window, not the top of the view.
        await hd.tickets.note(table.rows[5].id, "a note", actor=ana)
        await pilot.pause(0.6)
        await settle(pilot)
        assert table.current_id() == await expected_at(index())
