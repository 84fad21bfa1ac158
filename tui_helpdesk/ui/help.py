"""``?``: every key of the screen underneath, read from its active bindings.

Because it reads the live binding chain (after ``set_keymap``), a key remapped
in the config shows here as remapped.
"""

from __future__ import annotations

from collections import OrderedDict

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from . import keymap
from .keys import GROUPS


def binding_rows(app, screen: Screen) -> "OrderedDict[str, list[tuple[str, str, str]]]":
    """Group -> [(keys, description, binding id)] for every binding active on *screen*."""
    merged: dict[str, tuple[str, list[str], str, str]] = {}
    order: list[str] = []
    for key, active in screen.active_bindings.items():
        binding: Binding = active.binding
        if not binding.description or binding.system:
            continue
        ident = binding.id or f"{binding.action}:{binding.description}"
        known = keymap.describe(binding.id) if binding.id else None
        group = known.group if known else "This screen"
        display = app.get_key_display(Binding(key, binding.action))
        if ident not in merged:
            merged[ident] = (group, [], known.help if known else binding.description, binding.id or "")
            order.append(ident)
        if display not in merged[ident][1]:
            merged[ident][1].append(display)
    groups: OrderedDict[str, list[tuple[str, str, str]]] = OrderedDict(
        (g, []) for g in (*GROUPS, "This screen"))
    for ident in order:
        group, keys, description, binding_id = merged[ident]
        groups.setdefault(group, []).append((" ".join(keys), description, binding_id))
    return OrderedDict((g, rows) for g, rows in groups.items() if rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss_help", "Close help", id="help.close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.target = screen

    def compose(self) -> ComposeResult:
        groups = binding_rows(self.app, self.target)
        with Vertical(id="help", classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                for group, rows in groups.items():
                    table = Table.grid(padding=(0, 2), expand=True)
                    table.add_column(style="bold", min_width=12)
                    table.add_column(ratio=1)
                    table.add_column(style="dim", justify="right")
                    for keys, description, binding_id in rows:
                        table.add_row(Text(keys, end=""), Text(description, end=""), Text(binding_id, end=""))
                    yield Static(Text(group, style="bold underline", end=""), classes="help-group")
                    yield Static(table, classes="help-table")
            yield Static(Text("Keys can be remapped by id in config.toml under [keys]; "
                              "Esc closes.", style="dim", end=""), classes="dialog-help")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
