"""Command-palette providers (``:`` and ctrl+p): tickets, views and actions.

Each provider builds its commands from the inbox's current state and
implements both ``discover`` (what shows before typing) and ``search``.
Untrusted text (subjects, names) goes into the *display* as ``Text``; the
palette parses ``help`` as markup, so help strings here are our own words only.
"""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..domain.errors import HelpdeskError
from ..domain.text import one_line
from . import keymap
from .keys import APP_KEYS, INBOX_KEYS
from .text import line

if TYPE_CHECKING:
    from .inbox import InboxScreen

_TICKET_REF = re.compile(r"^\s*#?(\d{1,12})\s*$")
# Fuzzy scores grow with the match (a subject can score 6 or more): the hit for
# an exact ticket number must outrank any of them.
EXACT = 1e9


def _highlight(provider: Provider, query: str, candidate: str) -> tuple[float, Text]:
    """Score and highlight *candidate* without ever parsing it as markup."""
    matcher = provider.matcher(query)
    score = matcher.match(candidate)
    text = Text(candidate, end="")
    if score:
        _, offsets = matcher.fuzzy_search.match(query, candidate)
        for offset in offsets:
            if not candidate[offset].isspace():
                text.stylize("bold underline", offset, offset + 1)
    return score, text


def _inbox(provider: Provider) -> "InboxScreen | None":
    return getattr(provider.app, "inbox", None)


class TicketsProvider(Provider):
    """Open a ticket by number, from the loaded rows, or by full-text search."""

    async def discover(self) -> Hits:
        inbox = _inbox(self)
        if inbox is None:
            return
        for row in inbox.table.window.rows[:10]:
            label = f"#{row.id} {one_line(row.subject, 60)}"
            yield DiscoveryHit(line(label), partial(inbox.open_ticket_soon, row.id), text=label, help="Open ticket")

    async def search(self, query: str) -> Hits:
        inbox = _inbox(self)
        if inbox is None:
            return
        ref = _TICKET_REF.match(query)
        if ref:
            # A number is a ticket number, never fuzzy digits in a subject: the
            # exact ticket comes first, then loaded tickets whose number starts
            # with those digits (enter on "242" must never open "#218 … 72642").
            digits = ref.group(1)
            tid = int(digits)
            yield Hit(EXACT, Text(f"Open ticket #{tid}", end=""), partial(inbox.open_ticket_soon, tid),
                      text=f"Open ticket #{tid}", help="Open ticket by number")
            for row in inbox.table.window.rows:
                if row.id != tid and str(row.id).startswith(digits):
                    candidate = f"#{row.id} {one_line(row.subject, 80)}"
                    yield Hit(0.5, line(candidate), partial(inbox.open_ticket_soon, row.id), text=candidate,
                              help="Open ticket")
            return
        seen: set[int] = set()
        for row in inbox.table.window.rows:
            candidate = f"#{row.id} {one_line(row.subject, 80)}"
            score, text = _highlight(self, query, candidate)
            if score:
                seen.add(row.id)
                yield Hit(score * 0.9, text, partial(inbox.open_ticket_soon, row.id), text=candidate,
                          help="Open ticket")
        if len(query.strip()) >= 3:
            try:
                hits = await inbox.hd.tickets.search(query, limit=15)
            except HelpdeskError:
                return
            for hit in hits:
                if hit.ticket_id in seen:
                    continue
                candidate = f"#{hit.ticket_id} {one_line(hit.subject, 60)}"
                display = line(candidate) + Text("  ", end="") + line(hit.snippet, 50, style="dim")
                yield Hit(0.5, display, partial(inbox.open_ticket_soon, hit.ticket_id), text=candidate,
                          help="Full-text match")


class ViewsProvider(Provider):
    """Switch to any view in the rail."""

    def _items(self):
        inbox = _inbox(self)
        return (inbox, inbox.rail.items) if inbox else (None, [])

    def _display(self, item) -> tuple[str, Text]:
        count = "" if item.count is None else f"  ({item.count:,})"
        label = f"View: {one_line(item.name, 80)}"
        return label, line(label) + Text(count, style="dim", end="")

    async def discover(self) -> Hits:
        inbox, items = self._items()
        for item in items:
            label, display = self._display(item)
            yield DiscoveryHit(display, partial(inbox.select_view, item.key), text=label, help="Switch view")

    async def search(self, query: str) -> Hits:
        inbox, items = self._items()
        for item in items:
            label, _ = self._display(item)
            score, text = _highlight(self, query, label)
            if score:
                yield Hit(score, text, partial(inbox.select_view, item.key), text=label, help="Switch view")


class ActionsProvider(Provider):
    """Every inbox action, with its current key."""

    def _actions(self):
        inbox = _inbox(self)
        if inbox is None:
            return []
        hints = keymap.key_hints(inbox)
        out = []
        for key in INBOX_KEYS + APP_KEYS:
            if key.id in ("app.palette", "inbox.unselect"):
                continue
            target = self.app if key in APP_KEYS else inbox
            hint = hints.get(key.id, "")
            out.append((key.help, hint, partial(target.run_action, key.action)))
        return out

    async def discover(self) -> Hits:
        for description, hint, run in self._actions():
            yield DiscoveryHit(Text(description, end="") + Text(f"  {hint}", style="dim", end=""), run,
                               text=description, help="Action")

    async def search(self, query: str) -> Hits:
        for description, hint, run in self._actions():
            score, text = _highlight(self, query, description)
            if score:
                yield Hit(score, text + Text(f"  {hint}", style="dim", end=""), run, text=description, help="Action")
