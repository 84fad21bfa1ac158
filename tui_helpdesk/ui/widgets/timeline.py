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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from rich.text import Text
from textual import events
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from ...domain.mentions import _MENTION as MENTION_RE  # the same rule the service uses
from ...domain.model import EntryKind, TimelineEntry
from ...domain.text import clean, one_line
from ..keymap import Key, bindings

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

KIND_LABEL = {
    EntryKind.MESSAGE: "customer",
    EntryKind.REPLY: "reply",
    EntryKind.NOTE: "INTERNAL NOTE",
    EntryKind.EVENT: "event",
}


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


def _attachments(entry: TimelineEntry) -> list[tuple[str, int | None]]:
    items = entry.meta.get("attachments") if isinstance(entry.meta, dict) else None
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = item.get("filename") or item.get("name") or "attachment"
            size = item.get("size")
            out.append((str(name), size if isinstance(size, int) else None))
        elif isinstance(item, str):
            out.append((item, None))
    return out


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_entry(entry: TimelineEntry, now: datetime, *, expanded: bool = False) -> Text:
    """One entry as Text: a header line, the body, attachments and the quote fold."""
    if entry.kind is EntryKind.EVENT:
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        out.append(f"• {local(entry.created_at).strftime('%b %d %H:%M')}  ")
        out.append_text(safe_line(entry.body))
        return out
    out = Text(end="")
    if entry.kind is EntryKind.NOTE:
        out.append("INTERNAL NOTE", style="bold reverse")
        out.append("  ")
        out.append_text(safe_line(entry.author, 80, style="bold"))
    else:
        out.append_text(safe_line(entry.author, 80, style="bold"))
        out.append("  ")
        out.append("customer" if entry.kind is EntryKind.MESSAGE else "replied", style="italic")
    out.append(f"  {when(entry.created_at, now)}", style="dim")
    parts = entry_parts(entry)
    body = Text(parts.new, end="")
    if entry.kind is EntryKind.NOTE:
        body.highlight_regex(MENTION_RE, "bold underline")
    out.append("\n")
    out.append_text(body)
    for name, size in _attachments(entry):
        out.append("\n")
        out.append("attachment: ", style="dim")
        out.append_text(safe_line(name, 200, style="underline"))
        if size is not None:
            out.append(f" ({_size(size)})", style="dim")
    if parts.quoted:
        lines = parts.quoted.count("\n") + 1
        out.append("\n")
        if expanded:
            out.append(f"▾ quoted history ({lines} lines) — enter to fold\n", style="dim italic")
            out.append(parts.quoted, style="dim")
        else:
            out.append(f"▸ quoted history ({lines} lines) — enter to show", style="dim italic")
    return out


class EntryView(Static):
    """One timeline entry. Its kind is a CSS class: -message, -reply, -note, -event."""

    expanded: reactive[bool] = reactive(False)

    def __init__(self, entry: TimelineEntry, now: Callable[[], datetime]):
        super().__init__(classes=f"entry -{entry.kind.value}", markup=False)
        self.entry = entry
        self._now = now
        self.has_quote = bool(entry_parts(entry).quoted)

    def on_mount(self) -> None:
        self.refresh_text()

    def refresh_text(self) -> None:
        self.update(render_entry(self.entry, self._now(), expanded=self.expanded))

    def watch_expanded(self) -> None:
        if self.is_mounted:
            self.refresh_text()

    def on_click(self, event: events.Click) -> None:
        timeline = self.parent
        if isinstance(timeline, Timeline):
            timeline.select(self, toggle=True)


# ----------------------------------------------------------------- timeline

TIMELINE_KEYS: tuple[Key, ...] = (
    Key("ticket.timeline.down", "j,down", "cursor_down", "Next entry / scroll", False, "Moving"),
    Key("ticket.timeline.up", "k,up", "cursor_up", "Previous entry / scroll", False, "Moving"),
    Key("ticket.timeline.first", "g,home", "first", "First loaded entry", False, "Moving"),
    Key("ticket.timeline.last", "G,end", "last", "Newest entry", False, "Moving"),
    Key("ticket.timeline.half-down", "ctrl+d", "half_page(1)", "Half a page down", False, "Moving"),
    Key("ticket.timeline.half-up", "ctrl+u", "half_page(-1)", "Half a page up", False, "Moving"),
    Key("ticket.timeline.page-down", "pagedown,space", "page_down", "Page down", False, "Moving"),
    Key("ticket.timeline.page-up", "pageup,b", "page_up", "Page up", False, "Moving"),
    Key("ticket.timeline.older", "o", "load_older", "Older", True, "Moving"),
    Key("ticket.timeline.fold", "enter,z", "toggle_fold", "Show / fold quoted history", False, "Tickets"),
)


