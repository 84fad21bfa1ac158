"""The Conversations view: live chatbot conversations, taken over with one key.

:class:`ConversationsView` lists what the poller last recorded (it reads the
database, never the platform): state (ongoing, escalated, taken over, ended),
channel, customer, last message, and a transcript preview of the highlighted
conversation. Escalated conversations that no person has yet come first and
stand out.

Keys: ``t`` takes the highlighted conversation over and opens its new ticket
(assigned to me, On you); on a conversation a person already has it opens
that ticket instead; on an ended one it says it cannot. ``enter`` opens the
ticket when there is one.

The ticket screen's "Allow AI replies" is in ``ui/handback.py``.

Every customer-provided string (names, messages, channel, platform errors)
reaches the screen as ``rich.text.Text`` from cleaned text, never as markup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from ..domain.conversations import ConversationInfo, PollStatus
from ..domain.errors import HelpdeskError
from ..domain.model import Agent
from ..services.conversations import state_label
from .keymap import bindings
from .handback import say
from .keys import CONVERSATION_KEYS
from ..domain.text import one_line
from .text import block, humanise, line, plain

if TYPE_CHECKING:
    from ..bootstrap import Helpdesk

REFRESH_SECONDS = 2.0
TRANSCRIPT_SECONDS = 10.0  # a highlighted conversation's transcript is read again after this
PREVIEW_MESSAGES = 12

COLUMNS = (("state", "State", 12), ("ticket", "Ticket", 10), ("channel", "Channel", 10),
           ("customer", "Customer", 22), ("updated", "Updated", 7), ("last", "Last message", None))
# First, when more than one desk has a chatbot: which desk's customer it is.
DESK_COLUMN = ("desk", "Desk", 12)
ROLE_LABEL = {"assistant": "Chatbot", "human_agent": "Teammate", "system": "Platform"}
NOT_CONFIGURED = ("Conversations appear here when a chatbot platform is configured for the desk "
                  "([desks.chatbot] base_url in config.toml; 'helpdesk bot-sim' runs a simulator).")


def _key(info: ConversationInfo) -> str:
    return f"{info.desk_id}:{info.id}"


def state_cell(info: ConversationInfo) -> Text:
    label = state_label(info.state)
    if info.state == "escalated" and not info.handled:
        return Text(f"▲ {label}", style="bold red", no_wrap=True, end="")
    if info.state == "ended":
        return Text(f"  {label}", style="dim", no_wrap=True, end="")
    if info.handled:
        return Text(f"  {label}", style="green", no_wrap=True, end="")
    return Text(f"  {label}", no_wrap=True, end="")


def ticket_cell(info: ConversationInfo) -> Text:
    if info.ticket_id and info.handled:
        return Text(f"#{info.ticket_id}", style="bold", no_wrap=True, end="")
    if info.state == "escalated" and info.last_error:
        return Text("retrying", style="red", no_wrap=True, end="")
    if info.state == "escalated":
        return Text("opening…", style="italic", no_wrap=True, end="")
    if info.ticket_id:
        return Text(f"was #{info.ticket_id}", style="dim", no_wrap=True, end="")
    return Text("", end="")


def last_cell(info: ConversationInfo) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    if info.last_role and info.last_role != "user":
        out.append(f"{ROLE_LABEL.get(info.last_role, info.last_role)}: ", style="dim")
    out.append_text(line(info.last_text, 200))
    return out


def customer_cell(info: ConversationInfo) -> Text:
    out = line(info.customer, 60, style="bold" if info.state == "escalated" and not info.handled else "")
    if info.language:
        out.append(" ")
        out.append_text(line(info.language, 12, style="dim"))
    return out


def preview_text(info: ConversationInfo) -> Text:
    """The transcript preview: a header line, then the newest messages."""
    out = Text(end="")
    out.append_text(line(info.customer, 80, style="bold"))
    out.append("  ·  ", style="dim")
    out.append_text(line(info.channel, 40))
    out.append("  ·  ", style="dim")
    out.append(state_label(info.state), style="bold red" if info.state == "escalated" and not info.handled else "")
    if info.ticket_id and info.handled:
        out.append(f"  ·  ticket #{info.ticket_id} — t opens it", style="dim")
    elif info.state == "ended":
        out.append("  ·  ended: cannot be taken over", style="dim")
    else:
        out.append("  ·  t takes it over", style="dim")
    if info.escalation_reason:
        out.append("\nEscalated: ", style="bold")
        out.append_text(line(info.escalation_reason, 300))
    if info.last_error and not info.handled:
        out.append("\nNot a ticket yet — the chat platform failed: ", style="bold red")
        out.append_text(line(info.last_error, 300, style="red"))
        out.append(" (retrying)", style="red")
    lines = list(info.transcript)[-PREVIEW_MESSAGES:]
    if not lines and info.last_text:
        out.append("\n")
        out.append_text(last_cell(info))
    for item in lines:
        out.append("\n")
        stamp = item.at.replace(tzinfo=timezone.utc).astimezone().strftime("%H:%M") if item.at else "--:--"
        out.append(f"{stamp} ", style="dim")
        if item.role == "user":
            out.append_text(line(info.customer or "Customer", 40, style="bold"))
        elif item.role == "human_agent" and item.author:
            out.append_text(line(item.author, 40, style="italic"))
        else:
            out.append(ROLE_LABEL.get(item.role, item.role), style="italic dim")
        out.append(": ")
        out.append_text(block(item.text, style="dim" if item.role in ("system", "assistant") else ""))
    return out


def waiting(info: ConversationInfo) -> bool:
    """Live and no person has it yet: what the rail's Conversations count counts."""
    return info.state != "ended" and not info.handled


