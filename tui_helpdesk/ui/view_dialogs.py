"""Saving a filter as a view, editing a saved view, and choosing the table's columns: two dialogs.

Both return typed results with ``dismiss()``: a :class:`ViewForm` (name, query,
shared) or the chosen column keys; the inbox applies them through the views
service.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, SelectionList, Static

from ..domain import querylang
from ..domain.errors import QueryError, UsageError
from ..domain.query import COLUMNS, MAX_NAME
from .filters import QuerySuggester, error_text
from .text import plain


@dataclass(frozen=True)
class ViewForm:
    name: str
    query: str
    shared: bool


class SaveViewDialog(ModalScreen[ViewForm | None]):
    """Name a view (and, when editing, change its query); personal or shared."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="saveview.cancel"),
        Binding("ctrl+s", "save", "Save", id="saveview.save"),
    ]

    def __init__(self, *, query: str, name: str = "", title: str = "Save as a view", can_share: bool = False,
                 editing: bool = False) -> None:
        super().__init__()
        self.query_value = query
        self.name_value = name
        self.title_text = title
        self.can_share = can_share
        self.editing = editing

    def compose(self) -> ComposeResult:
        with Vertical(id="save-view", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Label("Name", classes="field-label")
            yield Input(self.name_value, placeholder="e.g. Refunds this week", max_length=MAX_NAME, id="view-name")
            yield Label("Query", classes="field-label")
            yield Input(self.query_value, id="view-query", suggester=QuerySuggester(),
                        disabled=False)
            yield Static("", id="view-error")
            if not self.editing:
                with RadioSet(id="visibility"):
                    yield RadioButton("Personal (only me)", value=True, id="personal")
                    yield RadioButton("Shared with the desk" + ("" if self.can_share else " (admins)"),
                                      id="shared", disabled=not self.can_share)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#view-name", Input).focus()

    def action_save(self) -> None:
        name = self.query_one("#view-name", Input).value
        query = self.query_one("#view-query", Input).value
        error = self.query_one("#view-error", Static)
        if not name.strip():
            error.update(Text("A view needs a name.", style="red"))
            return
        try:
            querylang.parse(query)
        except QueryError as exc:
            error.update(error_text(exc))
            return
        except UsageError as exc:
            error.update(plain(exc))
            return
        shared = False
        if not self.editing:
            shared = self.query_one("#shared", RadioButton).value
        self.dismiss(ViewForm(name.strip(), query.strip(), shared))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class ColumnsDialog(ModalScreen[tuple[str, ...] | None]):
    """Choose the visible columns (space) and their order (shift+up / shift+down)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="columns.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="columns.apply"),
        Binding("shift+up,K", "move(-1)", "Move up", id="columns.up"),
        Binding("shift+down,J", "move(1)", "Move down", id="columns.down"),
    ]

    def __init__(self, columns: tuple[str, ...]) -> None:
        super().__init__()
        self.order = list(columns) + [c for c in COLUMNS if c not in columns]
        self.chosen = set(columns)

    def compose(self) -> ComposeResult:
        with Vertical(id="columns-dialog", classes="dialog"):
            yield Label("Columns", classes="dialog-title")
            yield Static("Space shows or hides · Shift+↑/↓ moves · Ctrl+S applies", classes="dialog-help")
            yield SelectionList[str](*self._items(), id="column-list")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def _items(self):
        return [(c.capitalize(), c, c in self.chosen) for c in self.order]

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_move(self, delta: int) -> None:
        lst = self.query_one(SelectionList)
        index = lst.highlighted
        if index is None:
            return
        self.chosen = set(lst.selected)
        target = index + delta
        if not 0 <= target < len(self.order):
            return
        self.order[index], self.order[target] = self.order[target], self.order[index]
        lst.clear_options()
        lst.add_options(self._items())
        lst.highlighted = target

    def action_apply(self) -> None:
        chosen = set(self.query_one(SelectionList).selected)
        columns = tuple(c for c in self.order if c in chosen)
        if not columns:
            self.notify("Show at least one column.", severity="warning")
            return
        self.dismiss(columns)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


__all__ = ["FilterBar", "FilterBuilder", "SaveViewDialog", "ColumnsDialog", "ViewForm", "error_text"]
