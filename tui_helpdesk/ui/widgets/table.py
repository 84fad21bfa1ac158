"""The ticket table: a window of a view, fetched a page at a time.

A view may hold 100,000 tickets; the table never asks for all of them. It
shows a window anchored at the top (first pages, more appended as the cursor
nears the end) or at the bottom (``G``: the last page, fetched in reverse,
earlier pages prepended as the cursor nears the top). Keyset cursors from the
store make each page cost the same wherever it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import DataTable

from ...adapters.store.repository import Page
from ...domain.model import TicketRow
from ...domain.query import SortKey
from .. import keymap
from ..text import humanise, line, status_text

Fetch = Callable[[tuple | None, bool, int], Awaitable[Page]]

PAGE_SIZE = 100
# Start fetching the next page when the cursor is this close to the window's edge.
PREFETCH = 30
# Reloads after a change keep the window, but never more than this many rows.
MAX_RELOAD = 1000

COLUMN_TITLES = {
    "mark": " ", "status": "Status", "id": "#", "requester": "Requester", "details": "Details",
    "assignee": "Assignee", "created": "Created", "updated": "Updated",
}
COLUMN_SORT = {
    "status": SortKey.STATUS, "id": SortKey.ID, "requester": SortKey.REQUESTER, "details": SortKey.SUBJECT,
    "assignee": SortKey.ASSIGNEE, "created": SortKey.CREATED, "updated": SortKey.UPDATED,
}
FIXED_WIDTHS = {"mark": 1, "status": 10, "id": 6, "requester": 16, "assignee": 10, "created": 8, "updated": 8}
# Dropped in this order when the terminal is narrow, so "details" keeps room to read.
DROP_ORDER = ("created", "assignee", "requester")
MIN_DETAILS = 20


def visible_columns(wanted: tuple[str, ...], width: int) -> tuple[str, ...]:
    """The columns that fit *width*: the view's choice, narrow ones dropped first."""
    cols = ["mark", *wanted]
    def needed(cs):
        return sum(FIXED_WIDTHS.get(c, MIN_DETAILS) + 2 for c in cs)
    for name in DROP_ORDER:
        if needed(cols) <= width or len(cols) <= 2:
            break
        if name in cols:
            cols.remove(name)
    return tuple(cols)


@dataclass
class Window:
    rows: list[TicketRow]
    head: tuple | None  # cursor to fetch rows before the first (None: at the start)
    tail: tuple | None  # cursor to fetch rows after the last (None: at the end)
    from_end: bool = False  # anchored at the bottom (after G)


