"""A view switch: one frame for the rail, the status bar and the rows; one query at a time; rows reused."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tui_helpdesk.domain.views import Page
from tui_helpdesk.ui import inbox_views as inbox_mod
from tui_helpdesk.ui.text import line
from tui_helpdesk.ui.widgets.table_rows import _line

from ui_support import PAYLOADS, settle


async def wait_for(pilot, predicate, timeout: float = 5.0) -> None:
    """Poll the app's loop until *predicate* holds (workers may still run)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {predicate}"
        await pilot.pause(0.005)


def slow_views(monkeypatch, hd, delay: float = 0.0, gate: asyncio.Event | None = None) -> list:
    """Make the view queries take *delay* seconds (or wait for *gate*); returns the specs queried, in order."""
    asked = []
    page, count_and_page = hd.views.page, hd.views.count_and_page

    async def wait() -> None:
        await (gate.wait() if gate is not None else asyncio.sleep(delay))

    async def slow_page(spec, me, **kwargs):
        asked.append(spec)
        await wait()
        return await page(spec, me, **kwargs)

    async def slow_count_and_page(spec, me, **kwargs):
        asked.append(spec)
        await wait()
        return await count_and_page(spec, me, **kwargs)

    monkeypatch.setattr(hd.views, "page", slow_page)
    monkeypatch.setattr(hd.views, "count_and_page", slow_count_and_page)
    return asked


def record_frames(app) -> list[tuple[str | None, tuple[int, ...]]]:
    """(highlighted rail key, row ids in the table) at every frame the app composes."""
    frames = []
    display = app._display

    def recording(screen, renderable):
        inbox = app.inbox
        if renderable is not None and inbox is not None and inbox.is_current:
            option = inbox.rail.highlighted_option
            frames.append((option.id if option else None, tuple(r.id for r in inbox.table.window.rows)))
        return display(screen, renderable)

    app._display = recording
    return frames


@pytest.mark.parametrize("value", [
    "plain subject", "  spaced   out\tsubject ", "line\nbreak", "crlf\r\nline", "Ünïcödé — 日本語 ✓ 🙂",
    "a" * 300, "\u00a0nbsp\u00a0", "", None, *PAYLOADS,
])
@pytest.mark.parametrize("limit", [1, 5, 16, 40])
def test_table_cells_clean_like_line(value, limit):
    fast, slow = _line(value, limit, style="bold"), line(value, limit, style="bold")
    assert (fast.plain, str(fast.style), fast.no_wrap, fast.end) == (slow.plain, str(slow.style), slow.no_wrap, slow.end)


async def test_switch_paints_rail_and_rows_in_one_frame(desk, make_app, monkeypatch):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        inbox = app.inbox
        before = tuple(r.id for r in inbox.table.window.rows)
        slow_views(monkeypatch, hd, delay=0.03)  # well within the hold
        frames = record_frames(app)
        inbox.select_view("all")
        await settle(pilot, lambda: inbox.table.total == inbox.rail.item("all").count)
        after = tuple(r.id for r in inbox.table.window.rows)
        assert after != before
        assert frames and frames[-1] == ("all", after)
        assert ("all", before) not in frames  # never the new highlight over the old rows
        assert app._batch_count == 0


async def test_a_slow_view_paints_the_rail_before_its_rows(desk, make_app, monkeypatch):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        inbox = app.inbox
        before = tuple(r.id for r in inbox.table.window.rows)
        slow_views(monkeypatch, hd, delay=inbox_mod.HOLD_LIMIT * 3)
        frames = record_frames(app)
        inbox.select_view("all")
        await settle(pilot, lambda: ("all", before) in frames)  # the hold gave up: the rail moved
        assert app._batch_count == 0
        await settle(pilot, lambda: frames[-1][1] != before)
        assert frames[-1] == ("all", tuple(r.id for r in inbox.table.window.rows))


async def test_rapid_moves_query_one_view_at_a_time(desk, make_app, monkeypatch):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        inbox = app.inbox
        inbox.rail.focus()
        gate = asyncio.Event()
        asked = slow_views(monkeypatch, hd, gate=gate)
        spec = {i.key: i.spec for i in inbox.rail.items}
        await pilot.press("j")  # Mentions: its query runs
        await wait_for(pilot, lambda: bool(asked))
        await pilot.press("j", "j")  # All, then Unassigned, while Mentions is read
        gate.set()
        await settle(pilot, lambda: inbox.view_key == "unassigned" and inbox._view_loader is None)
        assert asked == [spec["mentions"], spec["unassigned"]]
        rows = (await hd.views.page(spec["unassigned"], ana, limit=100)).rows
        assert inbox.table.window.rows == list(rows)
        assert inbox.rail.highlighted_option.id == "unassigned"
        assert app._batch_count == 0


async def test_rows_drawn_again_from_the_cache_match_a_fresh_draw(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        inbox, table = app.inbox, app.inbox.table
        for key in ("all", "inbox", "all"):
            inbox.select_view(key)
            await settle(pilot, lambda key=key: inbox.view_key == key and table.total == inbox.rail.item(key).count)

        def drawn() -> list[str]:
            return [table.render_line(y).text for y in range(1, min(table.row_count, 20) + 1)]

        unmarked = drawn()
        table.toggle_selected()
        marked = drawn()
        assert marked[0].startswith(" ✓") and marked[1:] == unmarked[1:]
        table.toggle_selected()
        assert drawn() == unmarked
        table.toggle_selected()
        assert drawn() == marked
        table.refresh_rows()  # nothing cached: the same text
        assert drawn() == marked
        # A ticket changed elsewhere is a new row: it is drawn anew, never from the cache.
        first = table.window.rows[0]
        changed = replace(first, subject="Changed elsewhere", updated_at=first.updated_at)
        table.apply_reload(Page([changed, *table.window.rows[1:]], table.window.tail))
        assert "Changed elsewhere" in table.render_line(1).text
