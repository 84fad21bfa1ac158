"""Undo for a few seconds: the last close, status, assignment or tag change, from the inbox or a ticket.

A screen that makes such a change keeps what the tickets were before and
after it (:meth:`TicketService.snapshot`) in the app's one :class:`UndoSlot`,
and its toast says which key undoes it. Undo puts back only tickets nobody
changed since, and names the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..domain.text import one_line
from . import keymap

UNDO_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class UndoSlot:
    what: str
    before: list
    after: list
    until: float  # time.monotonic() deadline

    @property
    def live(self) -> bool:
        return time.monotonic() < self.until


def offer(app, what: str, before: list, after: list) -> None:
    """Keep *before*/*after* for undo and say *what* was done, and which key undoes it."""
    app.undo_slot = UndoSlot(what, before, after, time.monotonic() + UNDO_SECONDS)
    hints = keymap.key_hints(app.screen)  # the key as remapped, where the agent is
    key = hints.get("inbox.undo") or hints.get("ticket.undo") or "u"
    app.notify(one_line(f"{what} · {key} undoes", 300), markup=False, timeout=UNDO_SECONDS)


async def undo_last(app, hd, me) -> None:
    """Undo the app's last change if it is still recent; says what happened either way."""
    slot: UndoSlot | None = getattr(app, "undo_slot", None)
    if slot is None or not slot.live:
        app.notify("Nothing to undo (an undo lasts a few seconds).", markup=False, timeout=2)
        return
    app.undo_slot = None
    undone, skipped = await hd.tickets.undo(slot.before, slot.after, actor=me)
    if skipped:
        app.notify(one_line(f"Undone on {undone}; not undone: " + "; ".join(skipped[:3]), 400),
                   severity="warning", title="Undo", markup=False)
    else:
        app.notify(one_line(f"Undone: {slot.what}", 300), markup=False, timeout=3)
