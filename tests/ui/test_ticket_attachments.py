"""Attachments and delivery on the ticket screen, on a desk with a real mailbox address.

Mail comes in through the real ingest (MIME parsing, the attachment store);
replies go out through the real outbox to an SMTP server on loopback. The
agent saves an attachment where it chooses (never replacing a file without
asking), opens one with ``xdg-open`` (a recording stand-in on ``PATH``), sees
each reply's delivery state next to it, and resends a failed one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.mail_fixtures import customer_mail, fetched, write_config
from tests.servers import SmtpServer, require
from tui_helpdesk.adapters.mail.imap import prepare
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import EntryKind
from tui_helpdesk.settings import load
from tui_helpdesk.ui.ticket import loading as ticket_module
from tui_helpdesk.ui.widgets.attachments import (AttachmentPicker, SavePathDialog, attachments_of, safe_filename,
                                                 save_attachment)
from tui_helpdesk.ui.dialogs import ConfirmDialog

try:
    from .ticket_fixtures import TicketHarness, opened, screen_text, wait_until
except ImportError:
    from ticket_fixtures import TicketHarness, opened, screen_text, wait_until
from tests.clock import Clock
from tests.desks import START

EVIL = ".\u202einvoice [b]x[@click=app.quit]\x1b]0;PWNED\x07.pdf"
PDF = b"%PDF-1.4 the invoice\n"
TXT = b"plain notes\n"


@pytest.fixture
def smtp():
    require("smtp")
    with SmtpServer() as server:
        yield server


@pytest.fixture
async def mail_desk(tmp_path, smtp, monkeypatch):
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        (tmp_path / var.lower()).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    config = write_config(tmp_path / "config.toml", database_url=f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}",
                          smtp_port=smtp.port)
    hd = await bootstrap(load(str(config)), clock=Clock(START))
    hd.outbox.timeout = 5.0
    hd.outbox.data_timeout = 2.0
    raw = customer_mail(attachments=[(EVIL, "application/pdf", PDF), ("notes.txt", "text/plain", TXT)])
    report = await hd.mail.ingest(hd.mail.addresses[0], "INBOX", 1, prepare(fetched([raw])))
    [ticket_id] = report.created
    me = await hd.agents.identify("ann")
    me = await hd.agents.set(me, "ann", name="Ann Lee", email="ann@desk.test")
    yield hd, me, ticket_id
    await hd.close()


def test_safe_filename():
    assert safe_filename("../../etc/passwd") == "_.._etc_passwd"
    assert safe_filename("..") == "attachment" and safe_filename("") == "attachment"
    assert safe_filename("C:\\temp\\a.exe") == "C:_temp_a.exe"
    assert safe_filename(".bashrc") == "bashrc"
    assert safe_filename("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert safe_filename("a\nb\x1b[2Jc") == "a bc"
    long = safe_filename("x" * 400 + ".pdf")
    assert long.endswith(".pdf") and len(long.encode()) <= 200


async def pick(pilot, app, key: str = "enter"):
    await pilot.press("f")
    await wait_until(pilot, lambda: isinstance(app.screen, AttachmentPicker), what="the attachment list")
    await pilot.press(key)


async def test_save_and_open_an_attachment(mail_desk, tmp_path, monkeypatch):
    hd, me, ticket_id = mail_desk
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "opened"
    opener = bin_dir / "xdg-open"
    opener.write_text(f'#!/bin/sh\nprintf "%s\\n" "$#" "$1" > {record}.tmp && mv {record}.tmp {record}\n')
    opener.chmod(0o700)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    name = safe_filename(EVIL)
    assert name == "invoice [b]x[@click=app.quit].pdf"
    app = TicketHarness(hd, me, ticket_id)
    async with app.run_test(size=(130, 36)) as pilot:
        screen = await opened(pilot)
        message = screen.timeline.index_of(next(e.id for e in screen.timeline.entries if e.kind is EntryKind.MESSAGE))
        assert [a.name for a in attachments_of(screen.timeline.entries[message])] == [name, "notes.txt"]
        assert f"attachment: {name}" in screen_text(app) and "f: save / open" in screen_text(app)
        assert "PWNED" not in screen_text(app)

        # Not on an entry with attachments: said so.
        screen.timeline.select(len(screen.timeline.blocks) - 1)
        if not attachments_of(screen.timeline.current_entry):
            await pilot.press("f")
            await wait_until(pilot, lambda: any("No attachments" in n for n in app.notes), what="the notice")
        screen.timeline.select(message)

        # Save: ~/Downloads/<clean name> is offered; Enter saves it there.
        await pick(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, SavePathDialog), what="the path dialog")
        assert app.screen.query_one(Input).value == str(home / "Downloads" / name)
        await pilot.press("enter")
        target = home / "Downloads" / name
        await wait_until(pilot, lambda: target.exists() and target.read_bytes() == PDF, what="the saved file")
        await wait_until(pilot, lambda: any(n.startswith(f"Saved {name} to ") for n in app.notes), what="notice")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600

        # Again to the same place: asked first; "no" keeps the file there.
        target.write_bytes(b"mine")
        await pick(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, SavePathDialog), what="the path dialog")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the overwrite question")
        await pilot.press("n")
        await wait_until(pilot, lambda: any(n.startswith("Not saved") for n in app.notes), what="notice")
        assert target.read_bytes() == b"mine"
        # ...and "yes" replaces it.
        await pick(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, SavePathDialog), what="the path dialog")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the overwrite question")
        await pilot.press("y")
        await wait_until(pilot, lambda: target.read_bytes() == PDF, what="the replaced file")

        # A directory keeps the attachment's name; a missing directory is an error, not a crash.
        await pick(pilot, app, "down")
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, SavePathDialog), what="the path dialog")
        app.screen.query_one(Input).value = str(tmp_path)
        await pilot.press("enter")
        await wait_until(pilot, lambda: (tmp_path / "notes.txt").exists(), what="notes.txt")
        assert (tmp_path / "notes.txt").read_bytes() == TXT
        await pick(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, SavePathDialog), what="the path dialog")
        app.screen.query_one(Input).value = str(tmp_path / "nowhere" / "x.pdf")
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("no such directory" in n for n in app.notes), what="the error")

        # Open: a private copy under the clean name, handed to xdg-open as one argument.
        await pick(pilot, app, "o")
        await wait_until(pilot, record.exists, what="xdg-open to run")
        count, path = record.read_text().splitlines()
        opened_copy = Path(path)
        assert count == "1" and opened_copy.name == name and opened_copy.read_bytes() == PDF
        assert stat.S_IMODE(opened_copy.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(opened_copy.stat().st_mode) == 0o600
        assert app.screen is screen and app.is_running


def test_saving_never_follows_a_planted_file(tmp_path):
    class Store:
        def __init__(self, root: Path):
            self.root = root

        def path(self, sha):
            return self.root / sha

        def save_as(self, sha, destination):
            destination.write_bytes(self.path(sha).read_bytes())
            return destination

    (tmp_path / "abc").write_bytes(b"data")
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    link = tmp_path / "out" / "link"
    link.parent.mkdir()
    link.symlink_to(victim)
    with pytest.raises(FileExistsError):
        save_attachment(Store(tmp_path), "abc", link, "x")
    assert victim.read_bytes() == b"keep"


async def test_delivery_states_and_resend(mail_desk, smtp, monkeypatch):
    hd, me, ticket_id = mail_desk
    monkeypatch.setattr(ticket_module, "DELIVERY_POLL_SECONDS", 0.2)
    await hd.tickets.reply(ticket_id, "A first answer", actor=me)
    await hd.outbox.drain()
    await hd.tickets.reply(ticket_id, "A second answer", actor=me)
    app = TicketHarness(hd, me, ticket_id)
    async with app.run_test(size=(130, 36)) as pilot:
        screen = await opened(pilot)
        timeline = screen.timeline

        def reply_text(body: str) -> str:
            i = next(i for i, e in enumerate(timeline.entries) if e.kind is EntryKind.REPLY and e.body == body)
            return timeline.entry_text(i)

        await wait_until(pilot, lambda: "✓ sent" in reply_text("A first answer"), what="the first reply sent")
        assert "◷ queued" in reply_text("A second answer")

        smtp.reject_recipient("dana@example.com")
        await hd.outbox.drain()
        await wait_until(pilot, lambda: "✗ failed" in reply_text("A second answer"), what="the failure")
        text = reply_text("A second answer")
        assert "550" in text and "R: resend" in text
        await pilot.pause()
        assert "✗ failed" in screen_text(app)

        # R away from the reply puts the cursor on it; R again asks, then queues it again.
        timeline.select(0)
        await pilot.press("R")
        await wait_until(pilot, lambda: timeline.current_entry.body == "A second answer", what="the cursor")
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        assert "dana@example.com" in screen_text(app)
        await pilot.press("y")
        await wait_until(pilot, lambda: "◷ queued" in reply_text("A second answer"), what="queued again")
        assert any(e.kind is EntryKind.EVENT and e.body.startswith("Resending the reply") for e in timeline.entries)

        smtp.accept_all()
        await hd.outbox.drain()
        await wait_until(pilot, lambda: "✓ sent" in reply_text("A second answer"), what="sent after the resend")
        # Nothing left to resend.
        await pilot.press("R")
        await wait_until(pilot, lambda: any(n.startswith("No reply to resend") for n in app.notes), what="notice")
    assert smtp.received[-1].rcpt_tos == ["dana@example.com"]
