"""Mail sync in the app: started once the inbox is up, its state in the status bar."""

from __future__ import annotations

from dataclasses import replace

from tui_helpdesk.services.mail_sync import SyncProgress
from tui_helpdesk.settings import EmailSettings
from tui_helpdesk.ui.widgets.statusbar import mail_state

from ui_support import screen_text, settle


class FakeMail:
    """Stands in for ``hd.mail``: records the progress callback instead of connecting."""

    addresses = receiving = ["support@example.com"]
    no_password = []

    def __init__(self) -> None:
        self.callbacks = []

    def start(self, progress=None) -> None:
        self.callbacks.append(progress)


def with_mailbox(hd):
    desk = replace(hd.settings.desks[0], emails=(EmailSettings(address="support@example.com"),))
    hd.settings = replace(hd.settings, desks=(desk, *hd.settings.desks[1:]))


def status_line(app) -> str:
    return next(line for line in screen_text(app).splitlines() if "(available)" in line)


async def test_mail_progress_drives_the_status_bar(desk, make_app):
    hd, ana, _ = desk
    with_mailbox(hd)
    fake = FakeMail()
    hd.__dict__["mail"] = fake  # the cached property, without importing IMAP code
    app = make_app(hd, ana)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, lambda: len(fake.callbacks) == 1)
        [progress] = fake.callbacks
        status = app.inbox.status
        assert status.mail == "mail: connecting"
        progress(SyncProgress("support@example.com", "INBOX", "syncing", done=1234, total=10000, rate=850.4))
        await settle(pilot)
        assert "mail: 1,234/10,000 (850/s)" in status_line(app)
        progress(SyncProgress("support@example.com", "INBOX", "idle"))
        await settle(pilot)
        assert "mail ✓" in status_line(app) and status.mail_ok
        progress(SyncProgress("support@example.com", "INBOX", "reconnecting",
                              message="\x1b[31mconnection refused\x1b[0m; retrying in 2.0 s"))
        await settle(pilot)
        assert not status.mail_ok
        assert status.mail == "mail: retrying (connection refused)"
        assert "\x1b" not in status_line(app)
    assert len(fake.callbacks) == 1


async def test_no_mailbox_no_mail_service(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        assert "mail" not in hd.__dict__ and app.inbox.status.mail == ""
        assert "mail" not in status_line(app)


def test_mail_state_sums_mailboxes_and_reports_errors():
    a = SyncProgress("a@example.com", "INBOX", "syncing", done=10, total=100, rate=5)
    b = SyncProgress("b@example.com", "INBOX", "syncing", done=20, total=1000, rate=7)
    assert mail_state([a, b]) == ("mail: 30/1,100 (12/s)", True)
    assert mail_state([SyncProgress("a@example.com", "INBOX", "busy", message="synced by pid 7")]) == ("mail ✓", True)
    text, ok = mail_state([a, SyncProgress("b@example.com", "INBOX", "error", message="bad\nlogin")])
    assert (text, ok) == ("mail: error (bad login)", False)
    assert mail_state([]) == ("", True)
