"""The ticket timeline: messages, replies, notes and events in one scrolling column.

Long threads stay fast because only the newest entries are mounted; older ones
are fetched a page at a time when the agent scrolls past the top or presses the
"load older" key (the screen does the fetching and calls :meth:`Timeline.prepend`).

Untrusted text (bodies, author names, filenames) reaches the terminal only as
``rich.text.Text`` built from :func:`tui_helpdesk.domain.text.clean` output,
never as markup, through the helpers at the top of this module.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...domain.mentions import _MENTION as MENTION_RE  # the same rule the service uses
from ...domain.model import EntryKind, TimelineEntry
from ...domain.text import clean, one_line
from ..keymap import bindings
from ..keys import Key
from .attachments import attachments_of, human_size

# --------------------------------------------------------------- safe text


def safe_text(value: object, style: str = "") -> Text:
    """Untrusted multi-line text as Text: cleaned, never parsed as markup."""
    return Text(clean(None if value is None else str(value)), style=style, end="")


def safe_line(value: object, limit: int | None = None, style: str = "") -> Text:
    """Untrusted text for one line (a name, a subject, a filename)."""
    return Text(one_line(None if value is None else str(value), limit), style=style, no_wrap=True, end="")


# ------------------------------------------------------------------ times


def local(at: datetime) -> datetime:
    """Stored times are naive UTC; show them in the terminal's time zone."""
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone()


