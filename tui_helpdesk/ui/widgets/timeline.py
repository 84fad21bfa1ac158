"""The ticket timeline: messages, replies, notes and events in one scrolling column.

Long threads stay fast because only the newest entries are mounted; older ones
are fetched a page at a time when the agent scrolls past the top or presses the
"load older" key (the screen does the fetching and calls :meth:`Timeline.prepend`).

How an entry reads is :mod:`.entry_text`'s business, how the entries become
lines :mod:`.timeline_layout`'s; this module holds what the entries are, the
cursor, the keys and the mouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.scroll_view import ScrollView

from ...domain.delivery import Delivery
from ...domain.model import TimelineEntry
from ..keymap import bindings
from ..keys import TIMELINE_KEYS
from .entry_text import Translated, entry_texts
from .timeline_layout import BlockLayout, Block


class Timeline(BlockLayout, ScrollView, can_focus=True):
    """The entries of one ticket, oldest at the top, with a cursor on one entry.

    A Line API widget: each entry is rendered to strips once per width (and
    again when its fold or cursor state changes), and only the visible lines
    are drawn, so hundreds of entries cost little. Styles come from the
    component classes below, set in the app's .tcss, so themes apply.
    """

    COMPONENT_CLASSES = {
        "timeline--marker",
        "timeline--more",
        "timeline--message",
        "timeline--reply",
        "timeline--note",
        "timeline--event",
        "timeline--bar-message",
        "timeline--bar-reply",
        "timeline--bar-note",
        "timeline--bar-event",
        "timeline--cursor",
        "timeline--cursor-bar",
    }
    BINDINGS = bindings(TIMELINE_KEYS)

    @dataclass
    class LoadOlder(Message):
        """The agent wants the entries before ``before_id``."""

        timeline: "Timeline"
        before_id: int

        @property
        def control(self) -> "Timeline":
            return self.timeline

    def __init__(self, now: Callable[[], datetime], *, id: str | None = None):
        super().__init__(id=id)
        self._now = now
        self.blocks: list[Block] = []
        self._starts: list[int] = []  # first line of each block (line 0 is the marker)
        self._width = 0
        self.total = 0
        self.cursor = -1
        self.loading_older = False
        self._at_end = True  # scrolled to the newest line (kept there on resize)
        self._styles: tuple | None = None  # the styles the entries were drawn with
        self._pending_scheduled = False  # blocks wait to be rendered, and a step is queued
        self._style_memo: dict[str, Style] = {}
        self._laying_out = False
        self.delivery: dict[int, Delivery] = {}  # reply entry id -> how far it got
        self.hints: dict[str, str] = {}  # "attachments" / "resend" -> the key that does it, shown on entries
        self.translations: dict[int, Translated] = {}  # customer message id -> its translation as shown

    # ------------------------------------------------------------- contents

    @property
    def entries(self) -> list[TimelineEntry]:
        return [b.entry for b in self.blocks]

    @property
    def first_id(self) -> int:
        return self.blocks[0].entry.id if self.blocks else 0

    @property
    def last_id(self) -> int:
        return self.blocks[-1].entry.id if self.blocks else 0

    @property
    def has_older(self) -> bool:
        return len(self.blocks) < self.total

    @property
    def current_entry(self) -> TimelineEntry | None:
        """The entry under the cursor."""
        return self.blocks[self.cursor].entry if 0 <= self.cursor < len(self.blocks) else None

    def index_of(self, entry_id: int) -> int:
        return next((i for i, b in enumerate(self.blocks) if b.entry.id == entry_id), -1)

    def entry_text(self, index: int) -> str:
        """The plain text entry *index* shows now (for tests and screen readers)."""
        block = self.blocks[index]
        return entry_texts(block.entry, self._now(), expanded=block.expanded, parts=block.parts,
                           delivery=self.delivery.get(block.entry.id), hints=self.hints,
                           translation=self.translations.get(block.entry.id)).plain

    def set_translation(self, entry_id: int, translation: Translated | None) -> None:
        """Show (or stop showing) a message's translation; only that entry is drawn again."""
        self.set_translations({entry_id: translation})

    def set_translations(self, changes: dict[int, Translated | None]) -> None:
        """Several at once, with one layout: the entries whose translation changed are drawn again."""
        changed = False
        for entry_id, translation in changes.items():
            if self.translations.get(entry_id) == translation:
                continue
            if translation is None:
                self.translations.pop(entry_id, None)
            else:
                self.translations[entry_id] = translation
            changed = True
        if not changed:
            return
        for block in self.blocks:
            if block.entry.id in changes:
                block.key = None
        self._relayout()

    def set_delivery(self, delivery: dict[int, Delivery]) -> None:
        """Show each reply's delivery state; only the entries whose state changed are drawn again."""
        old, self.delivery = self.delivery, delivery
        changed = False
        for block in self.blocks:
            entry_id = block.entry.id
            if old.get(entry_id) != delivery.get(entry_id):
                block.key = None
                changed = True
        if changed:
            self._relayout()

    def marker_text(self) -> Text:
        older = self.total - len(self.blocks)
        if self.loading_older:
            return Text("▲ loading older entries…", style="italic", end="")
        if older > 0:
            noun = "entry" if older == 1 else "entries"
            return Text(f"▲ {older} older {noun} — press o or scroll up to load", style="italic", end="")
        return Text("— start of the ticket —", end="")

    def show(self, entries: list[TimelineEntry], total: int) -> None:
        """Replace everything with *entries* (the newest page) out of *total*."""
        self.blocks = [Block(e) for e in entries]
        self.total = max(total, len(self.blocks))
        self.cursor = len(self.blocks) - 1
        self.loading_older = False
        self._at_end = True
        self._anchor_released = False
        self._relayout()
        if not self._width and not self.show_vertical_scrollbar and self.styles.overflow_y == "auto":
            # Not laid out yet: the first layout places the scrollbar these entries will
            # need (it finds out only after placing everything, and would lay out again).
            lines = sum(self._height_hint(block) for block in self.blocks)
            if lines > self.app.size.height:
                self.set_reactive(Timeline.show_vertical_scrollbar, True)
        self._to_end()

    def prepend(self, entries: list[TimelineEntry]) -> None:
        """Older entries arrived: put them above, keeping what the agent looks at in place."""
        self.loading_older = False
        first = self.first_id
        new = [Block(e) for e in entries if not self.blocks or e.id < first]
        if not new:
            self.total = len(self.blocks)
            self.refresh()
            return
        anchor = self._anchor()
        self.blocks[:0] = new
        self.cursor += len(new)
        self._relayout(anchor=None if anchor is None else (anchor[0] + len(new), anchor[1]))

    def append(self, entries: list[TimelineEntry]) -> int:
        """Newer entries arrived (live, or just sent); returns how many were new."""
        last = self.last_id
        new = [Block(e) for e in entries if e.id > last]
        if not new:
            return 0
        at_end = self.cursor >= len(self.blocks) - 1 or self.scroll_y >= self.max_scroll_y - 1
        self.blocks.extend(new)
        self.total += len(new)
        if at_end:
            self.cursor = len(self.blocks) - 1
            self._at_end = True
        self._relayout()
        if at_end:
            self._to_end()
        return len(new)

    def _to_end(self) -> None:
        # force: before the first layout with the new height there is no scrollbar yet,
        # and an unforced scroll would be ignored. The anchor keeps the end in view
        # through the layout that follows (the composer opening, a resize).
        self._anchor_released = False
        self.scroll_end(animate=False, immediate=True, force=True)
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True, force=True)

    def refresh_times(self) -> None:
        """Redraw the "3m ago" labels."""
        self._invalidate()
        self._relayout()

    # --------------------------------------------------------------- cursor

    def _span(self, index: int) -> tuple[int, int]:
        start = self._starts[index]
        return start, start + (self._heights[index] if index < len(self._heights) else 0)

    def _set_cursor(self, index: int, *, scroll: bool = True) -> None:
        if not self.blocks:
            self.cursor = -1
            return
        index = max(0, min(index, len(self.blocks) - 1))
        old, self.cursor = self.cursor, index
        if self._width:
            self._render_now({old, index})
        if scroll and self._starts:
            self._scroll_to_block(index)

    def _scroll_to_block(self, index: int) -> None:
        top, bottom = self._span(index)
        height = self.scrollable_content_region.height or self.size.height
        if bottom - top >= height or top < self.scroll_y:
            self.scroll_to(y=top, animate=False, immediate=True)
        elif bottom > self.scroll_y + height:
            self.scroll_to(y=bottom - height, animate=False, immediate=True)

    def select(self, index: int, *, toggle: bool = False) -> None:
        """Put the cursor on entry *index* (and open / fold its history)."""
        self._set_cursor(index)
        if toggle:
            self.action_toggle_fold()

    def request_older(self) -> None:
        if self.has_older and not self.loading_older and self.blocks:
            self.loading_older = True
            self.refresh()
            self.post_message(self.LoadOlder(self, self.first_id))

    # -------------------------------------------------------------- actions

    def action_cursor_down(self) -> None:
        if 0 <= self.cursor < len(self.blocks) and self._starts:
            _, bottom = self._span(self.cursor)
            if bottom > self.scroll_y + self._viewport():
                self.scroll_to(y=self.scroll_y + 3, animate=False, immediate=True)
                return
        self._set_cursor(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self._lay_out_due(moved_up=True)
        if 0 <= self.cursor < len(self.blocks) and self._starts:
            top, _ = self._span(self.cursor)
            if top < self.scroll_y:
                self.scroll_to(y=max(0, self.scroll_y - 3), animate=False, immediate=True)
                return
        if self.cursor <= 0:
            self.scroll_to(y=0, animate=False, immediate=True)
            self.request_older()
            return
        self._set_cursor(self.cursor - 1)

    def action_first(self) -> None:
        self._set_cursor(0, scroll=False)
        self.scroll_home(animate=False, immediate=True)

    def action_last(self) -> None:
        self._set_cursor(len(self.blocks) - 1, scroll=False)
        self._to_end()

    def action_half_page(self, direction: int) -> None:
        if direction < 0:
            self._lay_out_due(moved_up=True)
        self.scroll_to(y=self.scroll_y + direction * max(1, self._viewport() // 2), animate=False, immediate=True)

    def action_page(self, direction: int) -> None:
        if direction < 0:
            self._lay_out_due(moved_up=True)
        self.scroll_to(y=self.scroll_y + direction * max(1, self._viewport() - 1), animate=False, immediate=True)

    def action_load_older(self) -> None:
        self.request_older()

    def action_toggle_fold(self) -> None:
        if 0 <= self.cursor < len(self.blocks):
            block = self.blocks[self.cursor]
            if block.parts.quoted:
                block.expanded = not block.expanded
                self._relayout()
                self._scroll_to_block(self.cursor)

    # ------------------------------------------------------------------ mouse

    def on_click(self, event: events.Click) -> None:
        line = int(self.scroll_y) + event.y
        index = self._block_at(line)
        if index < 0:
            self.request_older()
            return
        if index >= len(self.blocks):
            return
        self._set_cursor(index, scroll=False)
        if line - self._starts[index] == self.blocks[index].fold_line:
            self.action_toggle_fold()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._at_end = new_value >= self.max_scroll_y
        if new_value < old_value and self._layout_due and not self._laying_out:
            # Up (the wheel, the scrollbar) towards entries drawn in the background: lay them
            # out around where the view was, then make the move from there.
            if self._lay_out_due(moved_up=True, anchor=self._anchor(old_value)):
                self.scroll_to(y=self.scroll_y - (old_value - new_value), animate=False, immediate=True)
            return
        # Scrolled to the very top by the agent (not by the first layout), with every
        # loaded entry drawn: the older ones are wanted.
        # (A layout that shrinks the content clamps the position to 0 with nothing to scroll.)
        if new_value <= 0 < old_value and not self._pending_scheduled and not self._laying_out \
                and self.max_scroll_y > 0:
            self.request_older()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self._layout_due:
            self._lay_out_due(moved_up=True)
        elif self.scroll_y <= 0:
            self.request_older()
