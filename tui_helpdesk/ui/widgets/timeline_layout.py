"""How the timeline lays its entries out as lines: each entry rendered to strips, lazily.

:class:`BlockLayout` is the Line API half of
:class:`~tui_helpdesk.ui.widgets.timeline.Timeline`: every entry is a
:class:`Block` rendered to strips once per width (and again when its fold,
cursor or delivery changes); a layout renders what is in view at once and the
rest a few blocks at a time after the frame is out, keeping whatever the agent
looks at in place. The blocks drawn in the background take their place in one
layout once all are drawn, so they cost no frame of their own; and while the
agent reads below them (an opening ticket shows its newest entries) that
layout waits until the view moves up towards them, so an open settles in the
frames its own reads need, not in one more for lines nobody sees. Only the
visible lines are drawn, so hundreds of entries cost little. It is a mixin
placed before ``ScrollView`` in the timeline's bases: its ``render_line``,
``_size_updated`` and ``notify_style_update`` override the scroll view's.
"""

from __future__ import annotations

from bisect import bisect_right

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip

from ...domain.model import EntryKind, TimelineEntry
from .entry_text import Parts, entry_parts, entry_texts

BAR = "▌"


class Block:
    """One entry and its rendered lines at the current width (rendered on demand)."""

    __slots__ = ("entry", "_parts", "expanded", "strips", "key", "fold_line")

    def __init__(self, entry: TimelineEntry):
        self.entry = entry
        self._parts: Parts | None = None
        self.expanded = False
        self.strips: list[Strip] = []
        self.key: tuple | None = None  # what the strips were rendered for; None: not drawn (yet, or any more)
        self.fold_line = -1  # index in strips of the fold line, -1 if none

    @property
    def parts(self) -> Parts:
        """The body cleaned and split from its quoted history (once, when first needed)."""
        if self._parts is None:
            self._parts = entry_parts(self.entry)
        return self._parts

    @property
    def height(self) -> int:
        """Lines on screen; a block waiting to be rendered takes none."""
        return len(self.strips) if self.key is not None else 0