def status_line(status: PollStatus | None, count: int, now: datetime, waiting_count: int | None = None) -> Text:
    # The rail counts the waiting ones; the list also shows taken and recently ended ones.
    out = Text(f"{count} conversation{'s' if count != 1 else ''}", style="bold", end="")
    if waiting_count is not None:
        out.append(f"  ·  {waiting_count} waiting for a person", style="bold red" if waiting_count else "dim")
    if status is None:
        return out
    if status.last_error:
        out.append("  ·  chat platform: ", style="red")
        out.append_text(line(status.last_error, 160, style="red"))
        if status.retry_at and status.retry_at > now:
            out.append(f"  (retrying in {int((status.retry_at - now).total_seconds()) + 1}s)", style="red")
    elif status.last_ok_at:
        ago = humanise(status.last_ok_at, now)
        out.append("  ·  synced just now" if ago == "now" else f"  ·  synced {ago} ago", style="dim")
    else:
        out.append("  ·  waiting for the first poll", style="dim")
    return out


class ConversationsView(Vertical):
    """Live chatbot conversations with a transcript preview; ``t`` takes one over."""

    DEFAULT_CSS = """
    ConversationsView { height: 1fr; }
    ConversationsView #conv-status { height: 1; padding: 0 1; background: $boost; }
    ConversationsView #conv-table { height: 2fr; border: none; }
    ConversationsView #conv-preview-box { height: 1fr; border-top: solid $foreground 20%; padding: 0 1; }
    """
    BINDINGS = bindings(CONVERSATION_KEYS)

    def __init__(self, hd: "Helpdesk", me: Agent, *, now: Callable[[], datetime] | None = None,
                 refresh_seconds: float = REFRESH_SECONDS, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hd = hd
        self.me = me
        self._now = now
        self.refresh_seconds = refresh_seconds
        self.items: list[ConversationInfo] = []
        self._keys: list[str] = []
        self.columns = (DESK_COLUMN, *COLUMNS) if len(hd.conversations.desk_slugs()) > 1 else COLUMNS
        self._desk_names: dict[int, str] = {}
        self._fetched: dict[str, float] = {}  # conversation -> when its transcript was last read

    def compose(self) -> ComposeResult:
        yield Static("", id="conv-status", markup=False)
        table: DataTable = DataTable(id="conv-table", cursor_type="row", zebra_stripes=True)
        for key, title, width in self.columns:
            table.add_column(title, key=key, width=width)
        yield table
        with VerticalScroll(id="conv-preview-box"):
            yield Static("", id="conv-preview", markup=False)

    @property
    def table(self) -> DataTable:
        return self.query_one("#conv-table", DataTable)

    def now(self) -> datetime:
        return self._now() if self._now else self.hd.store.clock()

    def on_mount(self) -> None:
        self.set_interval(self.refresh_seconds, self._tick)
        self.refresh_data()

    def focus_table(self) -> None:
        self.table.focus()

    def _tick(self) -> None:
        if self.display and self.is_attached:
            self.refresh_data()

    # ---------------------------------------------------------------- data

    @work(exclusive=True, group="conversations", exit_on_error=False)
    async def refresh_data(self) -> None:
        service = self.hd.conversations
        status_widget = self.query_one("#conv-status", Static)
        if not service.configured:
            status_widget.update(Text(NOT_CONFIGURED, style="italic", end=""))
            self.show_items([])
            return
        try:
            items = await service.lines()
            status = await service.poll_status()
            if self.columns[0] is DESK_COLUMN and not self._desk_names:
                self._desk_names = await service.desk_names()
        except HelpdeskError as exc:
            status_widget.update(plain(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a lost database must not end the view
            status_widget.update(plain(f"cannot read conversations: {type(exc).__name__}"))
            return
        status_widget.update(status_line(status, len(items), self.now(), sum(map(waiting, items))))
        self.show_items(items)

    def show_items(self, items: list[ConversationInfo]) -> None:
        """Show *items*, keeping the cursor on the same conversation."""
        table = self.table
        current = self.current()
        keys = [_key(i) for i in items]
        now = self.now()
        rows = [(state_cell(i), ticket_cell(i), line(i.channel, 20), customer_cell(i),
                 Text(humanise(i.updated_at, now), style="dim", end=""), last_cell(i)) for i in items]
        if self.columns[0] is DESK_COLUMN:
            rows = [(line(self._desk_names.get(i.desk_id, str(i.desk_id)), 20), *row) for i, row in zip(items, rows)]
        if keys == self._keys:
            for key, row in zip(keys, rows):
                for (column, _, _), cell in zip(self.columns, row):
                    table.update_cell(key, column, cell)
        else:
            table.clear()
            for key, row in zip(keys, rows):
                table.add_row(*row, key=key)
            if current is not None and _key(current) in keys:
                table.move_cursor(row=keys.index(_key(current)), animate=False)
        self.items = list(items)
        self._keys = keys
        self._show_preview()

    def ticket_or_say(self) -> int | None:
        """The highlighted conversation's ticket, for the inbox's ticket keys; else say why there is none."""
        info = self.current()
        if info is None:
            say(self, "No conversation here.", severity="warning", timeout=2)
        elif info.ticket_id and info.handled:
            return info.ticket_id
        elif info.state == "ended":
            say(self, "This conversation ended without a ticket.", severity="warning", timeout=3)
        else:
            say(self, "Not a ticket yet: press t to take it over.", timeout=3)
        return None

    def current(self) -> ConversationInfo | None:
        table = self.table
        if not self.items or table.row_count == 0 or not 0 <= table.cursor_row < len(self.items):
            return None
        return self.items[table.cursor_row]

    def _show_preview(self) -> None:
        info = self.current()
        preview = self.query_one("#conv-preview", Static)
        if info is None:
            preview.update(Text("No live conversations." if self.hd.conversations.configured else "", style="dim"))
        else:
            preview.update(preview_text(info))

    @on(DataTable.RowHighlighted, "#conv-table")
    def _moved(self, event: DataTable.RowHighlighted) -> None:
        self._show_preview()
        info = self.current()
        if info is not None:
            self._load_transcript(info)

    @work(exclusive=True, group="transcript", exit_on_error=False)
    async def _load_transcript(self, info: ConversationInfo) -> None:
        """The whole transcript of the conversation the agent looks at (the feed brings only the last line)."""
        key = _key(info)
        last = self._fetched.get(key)
        if last is not None and time.monotonic() - last < TRANSCRIPT_SECONDS:
            return
        await asyncio.sleep(0.3)  # the cursor may be just passing by
        try:
            fresh = await self.hd.conversations.refresh_transcript(info.id, desk=info.desk_id)
        except Exception:  # noqa: BLE001 - the preview keeps what it has; the status line tells
            return
        self._fetched[key] = time.monotonic()
        current = self.current()
        if fresh is not None and current is not None and _key(current) == key:
            self.items[self.table.cursor_row] = fresh
            self._show_preview()

    @on(DataTable.RowSelected, "#conv-table")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        info = self.current()
        if info is None:
            return
        if info.handled and info.ticket_id:
            self.open_ticket(info.ticket_id)
        elif info.state == "ended":
            say(self, "This conversation has ended; it cannot be taken over.", severity="warning")
        else:
            say(self, "Not a ticket yet: press t to take it over.", timeout=3)

    # ------------------------------------------------------------- actions

    def action_move(self, delta: int) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + delta)))

    def action_move_to(self, row: int) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=row if row >= 0 else table.row_count - 1)

    def action_refresh_conversations(self) -> None:
        self.refresh_data()

    def action_take_over(self) -> None:
        info = self.current()
        if info is None:
            say(self, "No conversation here.", severity="warning", timeout=2)
            return
        if info.handled and info.ticket_id:
            self.open_ticket(info.ticket_id)
            return
        if info.state == "ended":
            say(self, "This conversation has ended; it cannot be taken over.", severity="warning",
                        title="Take over")
            return
        self._take_over(info)

    @work(group="takeover", exclusive=True, exit_on_error=False)
    async def _take_over(self, info: ConversationInfo) -> None:
        say(self, f"Taking over the chat with {one_line(info.customer, 60)}…", timeout=2)
        try:
            ticket_id = await self.hd.conversations.takeover(info.id, self.me, desk=info.desk_id)
        except HelpdeskError as exc:
            say(self, str(exc), severity="error", title="Take over failed")
            self.refresh_data()
            return
        self.refresh_data()
        await self._push_ticket(ticket_id)

    def open_ticket(self, ticket_id: int) -> None:
        self.run_worker(self._push_ticket(ticket_id), group="open", exclusive=True, exit_on_error=False)

    async def _push_ticket(self, ticket_id: int) -> None:
        from .ticket.screen import TicketScreen

        await self.app.push_screen(TicketScreen(self.hd, self.me, ticket_id))
