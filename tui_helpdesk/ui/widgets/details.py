"""The details panel beside the timeline: who asked, how, and what they asked before.

Every value here came from a customer, a mailbox or the chatbot platform, so it
is shown through :func:`safe_line` / :func:`safe_text` (cleaned ``Text``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...domain.model import Ticket, TicketRow, TicketType
from ...domain.text import one_line
from .timeline import ago, safe_line, safe_text, when

TYPE_LABEL = {TicketType.EMAIL: "Email", TicketType.LIVE_CHAT: "Live chat", TicketType.API: "API"}


def _value(value: Text | str | None) -> Text:
    if value is None or (isinstance(value, str) and not value):
        return Text("—", style="dim", end="")
    if isinstance(value, Text):
        return value
    text = Text(one_line(value, 300), end="")
    return text


def _section(title: str, rows: list[tuple[str, Text | str | None]]) -> Group:
    """A bold title over a two-column grid; long values wrap in their column."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="dim", no_wrap=True, width=12)
    grid.add_column(ratio=1, overflow="fold")
    for label, value in rows:
        grid.add_row(Text(label, end=""), _value(value))
    return Group(Text(title, style="bold"), grid)


class PreviousTickets(OptionList):
    """The requester's other tickets; Enter (or a click) opens one."""


CHAT_STATE_LABEL = {"ongoing": "ongoing", "escalated": "escalated", "taken_over": "taken over", "ended": "ended"}


def chat_state(chat: object | None, problem: str | None, loaded: bool) -> Text:
    """The linked conversation's state as the desk last saw it from the platform."""
    if problem:
        out = Text("unknown", style="dim", end="")
        out.append_text(safe_line(f" ({problem})", 120, style="dim"))
        return out
    if chat is None:
        return Text("…" if not loaded else "not seen yet", style="dim italic", end="")
    state = str(getattr(chat, "state", "") or "")
    return safe_line(CHAT_STATE_LABEL.get(state, state or "unknown"), 40,
                     style="bold" if state in ("escalated", "taken_over") else "")


def ai_line(ticket: Ticket, allow_key: str = "A") -> Text:
    if ticket.ai_replies_allowed:
        return Text("AI replies allowed", style="green", end="")
    out = Text("AI paused", style="bold", end="")
    if allow_key:
        out.append(f"\n{allow_key}: allow AI replies", style="dim")
    return out


class DetailsPanel(VerticalScroll, can_focus=False):
    @dataclass
    class OpenTicket(Message):
        panel: "DetailsPanel"
        ticket_id: int

        @property
        def control(self) -> "DetailsPanel":
            return self.panel

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.chat: object | None = None  # the linked conversation (ConversationInfo), when read
        self.chat_problem: str | None = None
        self.chat_loaded = False
        self.allow_key = "A"
        self._shown: tuple[Ticket, datetime] | None = None

    def compose(self):
        yield Static("", id="details-requester", classes="details-section", markup=False)
        yield Static("", id="details-ticket", classes="details-section", markup=False)
        yield Static("", id="details-summary", classes="details-section", markup=False)
        yield Static("", id="details-previous-title", classes="details-title", markup=False)
        yield PreviousTickets(id="details-previous")

    def show_chat(self, chat: object | None, problem: str | None = None) -> None:
        """The linked conversation was read (or could not be): show its state."""
        self.chat, self.chat_problem, self.chat_loaded = chat, problem, True
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, ticket: Ticket, now: datetime) -> None:
        self._shown = (ticket, now)
        r = ticket.requester
        who: list[tuple[str, Text | str | None]] = [("Name", r.name or None), ("Email", r.email)]
        if r.chatbot_user_id:
            who.append(("Chat user", r.chatbot_user_id))
        who.append(("Language", r.language))
        self.query_one("#details-requester", Static).update(_section("Requester", who))

        rows: list[tuple[str, Text | str | None]] = [
            ("Status", ticket.status.label),
            ("Assignee", ticket.assignee.name if ticket.assignee else None),
            ("Channel", ticket.channel),
            ("Type", TYPE_LABEL.get(ticket.type, ticket.type.value)),
            ("Language", ticket.language),
            ("Conversation", ticket.conversation_id),
        ]
        if ticket.type is TicketType.LIVE_CHAT:
            rows.append(("Chat", chat_state(self.chat, self.chat_problem, self.chat_loaded)))
            rows.append(("AI", ai_line(ticket, self.allow_key)))
        rows += [
            ("Created", when(ticket.created_at, now)),
            ("Updated", ago(ticket.updated_at, now)),
            ("Tags", ", ".join(ticket.tags) if ticket.tags else None),
        ]
        if ticket.follow_up_of:
            rows.append(("Follow-up of", f"#{ticket.follow_up_of}"))
        self.query_one("#details-ticket", Static).update(_section("Ticket", rows))

        summary = self.query_one("#details-summary", Static)
        if ticket.summary:
            text = Text("Summary\n", style="bold", end="")
            text.append_text(safe_text(ticket.summary))
            summary.update(text)
        summary.display = bool(ticket.summary)

    def show_previous(self, rows: list[TicketRow], now: datetime) -> None:
        title = self.query_one("#details-previous-title", Static)
        text = Text(f"Previous tickets ({len(rows)})", style="bold", end="")
        if rows:
            text.append("  p, then enter", style="dim")
        title.update(text)
        options = self.query_one(PreviousTickets)
        options.clear_options()
        for row in rows:
            prompt = Text(end="", no_wrap=True, overflow="ellipsis")
            prompt.append(f"#{row.id} ", style="bold")
            prompt.append(f"{row.status.label} · {ago(row.created_at, now)}\n", style="dim")
            prompt.append_text(safe_line(row.subject, 120))
            options.add_option(Option(prompt, id=str(row.id)))
        options.display = bool(rows)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.OpenTicket(self, int(event.option.id)))
