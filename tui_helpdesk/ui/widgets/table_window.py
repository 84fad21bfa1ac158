"""The ticket table's window of a view, fetched a page at a time.

A view may hold 100,000 tickets; the table never asks for all of them. It
shows a window anchored at the top (first pages, more appended as the cursor
nears the end) or at the bottom (``G``: the last page, fetched in reverse,
earlier pages prepended as the cursor nears the top). Keyset cursors from the
store make each page cost the same wherever it is. :class:`WindowPaging` is
that part of :class:`~.table.TicketTable`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from textual import work
from textual.geometry import Size

from ...domain.views import Page
from ...domain.model import TicketRow
from ...domain.query import SortKey

Fetch = Callable[[tuple | None, bool, int], Awaitable[Page]]

PAGE_SIZE = 100
# Start fetching the next page when the cursor is this close to the window's edge.
PREFETCH = 30
# Reloads after a change keep the window, but never more than this many rows.
MAX_RELOAD = 1000
# The most rows the table holds: past it, rows far from the cursor are dropped
# (for sorts with a keyset; the cursor fetches them again when it comes back).
MAX_WINDOW = 1000
KEYSET_SORTS = {SortKey.UPDATED: "updated_at", SortKey.CREATED: "created_at", SortKey.ID: "id",
                SortKey.SUBJECT: "subject"}


@dataclass
class Window:
    rows: list[TicketRow]
    head: tuple | None  # cursor to fetch rows before the first (None: at the start)
    tail: tuple | None  # cursor to fetch rows after the last (None: at the end)
    from_end: bool = False  # anchored at the bottom (after G)
    base: int | None = 0  # the view index of rows[0], when known (not after G)


class WindowPaging:
    """Pages in and out of the table's :class:`Window` as the cursor moves (a mixin of the table)."""

    def _maybe_fetch_more(self) -> None:
        if self.fetch is None or self._loading_more:
            return
        w = self.window
        row = self.cursor_row
        if w.tail is not None and row >= len(w.rows) - PREFETCH:
            self._loading_more = True
            self._fetch_more(self._generation, after=True)
        elif w.head is not None and row <= PREFETCH:
            self._loading_more = True
            self._fetch_more(self._generation, after=False)

    @work(exclusive=True, group="table-more", exit_on_error=False)
    async def _fetch_more(self, generation: int, after: bool) -> None:
        try:
            w = self.window
            if after:
                page = await self.fetch(w.tail, False, PAGE_SIZE)
            else:
                page = await self.fetch(w.head, True, PAGE_SIZE)
        finally:
            if generation == self._generation:
                self._loading_more = False
        if generation != self._generation:
            return
        w = self.window
        if after:
            w.tail = page.next_after
            known = {r.id for r in w.rows}
            w.rows.extend(row for row in page.rows if row.id not in known)
            drop = len(w.rows) - MAX_WINDOW
            if drop > 0 and self._keyset_field() and drop < self.cursor_row:
                # Far above the cursor: let go of the oldest rows.
                del w.rows[:drop]
                w.head = self._keyset(w.rows[0])
                w.base = None if w.base is None else w.base + drop
                scroll_y = self.scroll_offset.y
                self._rebuild(cursor_row=self.cursor_row - drop)
                self.scroll_to(y=max(0, scroll_y - drop), animate=False, immediate=True)
            else:
                self.virtual_size = Size(self.size.width or 1, len(w.rows) + 1)
                self.refresh()
                self.post_message(self.WindowChanged(self))
        else:
            w.head = page.next_after
            known = {r.id for r in w.rows}
            new = [r for r in reversed(page.rows) if r.id not in known]
            if w.from_end and self.total is not None:
                w.base = self.total - len(w.rows)
            w.rows[:0] = new
            w.base = 0 if w.head is None else (None if w.base is None else max(0, w.base - len(new)))
            keep = self.cursor_row + len(new)
            drop = len(w.rows) - MAX_WINDOW
            if drop > 0 and self._keyset_field() and len(w.rows) - drop > keep:
                # Far below the cursor: let go of the last rows; the window leaves the end.
                del w.rows[-drop:]
                w.tail = self._keyset(w.rows[-1])
                w.from_end = False
            scroll_y = self.scroll_offset.y
            self._rebuild(cursor_row=keep)
            self.scroll_to(y=scroll_y + len(new), animate=False, immediate=True)
        self._maybe_fetch_more()

    def _keyset_field(self) -> str | None:
        return KEYSET_SORTS.get(self.sort_key) if self.sort_key is not None else None

    def _keyset(self, row: TicketRow) -> tuple:
        """The store's page cursor for *row* (what ``next_after`` would be after it)."""
        return (getattr(row, self._keyset_field()), row.id)

    def reload_request(self) -> tuple[tuple | None, bool, int]:
        """(after, reverse, limit) that fetch the current window again, first row included."""
        w = self.window
        limit = min(max(PAGE_SIZE, len(w.rows)), MAX_RELOAD)
        if w.head is not None and w.tail is not None and not w.from_end and w.rows and self._keyset_field():
            value, first_id = self._keyset(w.rows[0])
            # One past the first row in the sort's direction, so the first row is included.
            return (value, first_id + 1 if self.sort_descending else first_id - 1), False, limit
        return None, w.from_end, limit

    @work(exclusive=True, group="table-load", exit_on_error=False)
    async def jump_to_end(self) -> None:
        """``G``: fetch the view's last page in reverse and anchor the window there."""
        if self.fetch is None:
            return
        if self.window.tail is None:
            self._move_last()
            return
        generation = self._generation
        page = await self.fetch(None, True, PAGE_SIZE)
        if generation != self._generation:
            return
        self._generation += 1
        self.window = Window(list(reversed(page.rows)), page.next_after, None, from_end=True, base=None)
        self._rebuild(cursor_row=len(self.window.rows) - 1)
        self._move_last()

    @work(exclusive=True, group="table-load", exit_on_error=False)
    async def jump_to_start(self) -> None:
        if self.fetch is None:
            return
        if self.window.head is None:
            self.cursor_row = 0
            return
        generation = self._generation
        page = await self.fetch(None, False, PAGE_SIZE)
        if generation != self._generation:
            return
        self._generation += 1
        self.window = Window(list(page.rows), None, page.next_after)
        self._rebuild(cursor_row=0, top=True)

    def _move_last(self) -> None:
        if self.window.rows:
            self.cursor_row = len(self.window.rows) - 1

    @work(exclusive=True, group="table-load", exit_on_error=False)
    async def reload(self, total: int | None = None) -> None:
        """Fetch the window again after a change, keeping the cursor on its ticket."""
        if self.fetch is None:
            return
        generation = self._generation
        after, reverse, limit = self.reload_request()
        page = await self.fetch(after, reverse, limit)
        if generation != self._generation:
            return
        self.apply_reload(page, total)

    def apply_reload(self, page: Page, total: int | None = None) -> None:
        w = self.window
        rows = list(reversed(page.rows)) if w.from_end else list(page.rows)
        if total is not None:
            self.total = total
        if rows == w.rows:
            self.post_message(self.WindowChanged(self))
            return
        current = self.current_id()
        row_index = self.cursor_row
        self._generation += 1
        if w.from_end:
            self.window = Window(rows, page.next_after, None, from_end=True, base=None)
        elif w.head is not None and rows:
            self.window = Window(rows, self._keyset(rows[0]), page.next_after, base=w.base)
        else:
            self.window = Window(rows, None, page.next_after)
        ids = [r.id for r in rows]
        if current in ids:
            self._rebuild(cursor_id=current)
        else:
            self._rebuild(cursor_row=min(row_index, max(0, len(rows) - 1)))

    def position(self) -> str:
        """'12 of 3,456' for the status bar."""
        if not self.window.rows:
            return "no tickets"
        total = self.total
        if self.window.from_end and total is not None:
            index = total - (len(self.window.rows) - self.cursor_row) + 1
        elif self.window.base is not None:
            index = self.window.base + self.cursor_row + 1
        else:
            index = self.cursor_row + 1
        return f"{index:,} of {total:,}" if total is not None else f"{index:,}"
