"""The status bar: who I am, my availability, the view and position, sync state, mail sync."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ...domain.text import one_line
from ..text import line

if TYPE_CHECKING:
    from ...services.mail_sync import SyncProgress

AVAILABILITY_STYLE = {"available": "bold green", "away": "yellow", "busy": "red", "paused": "dim"}
MAIL_FAILING = ("error", "reconnecting")


def mail_state(progress: Iterable["SyncProgress"]) -> tuple[str, bool]:
    """One short, plain line for the newest progress of every mailbox, and whether all is well.

    ``mail: 1,234/10,000 (850/s)`` while a sync runs, ``mail ✓`` when idle (or
    when another process syncs), ``mail: error …`` when a mailbox fails.
    """
    items = list(progress)
    if not items:
        return "", True
    failing = [p for p in items if p.phase in MAIL_FAILING]
    if failing:
        first = failing[0]
        reason = one_line(first.message.split(";")[0], 40)
        return f"mail: {'error' if first.phase == 'error' else 'retrying'}" + (f" ({reason})" if reason else ""), False
    syncing = [p for p in items if p.phase == "syncing"]
    if syncing:
        done, total = sum(p.done for p in syncing), sum(p.total for p in syncing)
        rate = sum(p.rate for p in syncing)
        return f"mail: {done:,}/{total:,} ({rate:,.0f}/s)", True
    if any(p.phase == "connecting" for p in items):
        return "mail: connecting", True
    return "mail ✓", True


class StatusBar(Static):
    """One line; every piece of untrusted text in it is built as Text."""

    me_name: reactive[str] = reactive("")
    me_login: reactive[str] = reactive("")
    availability: reactive[str] = reactive("available")
    # A scheduled agent's "on shift until 17:00" / "off shift, next 09:00 Mon", shown instead of availability.
    shift: reactive[str] = reactive("")
    view: reactive[str] = reactive("")
    position: reactive[str] = reactive("")
    selected: reactive[int] = reactive(0)
    sync: reactive[str] = reactive("connecting")
    sync_ok: reactive[bool] = reactive(True)
    mail: reactive[str] = reactive("")  # empty: no mailbox configured
    mail_ok: reactive[bool] = reactive(True)
    ai: reactive[str] = reactive("")  # my AI usage today; empty: no AI endpoint

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        out.append(" ● ", style=AVAILABILITY_STYLE.get(self.availability, ""))
        out.append_text(line(self.me_name or self.me_login, 30, style="bold"))
        out.append(f" ({self.shift or self.availability})", style="dim")
        out.append("  │  ", style="dim")
        out.append_text(line(self.view, 40))
        if self.position:
            out.append(f"  {self.position}", style="dim")
        if self.selected:
            out.append(f"  {self.selected} selected", style="bold reverse")
        out.append("  │  ", style="dim")
        out.append(("⟳ " if self.sync_ok else "⚠ ") + self.sync, style="" if self.sync_ok else "bold red")
        if self.mail:
            out.append("  │  ", style="dim")
            out.append_text(line(("" if self.mail_ok else "⚠ ") + self.mail, 60,
                                 style="" if self.mail_ok else "bold red"))
        if self.ai:
            out.append("  │  ", style="dim")
            out.append(self.ai)
        return out

