"""The ticket table: a window of a view, fetched a page at a time.

:class:`TicketTable` is the scrolling widget: its cursor, selection, mouse,
keys and messages. What it shows comes from two parts beside it: the window of
the view and its paging (``table_window``), and the rows rendered into cached
strips (``table_rows``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...domain.views import Page
from ...domain.model import Status, TicketRow
from ...domain.query import SortKey
from .. import keymap
from ..keys import TABLE_KEYS
from .table_rows import COLUMN_SORT, RowRendering
from .table_window import Fetch, Window, WindowPaging


class TicketTable(RowRendering, WindowPaging, ScrollView, can_focus=True):
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
