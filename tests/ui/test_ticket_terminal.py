"""The ticket screen in a real terminal (tmux): a notification quoting untrusted text.

Pilot runs headless and never turns a notification into terminal output the
way a real driver does; a ``rich.text.Text`` given to ``notify()`` passed
every Pilot test and crashed the app in a terminal. Here the screen runs in
tmux under Textual's own ``App.notify`` and shows a toast quoting an agent
name full of markup and escape sequences.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from test_terminal import Tmux, _sh

from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.settings import load

try:
    from tests.servers import require
except ImportError:  # run from tests/ui
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.servers import require

REPO = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "ticket_terminal_app.py"
NAME = "Ann [@click=app.quit]x[/] [b]bold[/b] \x1b]0;PWNED\x07\x1b[2J\u202eZ"
SHOWN = "Ann [@click=app.quit]x[/] [b]bold[/b] Z"  # what clean() leaves of it


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "HELPDESK_"))}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = tmp_path / "xdg" / var.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    env.update(TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8", COLORTERM="truecolor")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def test_a_toast_quoting_markup_and_escapes_in_a_real_terminal(tmp_path):
    require("tmux")
    db = tmp_path / "desk.db"

    async def build() -> int:
        hd = await bootstrap(load(database_url=f"sqlite+aiosqlite:///{db}"))
        try:
            await hd.agents.identify("ann")
            await hd.agents.set(await hd.agents.get("ann"), "ann", name=NAME)
            ticket = await hd.tickets.create(subject="Printer on fire", body="It smokes.",
                                             requester_email="cy@example.com", requester_name="Cy")
            return ticket.id
        finally:
            await hd.close()

    ticket_id = asyncio.run(build())
    raw = tmp_path / "raw.bin"
    tmux = Tmux(_env(tmp_path), 140, 40)
    try:
        command = " ".join(_sh(a) for a in (sys.executable, str(APP), str(db), str(ticket_id), "ann"))
        tmux.start(f"sleep 0.3; exec {command}")
        tmux.run("pipe-pane", "-t", "t", "-o", f"cat >> {_sh(str(raw))}")
        tmux.wait_for(lambda s: "Printer on fire" in s and "unassigned" in s, what="the ticket")
        tmux.keys("t")  # take it: "Assigned to <my name>" as a toast
        # The timeline's event says "Assigned to" as well: wait for the toast itself.
        screen = tmux.wait_for(lambda s: any(line.lstrip().startswith("▌ Assigned to") for line in s.splitlines()),
                               what="the notification")
        shown = tmux.screen(escapes=True)
        # Still alive and answering keys after the toast.
        tmux.keys("i")
        tmux.wait_for(lambda s: "Requester" not in s, what="the details panel to hide")
        tmux.keys("i")
        tmux.wait_for(lambda s: "Requester" in s, what="the details panel again")
        assert tmux.run("display-message", "-p", "-t", "t", "#{pane_dead}").strip() == "0"
        title = tmux.run("display-message", "-p", "-t", "t", "#{pane_title}")
    finally:
        tmux.kill()
    toasts = [line.strip(" ▌") for line in screen.splitlines() if line.lstrip().startswith("▌ Assigned to")]
    assert toasts == [f"Assigned to {SHOWN}"], screen  # literal: no markup applied, nothing run
    without_sgr = re.sub(r"\x1b\[[0-9;:]*m", "", shown)
    assert "\x1b" not in without_sgr and "\x07" not in shown and "\u202e" not in shown
    assert "PWNED" not in title
    stream = re.sub(rb"\x1b\]22;[a-z-]*\x07", b"", raw.read_bytes())
    assert stream, "nothing was recorded"
    for needle in (b"\x1b]0;PWNED", b"\x07", "\u202e".encode(), b"\x1b]"):
        assert needle not in stream, needle
