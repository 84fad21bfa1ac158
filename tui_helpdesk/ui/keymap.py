"""Every key binding of the app, each with an id, remappable from the config.

The key tables are in ``ui/keys.py``; this module turns them into bindings,
looks ids up for the help screen and applies the config's remapping, without
importing any screen.

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

from .keys import ALL_KEYS, ALL_TICKET_KEYS, CONVERSATION_KEYS, SET_ASIDE_KEYS, Key

# Every table is plain data in keys.py: no screen is imported to learn its keys.
LISTED_KEYS: tuple[Key, ...] = ALL_KEYS + CONVERSATION_KEYS + ALL_TICKET_KEYS + SET_ASIDE_KEYS


def every_key() -> tuple[Key, ...]:
    """Every binding of the app with an id."""
    return LISTED_KEYS


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
    return next((k for k in LISTED_KEYS if k.id == binding_id), None)


OWN_PREFIXES = tuple(sorted({k.id.split(".")[0] + "." for k in LISTED_KEYS}))


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
