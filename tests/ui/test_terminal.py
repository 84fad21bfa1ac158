"""The app in a real terminal (tmux): the demo opens and answers keys; payloads never reach the tty.

Each test runs its own tmux server (``-L``) with XDG directories in tmp and
kills it afterwards. Without tmux the tests skip, except under CI=true.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from ui_support import PAYLOADS

from tests.desks import copy_db, db_url
from tui_helpdesk import settings as settings_mod
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.services.agents import os_login

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _require_tmux() -> str:
    path = shutil.which("tmux")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed (apt-get install -y tmux)")
        pytest.skip("tmux is not installed; install it to run the terminal tests")
    return path


REPO = Path(__file__).resolve().parents[2]


def _helpdesk_command(*args: str) -> str:
    """``helpdesk ARGS`` for this checkout: the same entry point, run from the code under test."""
    return " ".join(_sh(a) for a in (sys.executable, "-m", "tui_helpdesk", *args))


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


class Tmux:
    def __init__(self, env: dict[str, str], width: int = 160, height: int = 50) -> None:
        self.socket = f"helpdesk-test-{uuid.uuid4().hex[:10]}"
        self.env = env
        self.size = (width, height)

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], env=self.env, capture_output=True, timeout=20)
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {args[0]} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode("utf-8", errors="replace")

    def start(self, command: str) -> None:
        w, h = self.size
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(w), "-y", str(h), command)

    def screen(self, escapes: bool = False) -> str:
        return self.run("capture-pane", "-t", "t", "-p", *(["-e"] if escapes else []), check=False)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "") -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{text}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True, timeout=10)


@pytest.fixture
def tmux_env(xdg):
    _require_tmux()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env.update(TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8", COLORTERM="truecolor")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def test_demo_in_a_real_terminal(tmux_env, xdg, demo_db):
    data = Path(tmux_env["XDG_DATA_HOME"]) / "helpdesk"
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    copy_db(demo_db, data / "demo.db")
    tmux = Tmux(tmux_env)
    try:
        tmux.start(_helpdesk_command("demo"))
        screen = tmux.wait_for(lambda s: "Unassigned" in s and re.search(r"#\d+", s), what="the inbox")
        assert "Inbox" in screen and "Mentions" in screen and "Solved" in screen
        assert "On you" in screen or "On cust" in screen
        tmux.keys("]", "]")
        tmux.wait_for(lambda s: re.search(r"│\s+All\s+1 of", s), what="the All view")
        tmux.keys("/")
        time.sleep(0.3)
        tmux.keys("status:new", "Enter")
        def only_new(screen: str) -> bool:
            rows = [line for line in screen.splitlines() if re.search(r"#\d+\s", line)]
            return bool(rows) and all("● New" in line for line in rows)

        tmux.wait_for(only_new, what="only New tickets after the filter")
        tmux.keys("?")
        tmux.wait_for(lambda s: "Keys can be remapped" in s and "table.open" in s, what="the help screen")
        tmux.keys("Escape")  # alone: ESC followed at once by q would read as alt+q
        tmux.wait_for(lambda s: "Keys can be remapped" not in s, what="the help screen to close")
        tmux.keys("q")
        tmux.wait_for(lambda s: "Unassigned" not in s, timeout=10, what="the app to quit")
    finally:
        tmux.kill()


async def _assign_payload_ticket(path: Path) -> None:
    hd = await bootstrap(settings_mod.Settings(database_url=db_url(path)))
    try:
        me = await hd.agents.identify(os_login())
        other = await hd.agents.add(me, "zed", name="Zed [b]x[/b]") if not await _has(hd, "zed") else None
        ticket = await hd.tickets.create(subject="[@click=app.quit]toast[/] \x1b]0;PWNED\x07 \u202eevil",
                                         body="x", requester_email="toast@example.com")
        await hd.tickets.assign(ticket.id, me.login, actor=other or me)
    finally:
        await hd.close()


async def _has(hd, login: str) -> bool:
    return any(a.login == login for a in await hd.agents.list())


def test_payloads_never_reach_the_terminal(tmux_env, tmp_path):
    path = tmp_path / "payloads.db"

    async def build():
        hd = await bootstrap(settings_mod.Settings(database_url=db_url(path)))
        try:
            me = await hd.agents.identify(os_login())
            for i, payload in enumerate(PAYLOADS):
                await hd.tickets.create(subject=f"S{i} {payload} end", body=f"B{i} {payload} end",
                                        requester_email=f"p{i}@example.com", requester_name=f"N{i} {payload}",
                                        channel="email", assignee=me, tags=[f"t{i}"])
        finally:
            await hd.close()

    asyncio.run(build())
    raw = tmp_path / "raw.bin"
    tmux = Tmux(tmux_env, 200, 50)
    try:
        # Start quietly, attach a recorder of every byte the app writes, then start the app.
        tmux.start(f"sleep 0.5; exec {_helpdesk_command('--db', str(path))}")
        tmux.run("pipe-pane", "-t", "t", "-o", f"cat >> {_sh(str(raw))}")
        tmux.wait_for(lambda s: "S0" in s and f"S{len(PAYLOADS) - 1}" in s, what="the payload tickets")
        tmux.keys("j", "k", "G", "g")
        # Another process assigns me a ticket whose subject is a payload: a toast, live, no escape.
        asyncio.run(_assign_payload_ticket(path))
        tmux.wait_for(lambda s: "New in your Inbox" in s, timeout=10, what="the notification")
        shown = tmux.screen(escapes=True)
        title = tmux.run("display-message", "-p", "-t", "t", "#{pane_title}")
    finally:
        tmux.kill()
    # The screen: only colour (SGR) sequences, no OSC, no BEL, no C1 CSI, no bidi controls.
    without_sgr = re.sub(r"\x1b\[[0-9;:]*m", "", shown)
    assert "\x1b" not in without_sgr
    assert "\x07" not in shown and "\x9b" not in shown
    assert not any(ch in shown for ch in BIDI)
    assert "[@click=app.quit]x[/]" in without_sgr and "Re: [/] x" in without_sgr
    assert "PWNED" not in title
    # Every byte written to the terminal: none of the payloads' sequences.
    # Textual's own pointer-shape request (OSC 22, BEL-terminated) is the only OSC allowed.
    stream = re.sub(rb"\x1b\]22;[a-z-]*\x07", b"", raw.read_bytes())
    assert stream, "nothing was recorded"
    for needle in (b"\x1b]52", b"\x1b]0;PWNED", b"\x1b]8;;https://evil", b"\x1bP$q", b"\x1b[21t", b"\x07",
                   "\u202e".encode(), "\u009b".encode()):
        assert needle not in stream, needle
    assert b"\x1b]" not in stream
