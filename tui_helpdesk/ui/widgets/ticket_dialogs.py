"""Small typed dialogs of the ticket screen: status, assignee, canned reply, collision.

Each returns its answer with ``dismiss()``; ``None`` (or ``False``) means the
agent backed out. Prompts built from data go through :func:`safe_line`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from ...domain.model import Agent, EntryKind, Status, TimelineEntry
from ...services.composer import CannedReply
from .entry_text import local, safe_line

_T = TypeVar("_T")
CSS_FILE = Path(__file__).resolve().parent.parent / "ticket.tcss"


class _Picker(ModalScreen[_T | None], Generic[_T]):
    """A titled list; Enter picks, Escape backs out."""

    CSS_PATH = CSS_FILE
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ticket.dialog.cancel")]

    def __init__(self, title: str, choices: list[tuple[Text, _T]], highlight: int = 0):
        super().__init__(classes="ticket-dialog")
        self._title = title
        self._choices = choices
        self._highlight = highlight

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(Text(self._title, style="bold"), classes="dialog-title")
            yield OptionList(*(Option(prompt) for prompt, _ in self._choices), classes="dialog-options")
            yield Static(Text("enter choose · esc cancel", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self._choices:
            options.highlighted = max(0, min(self._highlight, len(self._choices) - 1))
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self._choices[event.option_index][1])

    def action_cancel(self) -> None:
        self.dismiss(None)


class StatusPicker(_Picker[Status]):
    def __init__(self, current: Status):
        choices = []
        for status in Status:
            prompt = Text(end="")
            prompt.append("● " if status is current else "  ")
            prompt.append(status.label, style="bold" if status is current else "")
            prompt.append("   active" if status.is_active else "   closed", style="dim")
            choices.append((prompt, status))
        super().__init__("Set status", choices, highlight=list(Status).index(current))


@dataclass(frozen=True, slots=True)
class AssigneeChoice:
    """``login=None`` means unassigned."""

    login: str | None


class AssigneePicker(_Picker[AssigneeChoice]):
    def __init__(self, agents: list[Agent], current: Agent | None, me: Agent):
        choices: list[tuple[Text, AssigneeChoice]] = []
        take = Text("Take it (assign to me, ", end="")
        take.append_text(safe_line(me.name, 60))
        take.append(")")
        choices.append((take, AssigneeChoice(me.login)))
        choices.append((Text("Unassigned", style="italic"), AssigneeChoice(None)))
        highlight = 0
        for agent in agents:
            prompt = Text("● " if current and agent.id == current.id else "  ", end="")
            prompt.append_text(safe_line(agent.name, 60, style="bold"))
            prompt.append("  ")
            prompt.append_text(safe_line(f"@{agent.login}", 40, style="dim"))
            prompt.append(f"  {agent.availability.value}", style="dim italic")
            if current and agent.id == current.id:
                highlight = len(choices)
            choices.append((prompt, AssigneeChoice(agent.login)))
        super().__init__("Assign to", choices, highlight=highlight)


class CannedPicker(_Picker[str]):
    """Returns the chosen canned reply's body, placeholders filled in."""

    def __init__(self, canned: list[tuple[CannedReply, str]]):
        choices = []
        for reply, body in canned:
            prompt = safe_line(reply.name, 80, style="bold")
            prompt.append("\n")
            prompt.append_text(safe_line(body, 100, style="dim"))
            choices.append((prompt, body))
        super().__init__("Canned replies", choices)


class CollisionDialog(ModalScreen[bool]):
    """New customer messages or replies arrived since the draft began: send anyway?"""

    CSS_PATH = CSS_FILE
    BINDINGS = [
        Binding("escape,n", "answer(False)", "Review first", id="ticket.collision.review"),
        Binding("y", "answer(True)", "Send anyway", id="ticket.collision.send"),
    ]

    def __init__(self, entries: list[TimelineEntry]):
        super().__init__(classes="ticket-dialog")
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box -warning"):
            names = list(dict.fromkeys(e.author for e in self.entries))
            title = Text("Changed meanwhile: ", style="bold", end="")
            title.append_text(safe_line(", ".join(names), 120, style="bold"))
            title.append(f" wrote {len(self.entries)} new message{'s' if len(self.entries) != 1 else ''} "
                         "since your draft began.")
            yield Static(title, classes="dialog-title")
            with VerticalScroll(classes="dialog-entries"):
                for entry in self.entries[-5:]:
                    line = Text(end="")
                    line.append(local(entry.created_at).strftime("%H:%M "), style="dim")
                    line.append_text(safe_line(entry.author, 60, style="bold"))
                    line.append(" (customer): " if entry.kind is EntryKind.MESSAGE else " (reply): ", style="dim")
                    line.append_text(safe_line(entry.body, 300))
                    yield Static(line, classes="dialog-entry")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Review first (n)", id="review", variant="primary")
                yield Button("Send anyway (y)", id="send", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#review", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "send")

    def action_answer(self, send: bool) -> None:
        self.dismiss(send)


class ConfirmDialog(ModalScreen[bool]):
    """Ask before doing something that reaches outside the help desk (the chat, the mail server).

    ``y`` or the confirm button answers True; ``n``, Escape or the other button False.
    *body* is built by the caller from :func:`safe_line` / :func:`safe_text` pieces.
    """

    CSS_PATH = CSS_FILE
    BINDINGS = [
        Binding("escape,n", "answer(False)", "Cancel", id="ticket.confirm.no"),
        Binding("y", "answer(True)", "Confirm", id="ticket.confirm.yes"),
    ]

    def __init__(self, title: str, body: Text, confirm: str, *, cancel: str = "Cancel", warning: bool = False):
        super().__init__(classes="ticket-dialog")
        self._title = title
        self._body = body
        self._confirm = confirm
        self._cancel = cancel
        self._warning = warning

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box -warning" if self._warning else "dialog-box"):
            yield Static(Text(self._title, style="bold", end=""), classes="dialog-title")
            yield Static(self._body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text(f"{self._cancel} (n)", end=""), id="no")
                yield Button(Text(f"{self._confirm} (y)", end=""), id="yes",
                             variant="warning" if self._warning else "primary")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
