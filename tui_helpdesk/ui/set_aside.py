"""The "Set-aside mail" screen: messages that became no ticket, why, and a key to make one a ticket.

Reached from the inbox (``M``, or "Set-aside mail" in the command palette).
The table lists the set-aside messages newest first (a page at a time, ``m``
loads more); the pane below shows the highlighted one parsed: sender,
subject, what it looks like and its text. ``R`` releases it into a ticket
through the normal threading (no acknowledgement is sent), after a yes/no.

Every string from the message reaches the screen through ``ui.text`` helpers:
cleaned, plain text, never markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ..domain.errors import HelpdeskError
from ..domain.model import Agent
from ..domain.text import one_line
from .dialogs import ConfirmDialog
from .keymap import bindings
from .keys import SET_ASIDE_KEYS
from .text import block, line, plain

if TYPE_CHECKING:
    from ..bootstrap import Helpdesk

PAGE = 100
COLUMNS = (("id", "#", 6), ("when", "Set aside", 16), ("from", "From", 28), ("subject", "Subject", 36),
           ("reason", "Why", None))


class SetAsideScreen(Screen):
    """Set-aside mail: list, show, release (see the module docstring)."""

    DEFAULT_CSS = """
    SetAsideScreen #aside-status { height: 1; padding: 0 1; background: $boost; }
    SetAsideScreen #aside-table { height: 1fr; }
    SetAsideScreen #aside-preview-box { height: 1fr; border-top: solid $foreground 20%; padding: 0 1; }
    """
    BINDINGS = bindings(SET_ASIDE_KEYS)

    def __init__(self, hd: "Helpdesk", me: Agent) -> None:
        super().__init__()
        self.hd = hd
        self.me = me
        self.items: list = []
        self.total = 0
        self.next_cursor: int | None = None
        self.released = False

    def compose(self) -> ComposeResult:
        yield Static("", id="aside-status", markup=False)
        table: DataTable = DataTable(id="aside-table", cursor_type="row", zebra_stripes=True)
        for key, title, width in COLUMNS:
            table.add_column(title, key=key, width=width)
        yield table
        with VerticalScroll(id="aside-preview-box"):
            yield Static("", id="aside-preview", markup=False)
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one("#aside-table", DataTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.load()

    # ---------------------------------------------------------------- data

    @work(exclusive=True, group="set-aside", exit_on_error=False)
    async def load(self, more: bool = False) -> None:
        try:
            page = await self.hd.mail.set_aside.page(limit=PAGE, cursor=self.next_cursor if more else None,
                                                     released=self.released)
        except HelpdeskError as exc:
            self.query_one("#aside-status", Static).update(plain(exc))
            return
        if not more:
            self.items = []
            self.table.clear()
        for item in page.items:
            self.items.append(item)
            self.table.add_row(
                Text(str(item.id), end=""), Text(f"{item.created_at:%Y-%m-%d %H:%M}", style="dim", end=""),
                line(item.from_addr or "(no sender)", 60), line(item.subject or "(no subject)", 120),
                (Text(f"→ #{item.ticket_id}  ", style="bold", end="") if item.ticket_id else Text(end=""))
                + line(item.reason, 200),
                key=str(item.id))
        self.total = page.total
        self.next_cursor = page.next_cursor
        self._status()
        self.show_current()

    def _status(self) -> None:
        what = "set-aside messages, released ones too" if self.released else "set-aside messages waiting"
        text = Text(f"{self.total:,} {what}", style="bold", end="")
        if self.next_cursor is not None:
            text.append(f"  ·  {len(self.items):,} loaded, m loads more", style="dim")
        if not self.items:
            text.append("  ·  nothing is set aside", style="dim")
        self.query_one("#aside-status", Static).update(text)

    def current(self):
        row = self.table.cursor_row
        return self.items[row] if self.items and 0 <= row < len(self.items) else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_current()

    @work(exclusive=True, group="set-aside-preview", exit_on_error=False)
    async def show_current(self) -> None:
        preview = self.query_one("#aside-preview", Static)
        item = self.current()
        if item is None:
            preview.update(Text(end=""))
            return
        try:
            message = await self.hd.mail.set_aside.get(item.id)
        except HelpdeskError as exc:
            preview.update(plain(exc))
            return
        preview.update(preview_text(message))

    # ------------------------------------------------------------- actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_move(self, delta: int) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + delta)))

    def action_refresh(self) -> None:
        self.load()

    def action_more(self) -> None:
        if self.next_cursor is not None:
            self.load(more=True)

    def action_toggle_released(self) -> None:
        self.released = not self.released
        self.load()

    def action_release(self) -> None:
        item = self.current()
        if item is None:
            self._say("No message here.", "warning")
            return
        if item.ticket_id is not None:
            self._say(f"Already on ticket #{item.ticket_id}.")
            return
        body = Text("From ", end="") + line(item.from_addr or "(no sender)", 80) + Text(": ") + line(item.subject, 120)
        body.append("\nIt goes on the ticket it belongs to, or starts one. No acknowledgement is sent.")

        def done(yes: bool | None) -> None:
            if yes:
                self._release(item.id)

        self.app.push_screen(ConfirmDialog("Make this message a ticket?", body, "Make it a ticket"), done)

    @work(group="set-aside-release", exit_on_error=False)
    async def _release(self, item_id: int) -> None:
        try:
            ticket_id = await self.hd.mail.set_aside.release(item_id, self.me.login)
        except HelpdeskError as exc:
            self._say(str(exc), "error")
            return
        self._say(f"The message is on ticket #{ticket_id} now.")
        self.load()


    def _say(self, message: str, severity: str = "information") -> None:
        # A cleaned one-line str without markup: what a real terminal's notify takes.
        self.notify(one_line(message, 300), severity=severity, markup=False)


def preview_text(message) -> Text:
    """The highlighted message: its headers, what it looks like, its text."""
    item = message.item
    out = Text(end="")
    out.append("Why: ", style="bold")
    out.append_text(line(item.reason, 300))
    if item.ticket_id:
        out.append(f"\nReleased into ticket #{item.ticket_id}", style="bold")
    p = message.parsed
    if p is None:
        out.append("\n(never fetched from the server: nothing more is known)", style="italic")
        return out
    out.append("\nFrom: ", style="bold")
    out.append_text(line(f"{p.from_name} <{p.from_addr or '-'}>", 200))
    out.append("\nSubject: ", style="bold")
    out.append_text(line(p.subject, 300))
    out.append("\nLooks like: ", style="bold")
    out.append_text(line(f"{message.kind.kind} ({message.kind.reason})", 300))
    for att in p.attachments[:20]:
        out.append("\nAttachment: ", style="bold")
        out.append_text(line(f"{att.filename or '(unnamed)'} {att.content_type} {att.size:,} bytes", 200))
    out.append("\n\n")
    out.append_text(block(p.body_text[:20_000]))
    return out


__all__ = ["SetAsideScreen"]
