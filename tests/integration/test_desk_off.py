"""A desk switched off stops its mail sync and chatbot poller in every running process, live.

A real ``helpdesk sync`` follows the change feed while another process
switches the desk off and on with ``helpdesk desk set``; Dovecot holds the
mail and the chatbot simulator the conversations. While the desk is off,
neither its new mail nor its escalations become tickets; switched on again,
both are fetched. A second process (as the app does) applies the same
change through the feed.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tui_helpdesk.adapters.chatbot.sim import Simulator
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.settings import load

from ..chat_fixtures import KEY
from ..mail_fixtures import IMAP_PASSWORD_ENV, SUPPORT, customer_mail
from ..servers import DovecotServer, require

ROOT = Path(__file__).resolve().parents[2]


def escalated(sim: Simulator, text: str) -> str:
    conv = sim.add_conversation("Lucía Fernández", text=text, language="es")
    sim.escalate(conv, f"{text}: the customer asks for a person")
    return conv


@pytest.fixture
def imap():
    require("dovecot")
    with DovecotServer() as server:
        yield server


def _config(path: Path, imap_port: int, bot_url: str) -> Path:
    path.write_text(
        '[[desks]]\nslug = "support"\nname = "Support"\n\n'
        f'[[desks.email]]\naddress = "{SUPPORT}"\npoll_seconds = 5\n'
        f'[desks.email.imap]\nhost = "127.0.0.1"\nport = {imap_port}\nusername = "support"\n'
        f'password_env = "{IMAP_PASSWORD_ENV}"\nsecurity = "none"\n\n'
        f'[desks.chatbot]\nbase_url = "{bot_url}"\npoll_seconds = 0.2\napi_key_env = "HD_TEST_BOT_KEY"\n')
    path.chmod(0o600)
    return path


async def _helpdesk(db: Path, env: dict, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui_helpdesk", "--db", str(db), *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _tickets(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT channel, subject FROM ticket").fetchall())


async def _until(check, timeout: float, what: str, lines: list[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s; sync said:\n" + "".join(lines))


async def test_switching_a_desk_off_stops_its_mail_and_chatbot_everywhere(imap, tmp_path, isolated_home):
    sim = Simulator(KEY, seed=3)
    bot_url = await sim.start()
    db = tmp_path / "h.db"
    config = _config(tmp_path / "config.toml", imap.port, bot_url)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HELPDESK_CONFIG": str(config),
           IMAP_PASSWORD_ENV: "secret", "HD_TEST_BOT_KEY": KEY}
    await _helpdesk(db, env, "db", "upgrade")
    await _helpdesk(db, env, "agent", "me")  # the first start imports the file's desk
    other = await bootstrap(load(str(config), database_url=f"sqlite+aiosqlite:///{db}"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui_helpdesk", "--db", str(db), "sync", "--no-send", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    lines: list[str] = []

    async def read() -> None:
        while line := await proc.stderr.readline():
            lines.append(line.decode())

    reader = asyncio.ensure_future(read())
    try:
        # On: mail and an escalation become tickets.
        imap.append("support", "INBOX", customer_mail(subject="Before", message_id="<before@example.com>"))
        escalated(sim, "first chat")
        await _until(lambda: len(_tickets(db)) == 2, 20, "the desk's first mail and chat were not fetched", lines)
        assert other.mail.receiving and other.conversations.configured
        seq = await other.feed.latest()

        # Off, from another process: the running sync stops both channels.
        await _helpdesk(db, env, "desk", "set", "support", "enabled=false")
        await _until(lambda: any("desk settings changed" in ln for ln in lines), 5, "sync did not apply it", lines)

        imap.append("support", "INBOX", customer_mail(subject="While off", message_id="<off@example.com>"))
        escalated(sim, "chat while off")
        await asyncio.sleep(4)  # a chatbot poll every 0.2 s and IMAP IDLE: long enough to have fetched both
        assert [s for _, s in _tickets(db)].count("While off") == 0
        assert len(_tickets(db)) == 2, _tickets(db)
        assert sum(1 for m in imap.messages("support") if b"While off" in m[1]) == 1  # left on the server
        # The other running process follows the same feed and stops its channels too.
        changes, _ = await other.feed.since(seq)
        assert any(c.kind == "settings" for c in changes)
        assert await other.reload_settings() == {"mail", "chat"}
        assert other.mail.receiving == [] and not other.conversations.configured
        assert [a.address for a in other.mail.addresses] == [SUPPORT]  # replies on its tickets can still go out

        # On again: both channels start, and what arrived meanwhile is fetched.
        await _helpdesk(db, env, "desk", "set", "support", "enabled=true")
        await _until(lambda: len(_tickets(db)) == 4, 20, "switched on, the desk did not fetch what waited", lines)
        assert "While off" in [s for _, s in _tickets(db)]
        assert await other.reload_settings() == {"mail", "chat"}
        assert other.mail.receiving and other.conversations.configured
        assert proc.returncode is None, "".join(lines)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
        reader.cancel()
        await other.close()
        await sim.stop()