def ago(at: datetime, now: datetime) -> str:
    seconds = (now - at).total_seconds()
    if seconds < 45:
        return "just now"
    for size, unit in ((86400 * 365, "y"), (86400 * 30, "mo"), (86400 * 7, "w"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def when(at: datetime, now: datetime) -> str:
    """``Mar 02 09:15 · 3h ago`` (the year is added when it is not this year's)."""
    shown = local(at)
    fmt = "%b %d %H:%M" if shown.year == local(now).year else "%Y %b %d %H:%M"
    return f"{shown.strftime(fmt)} · {ago(at, now)}"


# --------------------------------------------------------- quoted history

_QUOTE_LINE = re.compile(r"^\s*>")
_ATTRIBUTION = re.compile(r"^\s*(On\b.{0,200}\bwrote:|Am\b.{0,200}\bschrieb|Le\b.{0,200}\ba écrit)\s*$", re.I)
_ORIGINAL = re.compile(r"^\s*(-{2,}\s*Original Message\s*-{2,}|_{10,})\s*$", re.I)


def split_quoted(body: str) -> tuple[str, str]:
    """Split *body* into the new text and the quoted history at its end.

    A trailing run of ``>`` lines (with the "On … wrote:" line above it) or an
    Outlook "Original Message" block is history. When nothing new would be
    left, nothing is folded.
    """
    lines = body.split("\n")
    cut = None
    for i, line in enumerate(lines):
        if i and _ORIGINAL.match(line):
            cut = i
            break
    if cut is None:
        k = len(lines)
        while k > 0 and (not lines[k - 1].strip() or _QUOTE_LINE.match(lines[k - 1])):
            k -= 1
        if any(_QUOTE_LINE.match(ln) for ln in lines[k:]):
            above = k
            while above > 0 and not lines[above - 1].strip():
                above -= 1
            if above > 0 and _ATTRIBUTION.match(lines[above - 1]):
                above -= 1
            cut = above
    if cut is None:
        return body, ""
    new = "\n".join(lines[:cut]).rstrip()
    if not new.strip():
        return body, ""
    return new, "\n".join(lines[cut:]).strip("\n")


# ------------------------------------------------------------------ entries

@dataclass(frozen=True, slots=True)
class Parts:
    """An entry's body split once: the new text and the folded history."""

    new: str
    quoted: str


def entry_parts(entry: TimelineEntry) -> Parts:
    body = clean(entry.body)
    quoted = entry.meta.get("quoted") if isinstance(entry.meta, dict) else None
    if isinstance(quoted, str) and quoted.strip():
        return Parts(body, clean(quoted))
    if entry.kind is EntryKind.MESSAGE:
        new, old = split_quoted(body)
        return Parts(new, old)
    return Parts(body, "")


@dataclass(frozen=True, slots=True)
class Delivery:
    """How far a reply got to the customer: by mail (the outbox) or into the chat thread."""

    state: str  # queued | sending | retrying | sent | failed | unknown | suppressed
    reason: str = ""
    outbox_id: int | None = None  # the mail outbox row (resend), None for chat replies
    recipients: tuple[str, ...] = ()
    channel: str = "email"  # "email" | "chat"

    PROBLEMS = ("failed", "unknown", "suppressed")

    @property
    def problem(self) -> bool:
        return self.state in self.PROBLEMS

    @property
    def pending(self) -> bool:
        return self.state in ("queued", "sending", "retrying")

    @property
    def resendable(self) -> bool:
        return self.outbox_id is not None and self.problem

    def label(self) -> str:
        where = " to the chat" if self.channel == "chat" else ""
        return {
            "queued": "◷ queued",
            "sending": "◷ sending",
            "retrying": "◷ retrying",
            "sent": f"✓ sent{where}",
            "failed": f"✗ failed{where}",
            "unknown": "? delivery unknown",
            "suppressed": "✗ not sent",
        }.get(self.state, self.state)


DELIVERY_STYLE = {"queued": "italic", "sending": "italic", "retrying": "bold italic", "sent": "dim",
                  "failed": "bold reverse", "unknown": "bold reverse", "suppressed": "bold reverse"}


@dataclass(frozen=True, slots=True)
class EntryTexts:
    """What one entry shows: the main part, then (when it has history) the fold line and the history."""

    main: Text
    fold: Text | None = None
    quoted: Text | None = None

    @property
    def plain(self) -> str:
        return "\n".join(t.plain for t in (self.main, self.fold, self.quoted) if t is not None)


def entry_texts(entry: TimelineEntry, now: datetime, *, expanded: bool = False, parts: Parts | None = None,
                delivery: Delivery | None = None, hints: dict[str, str] | None = None) -> EntryTexts:
    """One entry as Text: a header line (with a reply's delivery), the body, attachments and the quote fold."""
    hints = hints or {}
    if entry.kind is EntryKind.EVENT:
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        out.append(f"• {local(entry.created_at).strftime('%b %d %H:%M')}  ")
        out.append_text(safe_line(entry.body))
        return EntryTexts(out)
    out = Text(end="")
    if entry.kind is EntryKind.NOTE:
        out.append(" INTERNAL NOTE ", style="bold reverse")
        out.append("  ")
        out.append_text(safe_line(entry.author, 80, style="bold"))
    else:
        out.append_text(safe_line(entry.author, 80, style="bold"))
        out.append("  ")
        out.append("customer" if entry.kind is EntryKind.MESSAGE else "replied", style="italic")
    out.append(f"  {when(entry.created_at, now)}", style="dim")
    if delivery is not None:
        out.append("  ")
        out.append(f" {delivery.label()} " if delivery.problem else delivery.label(),
                   style=DELIVERY_STYLE.get(delivery.state, ""))
        if delivery.reason and (delivery.problem or delivery.state == "retrying"):
            out.append("\n")
            out.append_text(safe_line(delivery.reason, 300, style="italic"))
        if delivery.resendable and hints.get("resend"):
            out.append(f"  {hints['resend']}: resend", style="dim")
    parts = parts or entry_parts(entry)
    body = Text(parts.new, end="")
    if entry.kind is EntryKind.NOTE:
        body.highlight_regex(MENTION_RE, "bold underline")
    out.append("\n")
    out.append_text(body)
    for i, item in enumerate(attachments_of(entry)):
        out.append("\n")
        out.append("attachment: ", style="dim")
        out.append_text(safe_line(item.name, 200, style="underline"))
        if item.size is not None:
            out.append(f" ({human_size(item.size)})", style="dim")
        if i == 0 and hints.get("attachments"):
            out.append(f"  {hints['attachments']}: save / open", style="dim")
    if not parts.quoted:
        return EntryTexts(out)
    lines = parts.quoted.count("\n") + 1
    if expanded:
        fold = Text(f"▾ quoted history ({lines} lines) — enter or click to fold", style="dim italic", end="",
                    no_wrap=True, overflow="ellipsis")
        return EntryTexts(out, fold, Text(parts.quoted, style="dim", end=""))
    fold = Text(f"▸ quoted history ({lines} lines) — enter or click to show", style="dim italic", end="",
                no_wrap=True, overflow="ellipsis")
    return EntryTexts(out, fold)


# ----------------------------------------------------------------- timeline

TIMELINE_KEYS: tuple[Key, ...] = (
    Key("ticket.timeline.down", "j,down", "cursor_down", "Next entry / scroll", False, "Moving"),
    Key("ticket.timeline.up", "k,up", "cursor_up", "Previous entry / scroll", False, "Moving"),
    Key("ticket.timeline.first", "g,home", "first", "First loaded entry", False, "Moving"),
    Key("ticket.timeline.last", "G,end", "last", "Newest entry", False, "Moving"),
    Key("ticket.timeline.half-down", "ctrl+d", "half_page(1)", "Half a page down", False, "Moving"),
    Key("ticket.timeline.half-up", "ctrl+u", "half_page(-1)", "Half a page up", False, "Moving"),
    Key("ticket.timeline.page-down", "pagedown,space", "page(1)", "Page down", False, "Moving"),
    Key("ticket.timeline.page-up", "pageup,b", "page(-1)", "Page up", False, "Moving"),
    Key("ticket.timeline.older", "o", "load_older", "Older", True, "Moving"),
    Key("ticket.timeline.fold", "enter,z", "toggle_fold", "Show / fold quoted history", False, "Tickets"),
)

BAR = "▌"


class _Block:
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


class Timeline(ScrollView, can_focus=True):
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
        self.blocks: list[_Block] = []
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
                           delivery=self.delivery.get(block.entry.id), hints=self.hints).plain

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
        self.blocks = [_Block(e) for e in entries]
        self.total = max(total, len(self.blocks))
        self.cursor = len(self.blocks) - 1
        self.loading_older = False
        self._at_end = True
        self._anchor_released = False
        self._relayout()
        self._to_end()

    def prepend(self, entries: list[TimelineEntry]) -> None:
        """Older entries arrived: put them above, keeping what the agent looks at in place."""
        self.loading_older = False
        first = self.first_id
        new = [_Block(e) for e in entries if not self.blocks or e.id < first]
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
        new = [_Block(e) for e in entries if e.id > last]
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

    # ---------------------------------------------------------------- layout
    #
    # Blocks are rendered to strips lazily: a layout renders the ones on screen
    # (and a few lines around them) at once, and leaves the others for
    # :meth:`_render_pending`, which runs a few at a time after the frame is out.
    # A block not rendered yet takes no lines; whatever the agent is looking at
    # (the newest line, or the top line on screen) stays in place as the others
    # arrive above it.

    CHUNK = 12  # blocks rendered per step in the background

    def _content_width(self) -> int:
        return self.scrollable_content_region.width or self.size.width

    def _viewport(self) -> int:
        return self.scrollable_content_region.height or self.size.height or 24

    def _anchor(self) -> tuple[int, int] | None:
        """(block, line in it) at the top of the view, or None when reading the newest entries."""
        if self._at_end or not self._starts or not self.blocks:
            return None
        top = int(self.scroll_y)
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

    def _height_hint(self, block: _Block) -> int:
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
        starts = []
        y = 1  # line 0: the marker
        for block in self.blocks:
            starts.append(y)
            y += block.height
        self._starts = starts
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
        if not self._pending_scheduled:
            self._pending_scheduled = True
            self.call_after_refresh(self._render_pending)

    def _render_pending(self) -> None:
        """Render a few of the blocks not drawn yet, nearest to the view first."""
        self._pending_scheduled = False
        if not self.is_attached or self._width <= 0:
            return
        pending = [i for i, block in enumerate(self.blocks) if block.key is None]
        if not pending:
            return
        anchor = self._anchor()
        middle = self._block_at(int(self.scroll_y) + self._viewport() // 2)
        pending.sort(key=lambda i: abs(i - middle))
        for index in pending[:self.CHUNK]:
            self._render_block(index, self.blocks[index], self._width)
        self._reflow(anchor)
        if len(pending) > self.CHUNK:
            self._pending_scheduled = True
            self.call_later(self._render_pending)

    def _render_block(self, index: int, block: _Block, width: int) -> bool:
        """Render *block* if what it shows changed; returns True when its height changed."""
        cursor = index == self.cursor
        delivery = self.delivery.get(block.entry.id)
        key = (width, block.expanded, cursor, cursor and self.has_focus, delivery)
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
                            hints=self.hints)
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
        if offset >= block.height:
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

    # --------------------------------------------------------------- cursor

    def _span(self, index: int) -> tuple[int, int]:
        start = self._starts[index]
        return start, start + self.blocks[index].height

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
        self.scroll_to(y=self.scroll_y + direction * max(1, self._viewport() // 2), animate=False, immediate=True)

    def action_page(self, direction: int) -> None:
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
        # Scrolled to the very top by the agent (not by the first layout), with every
        # loaded entry drawn: the older ones are wanted.
        # (A layout that shrinks the content clamps the position to 0 with nothing to scroll.)
        if new_value <= 0 < old_value and not self._pending_scheduled and not self._laying_out \
                and self.max_scroll_y > 0:
            self.request_older()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.scroll_y <= 0:
            self.request_older()
