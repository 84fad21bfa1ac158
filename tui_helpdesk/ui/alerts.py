"""Alerts that reach an agent whose terminal is not in front: the bell and desktop notifications.

Off by default; an agent turns them on in their own config (``[ui] bell``,
``[ui] desktop_notifications = "osc9" | "osc777"``). OSC 9 is understood by
iTerm2, Windows Terminal, WezTerm, kitty and foot; OSC 777 by VTE terminals
(GNOME Terminal, Tilix) and urxvt. Inside tmux the sequence is wrapped for
passthrough (tmux needs ``set -g allow-passthrough on``); the bell goes
through tmux as it is and marks the window.

What a notification says comes from ticket subjects and names: it is cleaned
to one line and stripped of the characters that end or split an OSC string,
so customer text can never end the sequence and write its own.
"""

from __future__ import annotations

import os

from ..domain.text import one_line

KINDS = ("off", "osc9", "osc777")


def _field(text: str, limit: int) -> str:
    # one_line already drops ESC, BEL and every control; ";" would split OSC 777's fields.
    return one_line(text, limit).replace(";", ",")


def sequence(kind: str, title: str, body: str, *, in_tmux: bool = False) -> str:
    """The escape sequence that asks the terminal for a desktop notification ("" when off)."""
    if kind == "osc9":
        seq = f"\x1b]9;{_field(f'{title}: {body}', 200)}\x07"
    elif kind == "osc777":
        seq = f"\x1b]777;notify;{_field(title, 80)};{_field(body, 200)}\x07"
    else:
        return ""
    if in_tmux:
        seq = "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return seq


def alert(app, title: str, body: str) -> None:
    """Ring and/or notify as this agent's config asks; nothing when both are off."""
    settings = getattr(app, "settings", None)
    if settings is None:
        return
    if settings.bell:
        app.bell()
    seq = sequence(settings.desktop_notifications, title, body, in_tmux=bool(os.environ.get("TMUX")))
    if seq:
        app.write_terminal(seq)
