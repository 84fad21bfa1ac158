"""Every key binding of the app, each with an id, remappable from the config.

The key tables are in ``ui/keys.py``; this module turns them into bindings,
looks ids up for the help screen and applies the config's remapping. The
ticket screen's keys (``ticket.*``, still in ``ui/ticket.py``) are read from
there on first need, so the ticket screen is not imported at start-up.

``[keys]`` in config.toml maps a binding id to keys, e.g.::

    [keys]
    "inbox.reply" = "R"
    "table.down" = "j,down,ctrl+n"
    "ticket.composer.send" = "ctrl+s"

:func:`apply_keymap` hands that to ``App.set_keymap``; the help screen and the
footer then show the remapped keys, because both read the active bindings.
"""

from __future__ import annotations

from textual.binding import Binding

from .keys import ALL_KEYS, CONVERSATION_KEYS, Key

# Known without importing a screen: the inbox's, the table's, the rail's, the app's, the Conversations view's.
LISTED_KEYS: tuple[Key, ...] = ALL_KEYS + CONVERSATION_KEYS


def ticket_keys() -> tuple[Key, ...]:
    from .ticket import ALL_TICKET_KEYS  # imported here: ticket.py imports this module

    return ALL_TICKET_KEYS


# Other screens' ids, by prefix: their keys are loaded when an id with the prefix is looked up.
OTHER_KEYS = {"ticket.": ticket_keys}


def every_key() -> tuple[Key, ...]:
    """Every binding of the app with an id (imports the ticket screen)."""
    return LISTED_KEYS + tuple(k for load in OTHER_KEYS.values() for k in load())


def bindings(keys: tuple[Key, ...]) -> list[Binding]:
    return [Binding(k.keys, k.action, k.description, show=k.show, id=k.id) for k in keys]


def key_hints(screen) -> dict[str, str]:
    """Binding id -> the keys that trigger it on *screen* now (after remapping), for hints and the palette."""
    out: dict[str, list[str]] = {}
    for key, active in screen.active_bindings.items():
        if active.binding.id:
            out.setdefault(active.binding.id, []).append(screen.app.get_key_display(active.binding.__class__(key, "")))
    return {k: " ".join(v) for k, v in out.items()}


def describe(binding_id: str) -> Key | None:
    found = next((k for k in LISTED_KEYS if k.id == binding_id), None)
    if found is None:
        for prefix, load in OTHER_KEYS.items():
            if binding_id.startswith(prefix):
                return next((k for k in load() if k.id == binding_id), None)
    return found


OWN_PREFIXES = tuple(sorted({k.id.split(".")[0] + "." for k in LISTED_KEYS} | set(OTHER_KEYS)))


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
