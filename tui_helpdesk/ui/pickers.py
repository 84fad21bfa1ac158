"""Small dialogs for ticket actions: pick a status, an agent, tags; confirm."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..domain.model import Agent, Status
from .text import line, status_text

UNASSIGN = ""


class _Picker(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class StatusPicker(_Picker):
    """Returns a :class:`Status`; digits 1–6 pick directly."""

    BINDINGS = _Picker.BINDINGS + [
        Binding(str(i + 1), f"pick({i})", show=False, id=f"picker.status-{i + 1}") for i in range(len(Status))
    ]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        theme = self.app.theme_variables
        with Vertical(classes="dialog picker"):
            yield Label(Text(self.title_text, end=""), classes="dialog-title")
            options = []
            for i, status in enumerate(Status):
                prompt = Text(f"{i + 1} ", style="dim", end="") + status_text(status, theme)
                options.append(Option(prompt, id=status.value))
            yield OptionList(*options, id="picker-list")

    def action_pick(self, index: int) -> None:
        self.dismiss(list(Status)[index])

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(Status(event.option.id))


class AgentPicker(_Picker):
    """Returns an agent's login, or ``UNASSIGN`` (empty string) to unassign."""

    def __init__(self, title: str, agents: list[Agent], me: Agent) -> None:
        super().__init__()
        self.title_text = title
        self.agents = agents
        self.me = me

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker"):
            yield Label(Text(self.title_text, end=""), classes="dialog-title")
            yield Input(placeholder="type to filter", id="picker-filter")
            yield OptionList(*self._options(""), id="picker-list")

    def _options(self, needle: str) -> list[Option]:
        needle = needle.lower().strip()
        out = []
        if not needle or needle in "unassigned nobody none":
            out.append(Option(Text("— Unassigned", style="dim", end=""), id="\x00none"))
        for agent in self.agents:
            if needle and needle not in agent.login.lower() and needle not in agent.name.lower():
                continue
            prompt = line(agent.name) + Text(f"  @{agent.login}", style="dim", end="")
            if agent.id == self.me.id:
                prompt.append("  (me)", style="bold")
            if agent.availability.value != "available":
                prompt.append(f"  {agent.availability.value}", style="italic dim")
            out.append(Option(prompt, id=agent.login))
        return out

    def on_mount(self) -> None:
        self.query_one("#picker-filter").focus()

    @on(Input.Changed, "#picker-filter")
    def _filter(self, event: Input.Changed) -> None:
        lst = self.query_one("#picker-list", OptionList)
        lst.clear_options()
        lst.add_options(self._options(event.value))
        if lst.option_count:
            lst.highlighted = 0

    @on(Input.Submitted, "#picker-filter")
    def _submit(self) -> None:
        lst = self.query_one("#picker-list", OptionList)
        if lst.option_count:
            option = lst.get_option_at_index(lst.highlighted or 0)
            self._choose(option.id)

    def key_down(self) -> None:
        self.query_one("#picker-list").focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id)

    def _choose(self, option_id: str | None) -> None:
        self.dismiss(UNASSIGN if option_id == "\x00none" else option_id)


class TagDialog(_Picker):
    """Returns a list of tags to add."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker"):
            yield Label(Text(self.title_text, end=""), classes="dialog-title")
            yield Input(placeholder="tags, separated by commas or spaces", id="tags")
            yield Static(Text("Enter adds · Esc cancels", style="dim"), classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one("#tags").focus()

    @on(Input.Submitted, "#tags")
    def _submit(self, event: Input.Submitted) -> None:
        tags = [t for t in event.value.replace(",", " ").split() if t]
        self.dismiss(tags or None)


class ConfirmDialog(ModalScreen[bool]):
    """Yes or no; ``y`` / ``n`` answer directly."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: Text) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker"):
            yield Static(self.question, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)