class BlockLayout:
    """Rendering, laying out and drawing the timeline's blocks (mixed into the Timeline widget)."""

    # Blocks are rendered to strips lazily: a layout renders the ones on screen
    # (and a few lines around them) at once, and leaves the others for
    # :meth:`_render_pending`, which runs a few at a time after the frame is out.
    # A block not rendered yet takes no lines; whatever the agent is looking at
    # (the newest line, or the top line on screen) stays in place as the others
    # arrive above it. Blocks drawn in the background are laid out together
    # once the last one is drawn: a layout per step moved the scrollbar (a
    # frame) each time for lines nobody sees. While the layout is held
    # (:meth:`hold_layout`, an opening screen folding what follows its first
    # frame into one more) they wait for :meth:`release_layout`; and when the
    # view is not near them (reading the newest entries below) they wait for the
    # view to move up (:meth:`_lay_out_due`), or for any other layout.

    CHUNK = 4  # blocks rendered per step in the background (each step keeps the loop a few ms)
    NEAR_TOP = 2  # lines: a view this close to the top of what is laid out lays out what was drawn above
    _heights: list[int] = []  # each block's lines as last laid out (what is drawn)
    _hold = False
    _layout_due = False

    def hold_layout(self) -> None:
        """The blocks out of view wait for :meth:`release_layout` to be drawn and laid out
        (an opening screen's own reads come first)."""
        self._hold = True

    def release_layout(self) -> None:
        """Draw the blocks still waiting (in the background), lay out what is drawn if the view is near it."""
        self._hold = False
        if any(block.key is None for block in self.blocks):
            self._schedule_pending()
        self._lay_out_due()

    def _lay_out_due(self, *, moved_up: bool = False, anchor: tuple[int, int] | None | bool = False) -> bool:
        """Lay out the blocks drawn in the background, if some wait and the view wants them:
        it is at the top of what is laid out, or (*moved_up*) the agent is going up.
        The view stays where it is (at *anchor*, if given). True when it laid out."""
        if self._layout_due and not self._hold and not self._laying_out \
                and (moved_up or int(self.scroll_y) <= self.NEAR_TOP):
            self._reflow(self._anchor() if anchor is False else anchor)
            return True
        return False

    def _content_width(self) -> int:
        return self.scrollable_content_region.width or self.size.width

    def _viewport(self) -> int:
        return self.scrollable_content_region.height or self.size.height or 24

    def _anchor(self, top: float | None = None) -> tuple[int, int] | None:
        """(block, line in it) at the top of the view (or at line *top*), or None when reading
        the newest entries."""
        if (top is None and self._at_end) or not self._starts or not self.blocks:
            return None
        top = int(self.scroll_y if top is None else top)
        index = self._block_at(top)
        if index < 0:
            return (0, -1)  # the marker line
        return (index, top - self._starts[index])

    def _relayout(self, anchor: tuple[int, int] | None | bool = False) -> None:
        """Render what is in view, work out where every block starts, keep the view in place."""
        width = self._content_width()
        self._width = width
        if width <= 0:
            self.virtual_size = Size(0, len(self.blocks) + 1)
            return
        if anchor is False:
            anchor = self._anchor()
        for index in self._near(anchor):
            self._render_block(index, self.blocks[index], width)
        if 0 <= self.cursor < len(self.blocks):
            self._render_block(self.cursor, self.blocks[self.cursor], width)
        self._reflow(anchor)
        if any(block.key is None for block in self.blocks):
            self._schedule_pending()

    def _near(self, anchor: tuple[int, int] | None) -> range:
        """Indexes of the blocks to render now: what is in view, and a screenful above it."""
        n = len(self.blocks)
        want = self._viewport() + 4
        if anchor is None:  # the newest lines: from the end upwards
            lines, i = 0, n
            while i > 0 and lines < want:
                i -= 1
                lines += self._height_hint(self.blocks[i])
            return range(i, n)
        first = max(0, anchor[0])
        lines, i = 0, first
        while i > 0 and lines < self._viewport():
            i -= 1
            lines += self._height_hint(self.blocks[i])
        lines, j = 0, first
        while j < n and lines < want:
            lines += self._height_hint(self.blocks[j])
            j += 1
        return range(i, j)

    def _height_hint(self, block: Block) -> int:
        if block.key is not None:
            return block.height
        if block.strips:
            return len(block.strips)  # drawn before at another width: about as tall
        body = block.entry.body or ""
        width = max(20, self._width - 3)
        return 2 + sum(len(line) // width + 1 for line in body.split("\n", 200))

    def _reflow(self, anchor: tuple[int, int] | None) -> None:
        """Where each block starts, the virtual height, and the scroll position that keeps *anchor*."""
        self._laying_out = True
        try:
            self._reflow_now(anchor)
        finally:
            self._laying_out = False

    def _reflow_now(self, anchor: tuple[int, int] | None) -> None:
        self._layout_due = False
        starts = []
        heights = []
        y = 1  # line 0: the marker
        for block in self.blocks:
            starts.append(y)
            height = block.height
            heights.append(height)
            y += height
        self._starts = starts
        self._heights = heights
        self.virtual_size = Size(self._width, y)
        if anchor is None:
            if self.is_mounted and self.scroll_y != self.max_scroll_y:
                self.scroll_end(animate=False, immediate=True, force=True)
        elif self.blocks:
            index, offset = anchor
            index = min(index, len(self.blocks) - 1)
            target = 0 if offset < 0 else starts[index] + min(offset, max(0, self.blocks[index].height - 1))
            if int(self.scroll_y) != target:
                self.scroll_to(y=target, animate=False, immediate=True, force=True)
        self.refresh()

    def _schedule_pending(self) -> None:
        if not self._pending_scheduled and not self._hold:
            self._pending_scheduled = True
            self.call_after_refresh(self._render_pending)

    def _render_pending(self) -> None:
        """Render a few of the blocks not drawn yet, nearest to the view first."""
        self._pending_scheduled = False
        if not self.is_attached or self._width <= 0:
            return
        pending = [i for i, block in enumerate(self.blocks) if block.key is None]
        if pending:
            middle = self._block_at(int(self.scroll_y) + self._viewport() // 2)
            pending.sort(key=lambda i: abs(i - middle))
            for index in pending[:self.CHUNK]:
                self._render_block(index, self.blocks[index], self._width)
            if len(pending) > self.CHUNK:
                self._pending_scheduled = True
                self.call_later(self._render_pending)
                return
            # All drawn: one layout for all of them (they are not drawn until it runs).
            self._layout_due = True
        self._lay_out_due()

    def _render_block(self, index: int, block: Block, width: int) -> bool:
        """Render *block* if what it shows changed; returns True when its height changed."""
        cursor = index == self.cursor
        delivery = self.delivery.get(block.entry.id)
        translation = self.translations.get(block.entry.id)
        key = (width, block.expanded, cursor, cursor and self.has_focus, delivery, translation)
        if block.key == key:
            return False
        before = block.height
        block.key = key
        kind = block.entry.kind.value
        style = self._style
        base = style() + style(f"timeline--{kind}")
        if cursor and self.has_focus:
            base += style("timeline--cursor")
        bar_style = base + style("timeline--cursor-bar" if cursor else f"timeline--bar-{kind}")
        texts = entry_texts(block.entry, self._now(), expanded=block.expanded, parts=block.parts, delivery=delivery,
                            hints=self.hints, translation=translation)
        inner = max(8, width - 3)
        console = self.app.console
        options = console.options.update_width(inner)
        strips: list[Strip] = []
        if block.entry.kind is not EntryKind.EVENT:
            strips.append(Strip.blank(width, style()))
        bar = Segment(BAR, bar_style)
        pad = Segment(" ", base)
        block.fold_line = -1
        for part in (texts.main, texts.fold, texts.quoted):
            if part is None:
                continue
            if part is texts.fold:
                block.fold_line = len(strips)
            for line in console.render_lines(part, options, style=base, pad=True):
                strip = Strip([bar, pad, *line, pad], inner + 3)
                # Exactly *width* cells, so drawing needs no crop (a Strip is not free to make).
                strips.append(strip if inner + 3 == width else strip.crop_extend(0, width, base))
        block.strips = strips
        return len(strips) != before

    def _block_at(self, line: int) -> int:
        """Index of the block drawn at virtual *line*, or -1 for the marker."""
        if line < 1 or not self._starts:
            return -1
        return max(0, bisect_right(self._starts, line) - 1)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        line = scroll_y + y
        if self._width != self._content_width():
            self._invalidate()
            self._relayout()
            scroll_x, scroll_y = self.scroll_offset
            line = scroll_y + y
        if line == 0:
            style = self._style() + self._style(
                "timeline--more" if self.has_older or self.loading_older else "timeline--marker")
            text = self.marker_text()
            text.justify = "center"
            segments = self.app.console.render_lines(text, self.app.console.options.update_width(max(1, width)),
                                                      style=style, pad=True)[0]
            return Strip(segments).crop_extend(0, width, style)
        index = self._block_at(line)
        if index < 0 or index >= len(self.blocks):
            return Strip.blank(width, self._style())
        block = self.blocks[index]
        offset = line - self._starts[index]
        if index >= len(self._heights) or offset >= self._heights[index]:
            return Strip.blank(width, self._style())
        strip = block.strips[offset]
        if scroll_x == 0 and strip.cell_length == width:
            return strip
        return strip.crop_extend(scroll_x, scroll_x + width, self._style())

    def _invalidate(self) -> None:
        """Every block is drawn again (lazily): new width, new styles, new times."""
        for block in self.blocks:
            block.key = None

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        # Called by the layout, before the frame is drawn (a Resize event comes after it):
        # lay the entries out for the new width now, so the first frame at a new size
        # already shows them in place, the newest line in view.
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        if self.blocks and self._content_width() != self._width:
            self._invalidate()
            self._relayout()
        return changed

    def on_mount(self) -> None:
        # Textual's anchor: while the newest line is in view, a layout (the composer
        # opening, older entries rendered above) keeps it there, in the same frame.
        self._anchored = True

    def on_resize(self) -> None:
        if self._content_width() != self._width:
            self._invalidate()
            self._relayout()
        if self._at_end:
            # Reading the newest entries when the composer opened: keep them in view.
            self._to_end()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_memo.clear()
        # Called on every pseudo-class change (focus, hover); re-render only when a
        # style the entries use changed (a theme switch, a new stylesheet).
        styles = self._styles_key() if self.is_mounted else None
        if styles != self._styles:
            self._styles = styles
            self._invalidate()
            if self.is_mounted:
                self._relayout()

    def _styles_key(self) -> tuple:
        self._style_memo.clear()
        names = sorted(n for n in self.COMPONENT_CLASSES if n not in ("timeline--cursor", "timeline--cursor-bar"))
        return (self._style(), *(self._style(n) for n in names))

    def _style(self, name: str = "") -> Style:
        """The widget's style (no *name*) or a component class's, worked out once per style change."""
        style = self._style_memo.get(name)
        if style is None:
            style = self._style_memo[name] = self.get_component_rich_style(name) if name else self.rich_style
        return style

    def on_focus(self) -> None:
        self._redraw_cursor()

    def on_blur(self) -> None:
        self._redraw_cursor()

    def _redraw_cursor(self) -> None:
        if 0 <= self.cursor < len(self.blocks) and self._width:
            self._render_now([self.cursor])

    def _render_now(self, indexes) -> None:
        """Render these blocks at once (the cursor's); their neighbours keep their place."""
        anchor = self._anchor()
        changed = False
        for i in indexes:
            if 0 <= i < len(self.blocks):
                changed |= self._render_block(i, self.blocks[i], self._width)
        if changed:
            self._reflow(anchor)
        else:
            self.refresh()