class Timeline(VerticalScroll, can_focus=True):
    """The entries of one ticket, oldest at the top, with a cursor on one entry."""

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
        self.views: list[EntryView] = []
        self.total = 0
        self.cursor = -1
        self.loading_older = False
        self._marker = Static("", id="timeline-start", markup=False)

    def compose(self):
        yield self._marker

    # ------------------------------------------------------------- contents

    @property
    def first_id(self) -> int:
        return self.views[0].entry.id if self.views else 0

    @property
    def last_id(self) -> int:
        return self.views[-1].entry.id if self.views else 0

    @property
    def has_older(self) -> bool:
        return len(self.views) < self.total

    def _update_marker(self) -> None:
        older = self.total - len(self.views)
        if self.loading_older:
            text = Text("▲ loading older entries…", style="italic")
        elif older > 0:
            text = Text(f"▲ {older} older {'entry' if older == 1 else 'entries'} — press o or scroll up to load",
                        style="italic")
        else:
            text = Text("— start of the ticket —", style="dim")
        self._marker.update(text)
        self._marker.set_class(older > 0, "-more")

    def _make(self, entries: list[TimelineEntry]) -> list[EntryView]:
        return [EntryView(e, self._now) for e in entries]

    async def show(self, entries: list[TimelineEntry], total: int) -> None:
        """Replace everything with *entries* (the newest page) out of *total*."""
        await self.remove_children(EntryView)
        self.views = self._make(entries)
        self.total = max(total, len(self.views))
        if self.views:
            await self.mount_all(self.views)
        self._update_marker()
        self._set_cursor(len(self.views) - 1, scroll=False)
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    async def prepend(self, entries: list[TimelineEntry]) -> None:
        """Older entries arrived: mount them above, keeping what the agent looks at in place."""
        self.loading_older = False
        known = {v.entry.id for v in self.views}
        new = self._make([e for e in entries if e.id not in known and (not self.views or e.id < self.first_id)])
        if not new:
            self.total = len(self.views) if not entries else self.total
            self._update_marker()
            return
        before_height = self.virtual_size.height
        before_y = self.scroll_y
        await self.mount_all(new, after=self._marker)
        self.views[:0] = new
        self.cursor += len(new)
        self._update_marker()

        def keep_place() -> None:
            grown = self.virtual_size.height - before_height
            self.scroll_to(y=before_y + max(0, grown), animate=False, immediate=True)

        self.call_after_refresh(keep_place)

    async def append(self, entries: list[TimelineEntry], total: int | None = None) -> int:
        """Newer entries arrived (live or just sent); returns how many were new."""
        new = self._make([e for e in entries if e.id > self.last_id])
        if not new:
            return 0
        at_end = self.cursor >= len(self.views) - 1 or self.scroll_y >= self.max_scroll_y - 1
        await self.mount_all(new)
        self.views.extend(new)
        self.total = max(total or 0, self.total + len(new))
        self._update_marker()
        if at_end:
            self._set_cursor(len(self.views) - 1, scroll=False)
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
        return len(new)

    def refresh_times(self) -> None:
        for view in self.views:
            if view.entry.kind is not EntryKind.EVENT:
                view.refresh_text()

    # --------------------------------------------------------------- cursor

    def _set_cursor(self, index: int, *, scroll: bool = True) -> None:
        if not self.views:
            self.cursor = -1
            return
        index = max(0, min(index, len(self.views) - 1))
        if 0 <= self.cursor < len(self.views):
            self.views[self.cursor].remove_class("-cursor")
        self.cursor = index
        view = self.views[index]
        view.add_class("-cursor")
        if scroll:
            self.scroll_to_widget(view, animate=False, immediate=True, top=view.outer_size.height > self.size.height)

    @property
    def current(self) -> EntryView | None:
        return self.views[self.cursor] if 0 <= self.cursor < len(self.views) else None

    def select(self, view: EntryView, *, toggle: bool = False) -> None:
        if view in self.views:
            self._set_cursor(self.views.index(view), scroll=False)
            if toggle and view.has_quote:
                view.expanded = not view.expanded
        self.focus()

    def request_older(self) -> None:
        if self.has_older and not self.loading_older and self.views:
            self.loading_older = True
            self._update_marker()
            self.post_message(self.LoadOlder(self, self.first_id))

    # -------------------------------------------------------------- actions

    def action_cursor_down(self) -> None:
        view = self.current
        if view is not None:
            region = view.virtual_region
            if region.bottom > self.scroll_y + self.scrollable_content_region.height:
                self.scroll_to(y=self.scroll_y + 3, animate=False, immediate=True)
                return
        self._set_cursor(self.cursor + 1)

    def action_cursor_up(self) -> None:
        view = self.current
        if view is not None and view.virtual_region.y < self.scroll_y:
            self.scroll_to(y=max(0, self.scroll_y - 3), animate=False, immediate=True)
            return
        if self.cursor <= 0:
            self.request_older()
            return
        self._set_cursor(self.cursor - 1)

    def action_first(self) -> None:
        self._set_cursor(0)
        self.scroll_home(animate=False, immediate=True)

    def action_last(self) -> None:
        self._set_cursor(len(self.views) - 1, scroll=False)
        self.scroll_end(animate=False, immediate=True)

    def action_half_page(self, direction: int) -> None:
        self.scroll_to(y=self.scroll_y + direction * max(1, self.size.height // 2), animate=False, immediate=True)

    def action_load_older(self) -> None:
        self.request_older()

    def action_toggle_fold(self) -> None:
        view = self.current
        if view is not None and view.has_quote:
            view.expanded = not view.expanded

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Scrolled to the very top by the agent (not by the initial layout).
        if new_value <= 0 < old_value:
            self.request_older()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.scroll_y <= 0:
            self.request_older()
