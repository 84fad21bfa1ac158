"""The ticket table: a window of a view, fetched a page at a time.

A view may hold 100,000 tickets; the table never asks for all of them. It
shows a window anchored at the top (first pages, more appended as the cursor
nears the end) or at the bottom (``G``: the last page, fetched in reverse,
earlier pages prepended as the cursor nears the top). Keyset cursors from the
store make each page cost the same wherever it is.

Rendered rows are cached by what they show (the row itself, its mark, its
ages, the column layout), not by position or view: switching views, or back,
reuses every row already drawn, and a row that changed is a new key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...adapters.store.repository import Page
from ...domain.model import Status, TicketRow
from ...domain.query import SortKey
from ...domain.text import one_line
from .. import keymap
from ..keys import TABLE_KEYS
from ..text import humanise, status_text

Fetch = Callable[[tuple | None, bool, int], Awaitable[Page]]

PAGE_SIZE = 100
# Start fetching the next page when the cursor is this close to the window's edge.
PREFETCH = 30
# Reloads after a change keep the window, but never more than this many rows.
MAX_RELOAD = 1000
# The most rows the table holds: past it, rows far from the cursor are dropped
# (for sorts with a keyset; the cursor fetches them again when it comes back).
MAX_WINDOW = 1000
# Rendered rows (and their strips) kept across windows and views; past it the cache starts over.
ROW_CACHE = 4000
KEYSET_SORTS = {SortKey.UPDATED: "updated_at", SortKey.CREATED: "created_at", SortKey.ID: "id",
                SortKey.SUBJECT: "subject"}

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


def _line(value: str | None, limit: int, style: str = "") -> Text:
    """``text.line``, without its character scan when there is nothing to remove.

    A printable string (``str.isprintable``: no C0/C1 control, escape, tab, line
    break, bidi or other format character) is what ``domain.text.clean``
    returns unchanged, so only the whitespace folding and the limit of
    ``one_line`` apply; anything else goes through ``one_line`` itself.
    """
    if value is None:
        value = ""
    if value.isprintable():
        out = " ".join(value.split())
        if len(out) > limit:
            out = out[: max(0, limit - 1)] + "…"
    else:
        out = one_line(value, limit)
    return Text(out, style=style, no_wrap=True, end="")


@dataclass
class Window:
    rows: list[TicketRow]
    head: tuple | None  # cursor to fetch rows before the first (None: at the start)
    tail: tuple | None  # cursor to fetch rows after the last (None: at the end)
    from_end: bool = False  # anchored at the bottom (after G)
    base: int | None = 0  # the view index of rows[0], when known (not after G)


class TicketTable(ScrollView, can_focus=True):
    """A Line-API table over a :class:`Window`; it asks ``fetch`` for more as the cursor moves.

    Each row is rendered once into segments and cached; a frame is the visible
    rows' cached strips, so a cursor move or a new page costs the same at any
    view size. Line 0 is the header; rows scroll beneath it.
    """

    BINDINGS = keymap.bindings(TABLE_KEYS)
    COMPONENT_CLASSES = {"ticket-table--header", "ticket-table--cursor", "ticket-table--cursor-blurred",
                         "ticket-table--hover"}
    DEFAULT_CSS = """
    TicketTable {
        background: $surface;
        color: $foreground;
    }
    TicketTable > .ticket-table--header {
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    TicketTable > .ticket-table--cursor {
        background: $block-cursor-background;
        text-style: bold;
    }
    TicketTable > .ticket-table--cursor-blurred {
        background: $block-cursor-blurred-background;
    }
    TicketTable > .ticket-table--hover {
        background: $block-hover-background;
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True)
    hover_row: reactive[int] = reactive(-1)

    class WindowChanged(Message):
        """Rows were loaded or the cursor moved: the status bar shows the position."""

        def __init__(self, table: "TicketTable") -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> "TicketTable":
            return self.table

    class RowSelected(Message):
        """Enter, or a click on the cursor row: open this ticket."""

        def __init__(self, table: "TicketTable", ticket_id: int) -> None:
            super().__init__()
            self.table = table
            self.ticket_id = ticket_id

        @property
        def control(self) -> "TicketTable":
            return self.table

    class HeaderSelected(Message):
        """A column title was clicked: sort by it."""

        def __init__(self, table: "TicketTable", column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

        @property
        def control(self) -> "TicketTable":
            return self.table

    def __init__(self, *, now: Callable[[], datetime] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
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
        self._widths: list[int] = []
        self._layout_key: tuple = ()
        # (row, marked, created age, updated age, layout) -> (segments, cell length); (that, kind, width) -> strip.
        self._row_cache: dict[tuple, tuple[list[Segment], int]] = {}
        self._strip_cache: dict[tuple, Strip] = {}
        # row id -> (row, its key) for the rows of this window, so a repaint does not work the
        # key out again; forgotten when the window is rebuilt, marks change or the clock is re-read.
        self._keys: dict[int, tuple[TicketRow, tuple]] = {}
        self._status_cells: dict[Status, Text] = {}
        self._status_theme: dict[str, str] | None = None
        self._styles: dict[str, Style] = {}
        self._header: Strip | None = None
        self._header_key: tuple = ()

    # ------------------------------------------------------------- contents

    @property
    def rows(self) -> list[TicketRow]:
        return self.window.rows

    @property
    def row_count(self) -> int:
        return len(self.window.rows)

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
        self._rebuild(cursor_id=current, top=not keep_cursor)

    def current_id(self) -> int | None:
        row = self.current_row()
        return row.id if row else None

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
        self._keys.pop(tid, None)
        self.refresh_line(self.cursor_row + 1)
        self.post_message(self.WindowChanged(self))

    def select_all(self) -> None:
        self.selected.update(r.id for r in self.window.rows)
        self._refresh_marks()

    def clear_selection(self) -> None:
        self.selected.clear()
        self._refresh_marks()

    def _refresh_marks(self) -> None:
        self._keys.clear()
        self.refresh()
        self.post_message(self.WindowChanged(self))

    def _mark(self, tid: int) -> Text:
        return Text("✓", style="bold", end="") if tid in self.selected else Text(" ", end="")

    def refresh_rows(self) -> None:
        """Re-render every row (the clock moved, or the theme changed)."""
        self._row_cache.clear()
        self._strip_cache.clear()
        self._status_cells.clear()
        self._keys.clear()
        self._header = None
        self.refresh()

    def cells(self, index: int) -> list[Text]:
        """The cells of row *index* as Text (what the row shows)."""
        return self._cells(self.window.rows[index])

    def _status_cell(self, status: Status) -> Text:
        """The status cell, built once per status and theme (callers copy before changing it)."""
        theme = self.app.theme_variables if self.is_attached else None
        if theme is not self._status_theme:
            self._status_cells.clear()
            self._status_theme = theme
        cell = self._status_cells.get(status)
        if cell is None:
            cell = self._status_cells[status] = status_text(status, theme, short=True)
        return cell

    def _cells(self, row: TicketRow) -> list[Text]:
        out: list[Text] = []
        now = self.now()
        for col in self.shown:
            if col == "mark":
                out.append(self._mark(row.id))
            elif col == "status":
                out.append(self._status_cell(row.status))
            elif col == "id":
                out.append(Text(f"#{row.id}", justify="right", end=""))
            elif col == "requester":
                out.append(_line(row.requester, FIXED_WIDTHS["requester"]))
            elif col == "details":
                width = self._details_width
                cell = _line(row.subject, width, style="bold")
                cell.truncate(width, overflow="ellipsis")
                room = width - cell.cell_len - 3
                if room > 4 and row.preview:
                    cell.append(" — ", style="dim")
                    preview = _line(row.preview, room, style="dim")
                    preview.truncate(room, overflow="ellipsis")
                    cell.append_text(preview)
                out.append(cell)
            elif col == "assignee":
                out.append(_line(row.assignee, FIXED_WIDTHS["assignee"]) if row.assignee
                           else Text("—", style="dim", end=""))
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
        self._widths = [self._details_width if c == "details" else FIXED_WIDTHS[c] for c in self.shown]
        self._layout_key = (self.shown, self._details_width)
        self._keys.clear()

    def _rebuild(self, cursor_id: int | None = None, cursor_row: int | None = None, top: bool = False) -> None:
        self._layout()
        rows = self.window.rows
        self.virtual_size = Size(self.size.width or 1, len(rows) + 1)
        target = 0
        if cursor_row is not None:
            target = cursor_row
        elif cursor_id is not None:
            target = next((i for i, r in enumerate(rows) if r.id == cursor_id), 0)
        target = max(0, min(target, len(rows) - 1)) if rows else 0
        if top:
            self.scroll_to(y=0, animate=False, immediate=True)
        self.cursor_row = target
        self.refresh()
        self.post_message(self.WindowChanged(self))

    def on_resize(self) -> None:
        before = self._layout_key
        self._layout()
        self.virtual_size = Size(self.size.width or 1, len(self.window.rows) + 1)
        if self._layout_key != before:
            # Rows drawn for the old layout are not shown again soon.
            self._row_cache.clear()
            self._strip_cache.clear()
            self.refresh()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda *_: self.refresh_rows())

    # ------------------------------------------------------------ rendering

    def _row_text(self, cells: list[Text]) -> Text:
        out = Text(no_wrap=True, end="")
        for width, cell in zip(self._widths, cells):
            if cell.justify == "right" and cell.cell_len < width:
                cell = Text(" " * (width - cell.cell_len), end="") + cell
            else:
                cell = cell.copy()
            cell.truncate(width, overflow="ellipsis", pad=True)
            out.append(" ")
            out.append_text(cell)
            out.append(" ")
        return out

    def _segments(self, text: Text) -> list[Segment]:
        return list(text.render(self.app.console))

    def notify_style_update(self) -> None:
        self._styles.clear()
        self._strip_cache.clear()
        self._header = None
        super().notify_style_update()

    def _style(self, name: str) -> Style:
        """Rich styles of the widget and its parts, looked up once per style change."""
        style = self._styles.get(name)
        if style is None:
            base = self.rich_style
            style = base if name == "base" else base + self.get_component_rich_style(f"ticket-table--{name}")
            self._styles[name] = style
        return style

    @staticmethod
    def _fit(segments: list[Segment], length: int, style: Style, width: int) -> Strip:
        """The row styled and padded (or cropped) to *width*, as one Strip instead of a chain of them."""
        styled = list(Segment.apply_style(segments, style))
        if length < width:
            styled.append(Segment(" " * (width - length), style))
            return Strip(styled, width)
        strip = Strip(styled, length)
        return strip if length == width else strip.crop(0, width)

    def _key_for(self, row: TicketRow) -> tuple:
        memo = self._keys.get(row.id)
        if memo is not None and memo[0] is row:
            return memo[1]
        key = self._row_key(row)
        if len(self._keys) >= ROW_CACHE:
            self._keys.clear()
        self._keys[row.id] = (row, key)
        return key

    def _row_key(self, row: TicketRow) -> tuple:
        """What a rendered row depends on besides the theme and the widget's styles."""
        now = self.now()
        return (row, row.id in self.selected, humanise(row.created_at, now), humanise(row.updated_at, now),
                self._layout_key)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            key = (self._layout_key, self.sort_key, self.sort_descending, width)
            if self._header is None or key != self._header_key:
                header = self._row_text([self._column_label(c) for c in self.shown])
                style = self._style("header")
                self._header = Strip(self._segments(header)).apply_style(style).extend_cell_length(width, style)
                self._header_key = key
            return self._header.crop(0, width)
        index = self.scroll_offset.y + y - 1
        rows = self.window.rows
        if not 0 <= index < len(rows):
            return Strip.blank(width, self._style("base"))
        row = rows[index]
        if index == self.cursor_row:
            kind = "cursor" if self.has_focus else "cursor-blurred"
        elif index == self.hover_row:
            kind = "hover"
        else:
            kind = "base"
        row_key = self._key_for(row)
        key = (row_key, kind, width)
        strip = self._strip_cache.get(key)
        if strip is None:
            cached = self._row_cache.get(row_key)
            if cached is None:
                segments = self._segments(self._row_text(self._cells(row)))
                cached = (segments, Segment.get_line_length(segments))
                if len(self._row_cache) >= ROW_CACHE:
                    self._row_cache.clear()
                self._row_cache[row_key] = cached
            strip = self._fit(*cached, self._style(kind), width)
            if len(self._strip_cache) >= ROW_CACHE:
                self._strip_cache.clear()
            self._strip_cache[key] = strip
        return strip

    # --------------------------------------------------------------- cursor

    def validate_cursor_row(self, value: int) -> int:
        return max(0, min(value, len(self.window.rows) - 1)) if self.window.rows else 0

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.refresh_line(old + 1)
        self.refresh_line(new + 1)
        self._scroll_cursor_visible()
        self._maybe_fetch_more()
        self.post_message(self.WindowChanged(self))

    def watch_hover_row(self, old: int, new: int) -> None:
        self.refresh_line(old + 1)
        self.refresh_line(new + 1)

    def _on_focus(self, event) -> None:
        self.refresh_line(self.cursor_row + 1)

    def _on_blur(self, event) -> None:
        self.refresh_line(self.cursor_row + 1)

    def _scroll_cursor_visible(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        row = self.cursor_row
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=False, immediate=True)

    def move_cursor(self, row: int, animate: bool = False, scroll: bool = True) -> None:
        self.cursor_row = row

    def action_cursor_down(self) -> None:
        self.cursor_row += 1

    def action_cursor_up(self) -> None:
        self.cursor_row -= 1

    def action_select_cursor(self) -> None:
        tid = self.current_id()
        if tid is not None:
            self.post_message(self.RowSelected(self, tid))

    # ---------------------------------------------------------------- mouse

    def _column_at(self, x: int) -> str | None:
        pos = 0
        for col, width in zip(self.shown, self._widths):
            if pos <= x < pos + width + 2:
                return col
            pos += width + 2
        return None

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            col = self._column_at(event.x + int(self.scroll_offset.x))
            if col and col in COLUMN_SORT:
                self.post_message(self.HeaderSelected(self, col))
            return
        index = int(self.scroll_offset.y) + event.y - 1
        if 0 <= index < len(self.window.rows):
            if index == self.cursor_row and event.chain == 1 and self.has_focus:
                self.action_select_cursor()
            self.cursor_row = index
            self.focus()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        index = int(self.scroll_offset.y) + event.y - 1 if event.y > 0 else -1
        self.hover_row = index if 0 <= index < len(self.window.rows) else -1

    def on_leave(self, event: events.Leave) -> None:
        self.hover_row = -1

    def on_worker_state_changed(self, event) -> None:
        report = getattr(self.app, "report_worker", None)
        if report is not None:
            report(event)

    # --------------------------------------------------------------- paging

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

    # -------------------------------------------------------------- actions

    def action_first(self) -> None:
        self.jump_to_start()

    def action_last(self) -> None:
        self.jump_to_end()

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_half_page_down(self) -> None:
        self.cursor_row += self._visible_rows() // 2

    def action_half_page_up(self) -> None:
        self.cursor_row -= self._visible_rows() // 2

    def action_page_down(self) -> None:
        self.cursor_row += self._visible_rows()

    def action_page_up(self) -> None:
        self.cursor_row -= self._visible_rows()

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
