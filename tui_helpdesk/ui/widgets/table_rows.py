"""The ticket table's rows: which columns fit, and each row rendered once into cached strips.

:class:`RowRendering` is the part of :class:`~.table.TicketTable` that turns a
``TicketRow`` into a line of the Line API. Rendered rows are cached by what
they show (the row itself, its mark, its ages, the column layout), not by
position or view: switching views, or back, reuses every row already drawn,
and a row that changed is a new key.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from ...domain.model import Status, TicketRow
from ...domain.query import SortKey
from ...domain.text import one_line
from ..text import humanise, status_text

# Rendered rows (and their strips) kept across windows and views; past it the cache starts over.
ROW_CACHE = 4000

COLUMN_TITLES = {
    "mark": " ", "status": "Status", "id": "#", "requester": "Requester", "details": "Details",
    "assignee": "Assignee", "created": "Created", "updated": "Updated",
}
COLUMN_SORT = {
    "status": SortKey.STATUS, "id": SortKey.ID, "requester": SortKey.REQUESTER, "details": SortKey.SUBJECT,
    "assignee": SortKey.ASSIGNEE, "created": SortKey.CREATED, "updated": SortKey.UPDATED,
}
FIXED_WIDTHS = {"mark": 1, "status": 11, "id": 6, "requester": 16, "assignee": 10, "created": 8, "updated": 8}
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



class RowRendering:
    """Cells, layout and ``render_line`` of the ticket table (a mixin of :class:`~.table.TicketTable`).

    Each row is rendered once into segments and cached; a frame is the visible
    rows' cached strips, so a cursor move or a new page costs the same at any
    view size. Line 0 is the header; rows scroll beneath it.
    """

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

