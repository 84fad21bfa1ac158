"""The app's small dialogs: pick from a list, confirm, add tags, review a collision.

One family for the inbox and the ticket screen. :class:`Picker` is the typed
list every picker builds on (Enter picks, Escape backs out, j/k move, digits
pick directly where the choices are numbered, typing narrows the list where
it has a filter and jumps to the first choice starting with the letters
where it has none); :class:`StatusPicker`, :class:`AgentPicker` and
:class:`CannedPicker` fill it. :class:`ConfirmDialog` and
:class:`CollisionDialog` answer yes or no (``y`` / ``n``), :class:`TagDialog`
returns tags to add and remove, :class:`HoldDialog` why and until when a
ticket is On hold. Each returns its answer with ``dismiss()``; ``None`` (or
``False``) means the agent backed out. Prompts built from data go through
:func:`~.text.line`. The look is in ``dialogs.tcss``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from ..domain.clock import naive_utc
from ..domain.errors import UsageError
from ..domain.hold import parse_until
from ..domain.model import Agent, EntryKind, Status, TimelineEntry
from .text import line, status_text

if TYPE_CHECKING:
    from ..services.composer import CannedReply

T = TypeVar("T")
CSS_FILE = "dialogs.tcss"  # also in the app's CSS_PATH, so opening a dialog re-reads no stylesheet


@dataclass(frozen=True, slots=True)
class Choice(Generic[T]):
    """One line of a picker: what it shows, what it returns, and the words a filter matches."""

    prompt: Text
    value: T
    words: str = ""


class Picker(ModalScreen[T | None], Generic[T]):
    """A titled list; Enter picks, Escape backs out.

    With ``filterable=True`` an input above the list narrows it to the choices
    whose words contain what is typed; up and down still move in the list and
    Enter picks the highlighted choice.
    """

    CSS_PATH = CSS_FILE
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="ticket.dialog.cancel"),
        # j/k as in every list of the app; a filterable picker types them into its filter instead.
        Binding("j", "move(1)", "Down", show=False, id="ticket.dialog.down"),
        Binding("k", "move(-1)", "Up", show=False, id="ticket.dialog.up"),
    ]
    HINT = "enter choose · esc cancel"
    TYPE_AHEAD_SECONDS = 1.0

    def __init__(self, title: str, choices: list[Choice[T]], highlight: int = 0, *, filterable: bool = False) -> None:
        super().__init__(classes="modal-dialog")
        self._title = title
        self._choices = choices
        self._shown = choices
        self._highlight = highlight
        self._filterable = filterable
        self._typed = ""
        self._typed_at = 0.0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(Text(self._title, style="bold", end=""), classes="dialog-title")
            if self._filterable:
                yield Input(placeholder="type to filter", id="picker-filter", classes="dialog-input")
            yield OptionList(*(Option(c.prompt) for c in self._choices), id="picker-list", classes="dialog-options")
            yield Static(Text(self.HINT, style="dim"), classes="dialog-hint")

    @property
    def options(self) -> OptionList:
        return self.query_one("#picker-list", OptionList)

    def on_mount(self) -> None:
        options = self.options
        if self._choices:
            options.highlighted = max(0, min(self._highlight, len(self._choices) - 1))
        (self.query_one("#picker-filter") if self._filterable else options).focus()

    @on(Input.Changed, "#picker-filter")
    def _narrow(self, event: Input.Changed) -> None:
        needle = event.value.lower().strip()
        self._shown = [c for c in self._choices if not needle or needle in c.words.lower()]
        options = self.options
        options.clear_options()
        options.add_options([Option(c.prompt) for c in self._shown])
        if self._shown:
            options.highlighted = 0

    def _move(self, delta: int) -> None:
        options = self.options
        if options.option_count:
            current = options.highlighted if options.highlighted is not None else -delta
            options.highlighted = max(0, min(current + delta, options.option_count - 1))

    # A key reaches the screen before the focused list's own binding runs: move only for the filter.
    def key_down(self) -> None:
        if not self.options.has_focus:
            self._move(1)

    def key_up(self) -> None:
        if not self.options.has_focus:
            self._move(-1)

    def action_move(self, delta: int) -> None:
        self._move(delta)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # In a filterable picker j and k are letters of a name.
        return not (action == "move" and self._filterable)

    def on_key(self, event) -> None:
        """Type-ahead where there is no filter: letters jump to the next choice starting with them."""
        if self._filterable or not event.is_printable or not event.character or not event.character.isalpha():
            return
        if event.character in "jk":
            return
        now = time.monotonic()
        fresh = now - self._typed_at > self.TYPE_AHEAD_SECONDS
        self._typed = (event.character if fresh else self._typed + event.character).lower()
        self._typed_at = now
        # One letter, or the same letter again ("ooo"), steps through the choices starting with it.
        prefix = self._typed[0] if len(set(self._typed)) == 1 else self._typed
        names = [(c.words or c.prompt.plain).lower().lstrip("●0123456789 —") for c in self._shown]
        start = (self.options.highlighted or 0) + (1 if prefix != self._typed or len(prefix) == 1 else 0)
        for step in range(len(names)):
            index = (start + step) % len(names)
            if names[index].startswith(prefix):
                self.options.highlighted = index
                event.stop()
                return

    @on(Input.Submitted, "#picker-filter")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.options
        if options.option_count:
            self.dismiss(self._shown[options.highlighted or 0].value)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self._shown[event.option_index].value)

    def action_pick(self, index: int) -> None:
        if 0 <= index < len(self._choices):
            self.dismiss(self._choices[index].value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class StatusPicker(Picker[Status]):
    """Returns a :class:`Status`; digits 1–6 pick directly. *current* (one ticket's status) is marked."""

    BINDINGS = Picker.BINDINGS + [
        Binding(str(i + 1), f"pick({i})", show=False, id=f"ticket.dialog.status-{i + 1}") for i in range(len(Status))
    ]

    def __init__(self, title: str = "Set status", current: Status | None = None) -> None:
        self._current = current
        statuses = list(Status)
        super().__init__(title, [Choice(Text(""), status, status.label) for status in statuses],
                         highlight=statuses.index(current) if current is not None else 0)

    def compose(self) -> ComposeResult:
        # The status colours come from the theme, known once the dialog is attached.
        theme = self.app.theme_variables
        self._choices = self._shown = [Choice(self._prompt(i, c.value, theme), c.value, c.words)
                                       for i, c in enumerate(self._choices)]
        yield from super().compose()

    def _prompt(self, index: int, status: Status, theme: dict[str, str]) -> Text:
        prompt = Text(f"{index + 1} ", style="dim", end="")
        prompt.append_text(status_text(status, theme))
        prompt.append("   active" if status.is_active else "   closed", style="dim")
        if status is self._current:
            prompt.stylize("bold")
            prompt.append("  (now)", style="dim italic")
        return prompt


@dataclass(frozen=True, slots=True)
class AssigneeChoice:
    """``login=None`` means unassigned."""

    login: str | None


class AgentPicker(Picker[AssigneeChoice]):
    """Returns an :class:`AssigneeChoice`; typing filters by name or login.

    *current* (one ticket's assignee) is marked and highlighted; *offer_take*
    puts "Take it (assign to me)" first.
    """

    def __init__(self, title: str, agents: list[Agent], me: Agent, *, current: Agent | None = None,
                 offer_take: bool = False) -> None:
        choices: list[Choice[AssigneeChoice]] = []
        if offer_take:
            take = Text("Take it (assign to me, ", end="")
            take.append_text(line(me.name, 60))
            take.append(")")
            choices.append(Choice(take, AssigneeChoice(me.login), f"take me {me.login} {me.name}"))
        choices.append(Choice(Text("— Unassigned", style="dim italic", end=""), AssigneeChoice(None),
                              "unassigned nobody none"))
        highlight = 0
        for agent in agents:
            mine = current is not None and agent.id == current.id
            prompt = Text("● " if mine else "  ", end="")
            prompt.append_text(line(agent.name, 60, style="bold"))
            prompt.append("  ")
            prompt.append_text(line(f"@{agent.login}", 40, style="dim"))
            if agent.id == me.id:
                prompt.append("  (me)", style="bold")
            prompt.append(f"  {agent.availability.value}", style="dim italic")
            if mine:
                highlight = len(choices)
            choices.append(Choice(prompt, AssigneeChoice(agent.login), f"{agent.login} {agent.name}"))
        super().__init__(title, choices, highlight=highlight, filterable=True)


class CannedPicker(Picker[str]):
    """Returns the chosen canned reply's body, placeholders filled in."""

    def __init__(self, canned: list[tuple[CannedReply, str]]) -> None:
        choices = []
        for reply, body in canned:
            prompt = line(reply.name, 80, style="bold")
            prompt.append("\n")
            prompt.append_text(line(body, 100, style="dim"))
            choices.append(Choice(prompt, body))
        super().__init__("Canned replies", choices)


@dataclass(frozen=True, slots=True)
class TagChange:
    """What the tag dialog asks for: tags to add and tags to remove."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


def parse_tags(text: str) -> TagChange:
    """``+vip -spam refund`` → add vip and refund, remove spam (as ``helpdesk ticket tag`` reads it)."""
    add: list[str] = []
    remove: list[str] = []
    for word in text.replace(",", " ").split():
        if word.startswith("-"):
            remove.append(word[1:])
        else:
            add.append(word.removeprefix("+"))
    return TagChange(tuple(t for t in add if t), tuple(t for t in remove if t))


class TagSuggester(Suggester):
    """Completes the word being typed from the desk's tags (most used first); ``-`` completes a current tag."""

    def __init__(self, known: list[str], current: tuple[str, ...] = ()) -> None:
        super().__init__(use_cache=False, case_sensitive=False)
        self.known = known
        self.current = current

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value[-1] in " ,":
            return None
        head, _, word = value.rpartition(" ")
        sign = word[:1] if word[:1] in "+-" else ""
        stem = word[len(sign):].lower()
        if not stem:
            return None
        pool = self.current if sign == "-" else self.known
        match = next((t for t in pool if t.startswith(stem) and t != stem), None)
        return f"{head}{' ' if head else ''}{sign}{match}" if match else None


class TagDialog(ModalScreen[TagChange | None]):
    """Returns a :class:`TagChange`: ``tag`` or ``+tag`` adds, ``-tag`` removes; → completes a known tag."""

    CSS_PATH = CSS_FILE
    BINDINGS = Picker.BINDINGS

    def __init__(self, title: str, *, current: tuple[str, ...] = (), known: list[str] | None = None) -> None:
        super().__init__(classes="modal-dialog")
        self._title = title
        self._current = current
        self._known = known or []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(Text(self._title, style="bold", end=""), classes="dialog-title")
            if self._current:
                now = Text("now: ", style="dim", end="")
                now.append_text(line(" ".join(self._current), 200))
                yield Static(now, id="tags-now", classes="dialog-body")
            yield Input(placeholder="tag adds · -tag removes (spaces or commas between)", id="tags",
                        classes="dialog-input", suggester=TagSuggester(self._known, self._current))
            yield Static(Text("enter applies · → completes · esc cancel", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#tags").focus()

    @on(Input.Submitted, "#tags")
    def _submit(self, event: Input.Submitted) -> None:
        change = parse_tags(event.value)
        self.dismiss(change if change.add or change.remove else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True, slots=True)
class HoldChoice:
    """On hold: why, and until when (naive UTC; None = until someone changes it)."""

    reason: str | None
    until: datetime | None


class HoldDialog(ModalScreen[HoldChoice | None]):
    """Asks why a ticket goes On hold and, optionally, until when (read in the agent's time zone)."""

    CSS_PATH = CSS_FILE
    BINDINGS = Picker.BINDINGS

    def __init__(self, title: str, now: datetime) -> None:
        super().__init__(classes="modal-dialog")
        self._title = title
        self._now = now  # the agent's local time, aware

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(Text(self._title, style="bold", end=""), classes="dialog-title")
            yield Input(placeholder="reason (optional): waiting for the courier", id="hold-reason",
                        classes="dialog-input")
            yield Input(placeholder="until (optional): 2h, 3d, tomorrow, mon, 14:30, 2026-12-24 09:00",
                        id="hold-until", classes="dialog-input")
            yield Static("", id="hold-error", classes="dialog-body")
            yield Static(Text("enter puts it on hold · tab next field · esc cancel", style="dim"),
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#hold-error").display = False
        self.query_one("#hold-reason").focus()

    @on(Input.Changed, "#hold-until")
    def _preview(self, event: Input.Changed) -> None:
        box = self.query_one("#hold-error", Static)
        if not event.value.strip():
            box.display = False
            return
        try:
            at = parse_until(event.value, self._now)
        except UsageError as exc:
            box.update(Text(str(exc), style="dim", end=""))
        else:
            box.update(Text(f"back On you {at:%a %d %b %Y %H:%M}", style="dim", end=""))
        box.display = True

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        reason = self.query_one("#hold-reason", Input).value.strip() or None
        text = self.query_one("#hold-until", Input).value
        until = None
        if text.strip():
            try:
                until = naive_utc(parse_until(text, self._now))
            except UsageError as exc:
                box = self.query_one("#hold-error", Static)
                box.update(Text(str(exc), style="bold red", end=""))
                box.display = True
                self.query_one("#hold-until").focus()
                return
        self.dismiss(HoldChoice(reason, until))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """Yes or no: ``y`` or the confirm button answers True; ``n``, Escape or the other button False.

    *title* and *body* are ours or built from :func:`~.text.line` pieces.
    *warning* marks a step that cannot be taken back or reaches outside the
    help desk (the chat, the mail server).
    """

    CSS_PATH = CSS_FILE
    BINDINGS = [
        Binding("escape,n", "answer(False)", "Cancel", id="ticket.confirm.no"),
        Binding("y", "answer(True)", "Confirm", id="ticket.confirm.yes"),
    ]

    def __init__(self, title: str | Text, body: Text | None = None, confirm: str = "Yes", *, cancel: str = "No",
                 warning: bool = False) -> None:
        super().__init__(classes="modal-dialog")
        self._title = title
        self._body = body
        self._confirm = confirm
        self._cancel = cancel
        self._warning = warning

    def compose(self) -> ComposeResult:
        title = self._title if isinstance(self._title, Text) else Text(self._title, style="bold", end="")
        with Vertical(classes="dialog-box -warning" if self._warning else "dialog-box"):
            yield Static(title, classes="dialog-title")
            if self._body is not None:
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


class CollisionDialog(ModalScreen[bool]):
    """New customer messages or replies arrived since the draft began: send anyway?"""

    CSS_PATH = CSS_FILE
    BINDINGS = [
        Binding("escape,n", "answer(False)", "Review first", id="ticket.collision.review"),
        Binding("y", "answer(True)", "Send anyway", id="ticket.collision.send"),
    ]

    def __init__(self, entries: list[TimelineEntry]) -> None:
        super().__init__(classes="modal-dialog")
        self.entries = entries

    def compose(self) -> ComposeResult:
        from .widgets.entry_text import local  # only the ticket screen, which has loaded it, asks this

        with Vertical(classes="dialog-box -warning"):
            names = list(dict.fromkeys(e.author for e in self.entries))
            title = Text("Changed meanwhile: ", style="bold", end="")
            title.append_text(line(", ".join(names), 120, style="bold"))
            title.append(f" wrote {len(self.entries)} new message{'s' if len(self.entries) != 1 else ''} "
                         "since your draft began.")
            yield Static(title, classes="dialog-title")
            with VerticalScroll(classes="dialog-entries"):
                for entry in self.entries[-5:]:
                    said = Text(end="")
                    said.append(local(entry.created_at).strftime("%H:%M "), style="dim")
                    said.append_text(line(entry.author, 60, style="bold"))
                    said.append(" (customer): " if entry.kind is EntryKind.MESSAGE else " (reply): ", style="dim")
                    said.append_text(line(entry.body, 300))
                    yield Static(said, classes="dialog-entry")
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


class LineDialog(ModalScreen[str | None]):
    """One line of text (an instruction for the AI, a language code); Enter returns it, Escape backs out."""

    CSS_PATH = CSS_FILE
    BINDINGS = Picker.BINDINGS

    def __init__(self, title: str, placeholder: str = "", value: str = "") -> None:
        super().__init__(classes="modal-dialog")
        self._title = title
        self._placeholder = placeholder
        self._value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(Text(self._title, style="bold", end=""), classes="dialog-title")
            yield Input(value=self._value, placeholder=self._placeholder, id="line", classes="dialog-input")
            yield Static(Text("enter ok · esc cancel", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#line").focus()

    @on(Input.Submitted, "#line")
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