class TicketTable(DataTable):
    """A DataTable over a :class:`Window`; it asks ``fetch`` for more as the cursor moves."""

    BINDINGS = keymap.bindings(keymap.TABLE_KEYS)

    class WindowChanged(Message):
        """Rows were loaded or the cursor moved: the status bar shows the position."""

        def __init__(self, table: "TicketTable") -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> "TicketTable":
            return self.table

    def __init__(self, *, now: Callable[[], datetime] | None = None, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, cursor_foreground_priority="renderable", **kwargs)
        self.now = now or (lambda: datetime.utcnow())
        self.fetch: Fetch | None = None
        self.window = Window([], None, None)
        self.wanted: tuple[str, ...] = ("status", "id", "requester", "details", "assignee", "created", "updated")
        self.shown: tuple[str, ...] = ()
        self.selected: set[int] = set()
        self.total: int | None = None
        self.sort_key: SortKey | None = None
        self.sort_descending = True
        self._generation = 0
        self._loading_more = False
        self._details_width = 40

    # ------------------------------------------------------------- contents

    def reset(self, fetch: Fetch, page: Page, *, total: int | None = None, columns: tuple[str, ...] | None = None,
              keep_cursor: bool = False, sort: tuple[SortKey, bool] | None = None) -> None:
        """Show a new view (or the same one reloaded) from its first page."""
        self._generation += 1
        self._loading_more = False
        current = self.current_id() if keep_cursor else None
        self.fetch = fetch
        self.total = total
        if sort is not None:
            self.sort_key, self.sort_descending = sort
        if columns is not None:
            self.wanted = columns
        self.window = Window(list(page.rows), None, page.next_after)
        if not keep_cursor:
            self.selected.clear()
        self._rebuild(cursor_id=current)

    def current_id(self) -> int | None:
        rows = self.window.rows
        if rows and 0 <= self.cursor_row < len(rows):
            return rows[self.cursor_row].id
        return None

    def current_row(self) -> TicketRow | None:
        rows = self.window.rows
        return rows[self.cursor_row] if rows and 0 <= self.cursor_row < len(rows) else None

    def target_ids(self) -> list[int]:
        """The selection, or else the ticket under the cursor."""
        if self.selected:
            order = [r.id for r in self.window.rows if r.id in self.selected]
            return order + sorted(self.selected - set(order))
        current = self.current_id()
        return [current] if current is not None else []

    def toggle_selected(self) -> None:
        tid = self.current_id()
        if tid is None:
            return
        self.selected.symmetric_difference_update({tid})
        if "mark" in self.shown:
            self.update_cell(str(tid), "mark", self._mark(tid))
        self.post_message(self.WindowChanged(self))

    def select_all(self) -> None:
        self.selected.update(r.id for r in self.window.rows)
        self._refresh_marks()

    def clear_selection(self) -> None:
        self.selected.clear()
        self._refresh_marks()

    def _refresh_marks(self) -> None:
        if "mark" in self.shown:
            for row in self.window.rows:
                self.update_cell(str(row.id), "mark", self._mark(row.id))
        self.post_message(self.WindowChanged(self))

    def _mark(self, tid: int) -> Text:
        return Text("✓", style="bold", end="") if tid in self.selected else Text(" ", end="")

    def refresh_rows(self) -> None:
        """Re-render cells (the clock moved, or the theme changed)."""
        self._rebuild(cursor_id=self.current_id())

    def _cells(self, row: TicketRow) -> list[Text]:
        theme = self.app.theme_variables if self.is_attached else None
        out: list[Text] = []
        now = self.now()
        for col in self.shown:
            if col == "mark":
                out.append(self._mark(row.id))
            elif col == "status":
                out.append(status_text(row.status, theme, short=True))
            elif col == "id":
                out.append(Text(f"#{row.id}", justify="right", end=""))
            elif col == "requester":
                out.append(line(row.requester, FIXED_WIDTHS["requester"]))
            elif col == "details":
                width = self._details_width
                cell = line(row.subject, width, style="bold")
                cell.truncate(width, overflow="ellipsis")
                room = width - cell.cell_len - 3
                if room > 4 and row.preview:
                    cell.append(" — ", style="dim")
                    preview = line(row.preview, room, style="dim")
                    preview.truncate(room, overflow="ellipsis")
                    cell.append_text(preview)
                out.append(cell)
            elif col == "assignee":
                out.append(line(row.assignee, FIXED_WIDTHS["assignee"]) if row.assignee else Text("—", style="dim", end=""))
            elif col == "created":
                out.append(Text(humanise(row.created_at, now), end=""))
            elif col == "updated":
                out.append(Text(humanise(row.updated_at, now), end=""))
        return out

    def _column_label(self, col: str) -> Text:
        title = COLUMN_TITLES[col]
        if self.sort_key is not None and COLUMN_SORT.get(col) is self.sort_key:
            title += "▼" if self.sort_descending else "▲"
        return Text(title, end="")

    def _layout(self) -> None:
        width = max(self.size.width, 40) if self.size.width else 120
        self.shown = visible_columns(self.wanted, width - 2)
        fixed = sum(FIXED_WIDTHS[c] + 2 for c in self.shown if c != "details")
        self._details_width = max(MIN_DETAILS, width - fixed - 4)

    def _rebuild(self, cursor_id: int | None = None, cursor_row: int | None = None) -> None:
        scroll_y = self.scroll_y
        self._layout()
        self.clear(columns=True)
        for col in self.shown:
            width = self._details_width if col == "details" else FIXED_WIDTHS[col]
            self.add_column(self._column_label(col), width=width, key=col)
        for row in self.window.rows:
            self.add_row(*self._cells(row), key=str(row.id))
        target = 0
        if cursor_row is not None:
            target = cursor_row
        elif cursor_id is not None:
            target = next((i for i, r in enumerate(self.window.rows) if r.id == cursor_id), 0)
        if self.window.rows:
            self.move_cursor(row=min(target, len(self.window.rows) - 1), animate=False, scroll=False)
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
            self.call_after_refresh(self._scroll_cursor_visible)
        self.post_message(self.WindowChanged(self))

    def _scroll_cursor_visible(self) -> None:
        if self.window.rows:
            self.move_cursor(row=self.cursor_row, animate=False)

    def on_resize(self) -> None:
        before = (self.shown, self._details_width)
        self._layout()
        if (self.shown, self._details_width) != before and self.fetch is not None:
            self._rebuild(cursor_id=self.current_id())

    # --------------------------------------------------------------- paging

    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        self._maybe_fetch_more()
        self.post_message(self.WindowChanged(self))

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
        if after:
            self.window.tail = page.next_after
            known = {r.id for r in self.window.rows}
            for row in page.rows:
                if row.id not in known:
                    self.window.rows.append(row)
                    self.add_row(*self._cells(row), key=str(row.id))
            self.post_message(self.WindowChanged(self))
        else:
            self.window.head = page.next_after
            known = {r.id for r in self.window.rows}
            new = [r for r in reversed(page.rows) if r.id not in known]
            self.window.rows[:0] = new
            keep = self.cursor_row + len(new)
            self._rebuild(cursor_row=keep)
            self.scroll_to(y=self.scroll_y + len(new), animate=False, immediate=True)
        self._maybe_fetch_more()

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
        self.window = Window(list(reversed(page.rows)), page.next_after, None, from_end=True)
        self._rebuild(cursor_row=len(self.window.rows) - 1)
        self._move_last()

    @work(exclusive=True, group="table-load", exit_on_error=False)
    async def jump_to_start(self) -> None:
        if self.fetch is None:
            return
        if self.window.head is None:
            self.move_cursor(row=0, animate=False)
            return
        generation = self._generation
        page = await self.fetch(None, False, PAGE_SIZE)
        if generation != self._generation:
            return
        self._generation += 1
        self.window = Window(list(page.rows), None, page.next_after)
        self._rebuild(cursor_row=0)
        self.scroll_home(animate=False)

    def _move_last(self) -> None:
        if self.window.rows:
            self.move_cursor(row=len(self.window.rows) - 1, animate=False)

    @work(exclusive=True, group="table-load", exit_on_error=False)
    async def reload(self, total: int | None = None) -> None:
        """Fetch the window again after a change, keeping the cursor on its ticket."""
        if self.fetch is None:
            return
        generation = self._generation
        w = self.window
        limit = min(max(PAGE_SIZE, len(w.rows)), MAX_RELOAD)
        page = await self.fetch(None, w.from_end, limit)
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
            self.window = Window(rows, page.next_after, None, from_end=True)
        else:
            self.window = Window(rows, None, page.next_after)
        ids = [r.id for r in rows]
        if current in ids:
            self._rebuild(cursor_id=current)
        else:
            self._rebuild(cursor_row=min(row_index, max(0, len(rows) - 1)))

    # -------------------------------------------------------------- actions

    def action_first(self) -> None:
        self.jump_to_start()

    def action_last(self) -> None:
        self.jump_to_end()

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_half_page_down(self) -> None:
        if self.window.rows:
            self.move_cursor(row=min(self.cursor_row + self._visible_rows() // 2, len(self.window.rows) - 1))

    def action_half_page_up(self) -> None:
        if self.window.rows:
            self.move_cursor(row=max(self.cursor_row - self._visible_rows() // 2, 0))

    def action_page_down(self) -> None:
        if self.window.rows:
            self.move_cursor(row=min(self.cursor_row + self._visible_rows(), len(self.window.rows) - 1))

    def action_page_up(self) -> None:
        if self.window.rows:
            self.move_cursor(row=max(self.cursor_row - self._visible_rows(), 0))

    def position(self) -> str:
        """'12 of 3,456' for the status bar."""
        if not self.window.rows:
            return "no tickets"
        total = self.total
        if self.window.from_end and total is not None:
            index = total - (len(self.window.rows) - self.cursor_row) + 1
        else:
            index = self.cursor_row + 1
        return f"{index:,} of {total:,}" if total is not None else f"{index:,}"
