"""The details panel beside the timeline: who asked, how, and what they asked before.

Every value here came from a customer, a mailbox or the chatbot platform, so it
is shown through :func:`safe_line` / :func:`safe_text` (cleaned ``Text``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...domain.model import Ticket, TicketRow, TicketType
from ...domain.text import one_line
from .entry_text import ago, local, safe_line, safe_text, when

TYPE_LABEL = {TicketType.EMAIL: "Email", TicketType.LIVE_CHAT: "Live chat", TicketType.API: "API"}


def _value(value: Text | str | None) -> Text:
    if value is None or (isinstance(value, str) and not value):
        return Text("—", style="dim", end="")
    if isinstance(value, Text):
        return value
    text = Text(one_line(value, 300), end="")
    return text


class _Section:
    """A bold title over label / value rows; a long value wraps under itself, not under the label.

    A small renderable rather than a Rich ``Table``: the panel is drawn on
    every ticket opened, and a table measures every cell first (three times
    the work for the same lines).
    """

    LABEL = 12

    def __init__(self, title: str, rows: list[tuple[str, Text | str | None]]):
        self.title = title
        self.rows = [(label, _value(value)) for label, value in rows]

    def __rich_console__(self, console, options):
        room = max(8, options.max_width - self.LABEL - 1)
        yield Text(self.title, style="bold")
        for label, value in self.rows:
            lines = value.wrap(console, room, overflow="fold") if value.cell_len > room or "\n" in value.plain \
                else [value]
            for i, line in enumerate(lines):
                out = Text()
                out.append((label if i == 0 else "")[: self.LABEL].ljust(self.LABEL + 1), style="dim")
                out.append_text(line)
                yield out


def _section(title: str, rows: list[tuple[str, Text | str | None]]) -> _Section:
    return _Section(title, rows)


class PreviousTickets(OptionList):
    """The requester's other tickets; Enter (or a click) opens one."""

    LINES_PER_OPTION = 2  # see DetailsPanel._previous_option: two lines that never wrap

    def _size_updated(self, size, virtual_size, container_size, layout: bool = True) -> bool:
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        # Count the lines while being laid out rather than when first drawn: a count
        # that changes at drawing time asks for another layout (and frame) after it.
        self._update_lines()
        return changed

    def expect_scrollbar(self, count: int) -> None:
        """Before the first layout: place the scrollbar *count* options will need."""
        limit = self.styles.max_height
        if self.size.width or self.show_vertical_scrollbar or limit is None or not limit.is_cells:
            return
        if count * self.LINES_PER_OPTION > limit.value:
            self.set_reactive(PreviousTickets.show_vertical_scrollbar, True)


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
        self._sections: list = []
        self._previous_count = 0

    def compose(self):
        # One Static for every section (one widget to style, lay out and draw, not five),
        # then the list of previous tickets.
        yield Static("", id="details-info", markup=False)
        yield PreviousTickets(id="details-previous")

    def show_chat(self, chat: object | None, problem: str | None = None) -> None:
        """The linked conversation was read (or could not be): show its state."""
        self.chat, self.chat_problem, self.chat_loaded = chat, problem, True
        if self._shown is not None:
            self.show(*self._shown)

    customer_language: str | None = None  # "French (detected) · L: change", once the AI part knows it

    def show_customer_language(self, text: str) -> None:
        self.customer_language = text
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, ticket: Ticket, now: datetime) -> None:
        self._shown = (ticket, now)
        r = ticket.requester
        who: list[tuple[str, Text | str | None]] = [("Name", r.name or None), ("Email", r.email)]
        if r.chatbot_user_id:
            who.append(("Chat user", r.chatbot_user_id))
        who.append(("Language", self.customer_language or r.language))

        rows: list[tuple[str, Text | str | None]] = [
            ("Status", ticket.status.label),
            *([("Back on", local(ticket.hold_until).strftime("%a %d %b %Y %H:%M"))] if ticket.hold_until else []),
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
        parts: list = [_section("Requester", who), Text(""), _section("Ticket", rows), Text("")]
        if ticket.summary:
            summary = Text()  # each part ends its own line: Text("") between them is a blank line
            summary.append("Summary\n", style="bold")
            summary.append_text(safe_text(ticket.summary))
            parts += [summary, Text("")]
        self._sections = parts
        self._draw()

    def _draw(self) -> None:
        title = Text()
        title.append(f"Previous tickets ({self._previous_count})", style="bold")
        if self._previous_count:
            title.append("  p, then enter", style="dim")
        self.query_one("#details-info", Static).update(Group(*self._sections, title))

    def show_previous(self, rows: list[TicketRow], now: datetime) -> None:
        self._previous_count = len(rows)
        options = self.query_one(PreviousTickets)
        options.clear_options()
        options.add_options([self._previous_option(row, now) for row in rows])
        options.expect_scrollbar(len(rows))
        options.display = bool(rows)
        if self._sections:
            self._draw()

    @staticmethod
    def _previous_option(row: TicketRow, now: datetime) -> Option:
        prompt = Text(end="", no_wrap=True, overflow="ellipsis")
        prompt.append(f"#{row.id} ", style="bold")
        prompt.append(f"{row.status.label} · {ago(row.created_at, now)}\n", style="dim")
        prompt.append_text(safe_line(row.subject, 120))
        return Option(prompt, id=str(row.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.OpenTicket(self, int(event.option.id)))
