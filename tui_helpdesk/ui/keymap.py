"""Every key binding of the app, each with an id, remappable from the config.

The inbox's keys are listed here; the ticket screen's (``ticket.*``, in
``ui/ticket.py``) and the Conversations view's (``conversations.*``, in
``ui/conversations.py``) are read from their modules on first need, so that
neither is imported at start-up (nor the chatbot's HTTP client with them).

``[keys]`` in config.toml maps a binding id to keys, e.g.::

    [keys]
    "inbox.reply" = "R"
    "table.down" = "j,down,ctrl+n"
    "ticket.composer.send" = "ctrl+s"

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
GROUPS = ("Moving", "Tickets", "Composer", "Filters and views", "General")


def ticket_keys() -> tuple[Key, ...]:
    from .keys import ALL_TICKET_KEYS  # imported here: keys.py imports this module

    return ALL_TICKET_KEYS


def conversation_keys() -> tuple[Key, ...]:
    from .conversations import CONVERSATION_KEYS  # imported here: it loads the chatbot client

    return CONVERSATION_KEYS


# Other screens' ids, by prefix: their keys are loaded when an id with the prefix is looked up.
OTHER_KEYS = {"ticket.": ticket_keys, "conversations.": conversation_keys}


def every_key() -> tuple[Key, ...]:
    """Every binding of the app with an id (imports the other screens)."""
    return ALL_KEYS + tuple(k for load in OTHER_KEYS.values() for k in load())


def bindings(keys: tuple[Key, ...]) -> list[Binding]:
    return [Binding(k.keys, k.action, k.description, show=k.show, id=k.id) for k in keys]


def describe(binding_id: str) -> Key | None:
    found = next((k for k in ALL_KEYS if k.id == binding_id), None)
    if found is None:
        for prefix, load in OTHER_KEYS.items():
            if binding_id.startswith(prefix):
                return next((k for k in load() if k.id == binding_id), None)
    return found


OWN_PREFIXES = tuple(sorted({k.id.split(".")[0] + "." for k in ALL_KEYS} | set(OTHER_KEYS)))


def apply_keymap(app, keys: dict[str, str]) -> list[str]:
    """Remap bindings by id; returns ids to warn about (known prefix but unknown id, or with no keys).

    The inbox's, the ticket screen's and the Conversations view's ids are
    checked; others (dialogs') pass through to ``set_keymap`` untouched, so
    every binding with an id is remappable.
    """
    usable = {k: v for k, v in keys.items() if isinstance(v, str) and v.strip()}
    unknown = sorted(k for k in keys
                     if k not in usable or (k.startswith(OWN_PREFIXES) and describe(k) is None))
    app.set_keymap({k: v for k, v in usable.items() if k not in unknown})
    return unknown
