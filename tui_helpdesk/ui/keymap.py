"""Every key binding of the inbox, each with an id, remappable from the config.

``[keys]`` in config.toml maps a binding id to keys, e.g.::

    [keys]
    "inbox.reply" = "R"
    "table.down" = "j,down,ctrl+n"

:func:`apply_keymap` hands that to ``App.set_keymap``; the help screen and the
footer then show the remapped keys, because both read the active bindings.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    keys: str
    action: str
    description: str
    show: bool = False
    group: str = ""
    long: str = ""  # the help screen's wording, when the footer's is short

    @property
    def help(self) -> str:
        return self.long or self.description


APP_KEYS: tuple[Key, ...] = (
    Key("app.help", "question_mark,f1", "help", "Help", True, "General", "Help: every key"),
    Key("app.palette", "colon", "command_palette", "Command palette", False, "General"),
)

INBOX_KEYS: tuple[Key, ...] = (
    Key("inbox.filter", "slash", "filter", "Filter", True, "Filters and views", "Filter / search (query language)"),
    Key("inbox.filter-builder", "F", "filter_builder", "Filter builder", False, "Filters and views"),
    Key("inbox.clear-filter", "backspace", "clear_filter", "Clear the filter", False, "Filters and views"),
    Key("inbox.save-view", "S", "save_view", "Save filter as a view", False, "Filters and views"),
    Key("inbox.edit-view", "E", "edit_view", "Edit this view", False, "Filters and views"),
    Key("inbox.delete-view", "D", "delete_view", "Delete this view", False, "Filters and views"),
    Key("inbox.columns", "C", "columns", "Choose columns", False, "Filters and views"),
    Key("inbox.sort", "o", "sort_next", "Sort by the next column", False, "Filters and views"),
    Key("inbox.sort-reverse", "O", "sort_reverse", "Reverse the sort", False, "Filters and views"),
    Key("inbox.next-view", "right_square_bracket", "next_view", "Next view", False, "Filters and views"),
    Key("inbox.prev-view", "left_square_bracket", "prev_view", "Previous view", False, "Filters and views"),
    Key("inbox.focus-rail", "h", "focus_rail", "Focus the view rail", False, "Filters and views"),
    Key("inbox.focus-table", "l", "focus_table", "Focus the ticket table", False, "Filters and views"),
    Key("inbox.reply", "r", "reply", "Reply", True, "Tickets"),
    Key("inbox.note", "n", "note", "Note", True, "Tickets", "Internal note"),
    Key("inbox.assign", "a", "assign", "Assign", True, "Tickets", "Assign to an agent…"),
    Key("inbox.take", "t", "take", "Take", True, "Tickets", "Take (assign to me)"),
    Key("inbox.status", "s", "status", "Status", True, "Tickets", "Set status…"),
    Key("inbox.close", "c", "close_ticket", "Close", True, "Tickets"),
    Key("inbox.tag", "plus", "tag", "Add tags…", False, "Tickets"),
    Key("inbox.select", "space", "toggle_select", "Select / unselect", False, "Tickets"),
    Key("inbox.select-all", "asterisk", "select_all", "Select all loaded", False, "Tickets"),
    Key("inbox.unselect", "escape", "unselect", "Clear the selection", False, "Tickets"),
    Key("inbox.refresh", "ctrl+r", "refresh", "Refresh", False, "General"),
    # On the inbox, not the app: a letter typed into a dialog must never quit.
    Key("app.availability", "A", "app.toggle_availability", "Toggle available / away", False, "General"),
    Key("app.quit", "q", "app.quit", "Quit", True, "General"),
)

TABLE_KEYS: tuple[Key, ...] = (
    Key("table.down", "j,down", "cursor_down", "Next ticket", False, "Moving"),
    Key("table.up", "k,up", "cursor_up", "Previous ticket", False, "Moving"),
    Key("table.top", "g,home", "first", "First ticket", False, "Moving"),
    Key("table.bottom", "G,end", "last", "Last ticket", False, "Moving"),
    Key("table.half-down", "ctrl+d", "half_page_down", "Half a page down", False, "Moving"),
    Key("table.half-up", "ctrl+u", "half_page_up", "Half a page up", False, "Moving"),
    Key("table.page-down", "pagedown,ctrl+f", "page_down", "Page down", False, "Moving"),
    Key("table.page-up", "pageup,ctrl+b", "page_up", "Page up", False, "Moving"),
    Key("table.open", "enter", "select_cursor", "Open", True, "Tickets", "Open the ticket"),
)

RAIL_KEYS: tuple[Key, ...] = (
    Key("rail.down", "j", "cursor_down", "Next view", False, "Moving"),
    Key("rail.up", "k", "cursor_up", "Previous view", False, "Moving"),
)

ALL_KEYS: tuple[Key, ...] = APP_KEYS + INBOX_KEYS + TABLE_KEYS + RAIL_KEYS
KEY_IDS = frozenset(k.id for k in ALL_KEYS)
GROUPS = ("Moving", "Tickets", "Filters and views", "General")


def bindings(keys: tuple[Key, ...]) -> list[Binding]:
    return [Binding(k.keys, k.action, k.description, show=k.show, id=k.id) for k in keys]


def describe(binding_id: str) -> Key | None:
    return next((k for k in ALL_KEYS if k.id == binding_id), None)


OWN_PREFIXES = tuple(sorted({k.id.split(".")[0] + "." for k in ALL_KEYS}))


def apply_keymap(app, keys: dict[str, str]) -> list[str]:
    """Remap bindings by id; returns ids to warn about (ours but unknown, or with no keys).

    Ids of other screens (the ticket screen's, dialogs') pass through to
    ``set_keymap`` untouched: every binding in the app is remappable.
    """
    usable = {k: v for k, v in keys.items() if isinstance(v, str) and v.strip()}
    unknown = sorted(k for k in keys if k not in usable or (k.startswith(OWN_PREFIXES) and k not in KEY_IDS))
    app.set_keymap({k: v for k, v in usable.items() if k not in unknown})
    return unknown
