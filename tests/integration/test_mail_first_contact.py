"""First contact with a mailbox that already holds mail: history is imported quietly (Dovecot)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tui_helpdesk.adapters.store import mailstore as ms
from tui_helpdesk.adapters.store.tables import TICKET
from tui_helpdesk.adapters.store.tables_mail import MAIL_OUTBOX

from ..mail_fixtures import SUPPORT, customer_mail
from .test_mail_sync import Desk, _flags, folder, imap, imap_password, make_desk  # noqa: F401 - fixtures

ACK = "We got your message, ticket #{ticket_id}."


def _mail(n: int, sender: str = "dana") -> bytes:
    return customer_mail(sender=f"{sender.title()} <{sender}{n}@example.com>", subject=f"Old question {n}",
                         message_id=f"<old{n}-{sender}@example.com>", body=f"Question number {n}.\n")


async def test_first_sync_imports_old_and_read_mail_as_history(imap, folder, db_url, make_desk):
    now = datetime.now()
    imap.append("support", folder, _mail(1), msg_time=now - timedelta(days=700))
    imap.append("support", folder, _mail(2), flags=(b"\\Seen",), msg_time=now - timedelta(days=3))
    imap.append("support", folder, _mail(3))
    desk: Desk = await make_desk(db_url, imap=imap, mailbox=folder, acknowledge=ACK)

    [report] = await desk.hd.mail.sync_once()
    assert report.error is None and report.first_contact
    assert (report.fetched, report.created, report.history, report.history_left) == (3, 3, 3, 0)
    assert await desk.count(MAIL_OUTBOX) == 0
    ticket_ids = [t.id for t in (await desk.hd.views.page(await _all(desk), await desk.hd.agents.identify())).rows]
    for ticket_id in ticket_ids:
        [message] = await desk.messages(ticket_id)
        assert message.meta["mail"]["history"] is True
    async with desk.hd.store.read() as tx:
        state = await ms.sync_state(tx, SUPPORT, folder)
    assert state.connected_at is not None and state.history_uid == 4

    # After the first contact: new mail is acknowledged, mail someone already read is not.
    imap.append("support", folder, _mail(4, "eve"))
    imap.append("support", folder, _mail(5, "eve"), flags=(b"\\Seen",))
    [report] = await desk.hd.mail.sync_once()
    assert not report.first_contact and (report.created, report.history) == (2, 1)
    async with desk.hd.store.read() as tx:
        outbox = await ms.outbox_counts(tx)
    assert sum(outbox.values()) == 1
    # the CLI's line says what it did
    from tui_helpdesk.cli.sync import history_line
    assert history_line(report) == "1 message(s) imported as history, without acknowledgements"


async def _all(desk: Desk):
    _name, spec = await desk.hd.views.resolve("all", await desk.hd.agents.identify())
    return spec


async def test_history_can_be_skipped_or_limited_to_recent_days(imap, folder, sqlite_url, make_desk):
    now = datetime.now()
    imap.append("support", folder, _mail(1), msg_time=now - timedelta(days=400))
    imap.append("support", folder, _mail(2), msg_time=now - timedelta(days=2))
    recent = await make_desk(sqlite_url, imap=imap, mailbox=folder, acknowledge=ACK, history_days=30)
    [report] = await recent.hd.mail.sync_once()
    assert report.first_contact and (report.created, report.history, report.history_left) == (1, 1, 1)
    assert await recent.count(MAIL_OUTBOX) == 0
    flags = _flags(imap, folder)
    assert [b"\\Seen" in f for _uid, f in sorted(flags.items())] == [False, True]  # the old one is untouched
    [report] = await recent.hd.mail.sync_once()  # the left-out mail is not fetched again
    assert report.fetched == 0


async def test_skip_leaves_the_history_on_the_server(imap, folder, tmp_path, make_desk):
    for n in range(3):
        imap.append("support", folder, _mail(n))
    desk = await make_desk(f"sqlite+aiosqlite:///{tmp_path / 'skip.db'}", imap=imap, mailbox=folder,
                           acknowledge=ACK, history="skip")
    [report] = await desk.hd.mail.sync_once()
    assert report.first_contact and (report.fetched, report.history_left) == (0, 3)
    assert await desk.count(TICKET) == 0
    assert not any(b"\\Seen" in f for f in _flags(imap, folder).values())
    imap.append("support", folder, _mail(9, "eve"))
    [report] = await desk.hd.mail.sync_once()
    assert (report.fetched, report.created, report.history) == (1, 1, 0)
    assert await desk.count(MAIL_OUTBOX) == 1


async def test_a_recreated_mailbox_is_history_again(imap, folder, sqlite_url, make_desk):
    import time

    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder, acknowledge=ACK)
    imap.append("support", folder, _mail(1))
    await desk.hd.mail.sync_once()
    imap.append("support", folder, _mail(2))
    [report] = await desk.hd.mail.sync_once()
    assert (report.created, report.history) == (1, 0) and await desk.count(MAIL_OUTBOX) == 1
    async with desk.hd.store.read() as tx:
        before = (await ms.sync_state(tx, SUPPORT, folder)).uidvalidity
    with imap.client() as client:  # restored from a backup: new UIDVALIDITY, plus mail we never saw
        for _attempt in range(20):
            client.delete_folder(folder)
            client.create_folder(folder)
            if client.select_folder(folder)[b"UIDVALIDITY"] != before:
                break
            client.close_folder()
            time.sleep(0.3)
    for n in (1, 2, 3):
        imap.append("support", folder, _mail(n))
    [report] = await desk.hd.mail.sync_once()
    assert report.warning and (report.duplicates, report.created, report.history) == (2, 1, 1)
    assert await desk.count(MAIL_OUTBOX) == 1  # nothing new was acknowledged
