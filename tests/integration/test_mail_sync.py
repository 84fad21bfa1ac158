"""Inbound mail: threading, loop protection and the IMAP sync against a real Dovecot.

Ingest tests (threading, forgery, bounces, auto-replies) feed parsed messages
straight to ``MailService.ingest`` and run on SQLite and PostgreSQL; the sync
tests run against Dovecot on loopback, each in its own mailbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tui_helpdesk.adapters.mail.imap import prepare
from tui_helpdesk.domain.mail.msgid import parse_message_id
from tui_helpdesk.adapters.store import mailstore as ms
from tui_helpdesk.adapters.store.tables import ENTRY, TICKET
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import EntryKind, Status, TicketType
from tui_helpdesk.services.mail_sync import CRASH_ENV
from tui_helpdesk.settings import load

from ..mail_fixtures import (
    IMAP_PASSWORD_ENV,
    SUPPORT,
    auto_reply,
    bounce,
    customer_mail,
    fetched,
    list_mail,
    varied_messages,
    write_config,
)
from ..servers import DovecotServer, require

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def imap():
    require("dovecot")
    with DovecotServer() as server:
        yield server


@pytest.fixture
def folder(imap) -> str:
    """A fresh mailbox of the user "support" for one test."""
    name = f"T{uuid.uuid4().hex[:10]}"
    imap.create_mailbox("support", name)
    return name


@pytest.fixture(autouse=True)
def imap_password(monkeypatch):
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "secret")


class Desk:
    """A bootstrapped help desk with one support address, and helpers."""

    def __init__(self, hd, config: Path):
        self.hd = hd
        self.config = config
        self.uid = 0

    @property
    def address(self):
        return self.hd.mail.addresses[0]

    async def deliver(self, *raws: bytes, uidvalidity: int = 1):
        """Ingest messages as if fetched from the mailbox (no server)."""
        items = prepare(fetched(list(raws), self.uid + 1))
        self.uid += len(raws)
        return await self.hd.mail.ingest(self.address, "INBOX", uidvalidity, items)

    async def count(self, table, *where) -> int:
        async with self.hd.store.read() as tx:
            return (await tx.conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()

    async def messages(self, ticket_id: int):
        return [e for e in await self.hd.tickets.timeline(ticket_id) if e.kind is EntryKind.MESSAGE]

    async def events(self, ticket_id: int, name: str):
        return [e for e in await self.hd.tickets.timeline(ticket_id)
                if e.kind is EntryKind.EVENT and e.meta.get("event") == name]

    async def outbox(self, ticket_id: int):
        return await self.hd.outbox.for_ticket(ticket_id)


@pytest.fixture
async def make_desk(tmp_path):
    opened = []

    async def make(db_url: str, *, imap: DovecotServer | None = None, mailbox: str = "INBOX", clock=None,
                   **config) -> Desk:
        path = write_config(tmp_path / f"config{len(opened)}.toml", database_url=db_url,
                            imap_port=imap.port if imap else None, mailbox=mailbox, **config)
        hd = await bootstrap(load(str(path)), clock=clock)
        desk = Desk(hd, path)
        opened.append(desk)
        return desk

    yield make
    for desk in opened:
        await desk.hd.close()


# ------------------------------------------------------------ threading (no server)


async def test_new_mail_becomes_a_ticket_and_replies_join_it(db_url, make_desk):
    desk = await make_desk(db_url)
    hd = desk.hd
    first = customer_mail(
        cc="Boss <boss@example.com>",
        body="Hello,\n\nthe printer is on fire.\n\nOn Monday Bob wrote:\n> is it fixed?\n> please say yes\n",
        attachments=[("photo.png", "image/png", b"\x89PNG fake image bytes")],
    )
    result = await desk.deliver(first)
    assert len(result.created) == 1 and result.entries == 1
    ticket = await hd.tickets.get(result.created[0])
    assert (ticket.type, ticket.channel, ticket.subject, ticket.status) == (
        TicketType.EMAIL, "email", "Printer on fire", Status.NEW)
    assert (ticket.requester.email, ticket.requester.name) == ("dana@example.com", "Dana Example")
    [message] = await desk.messages(ticket.id)
    assert message.body.startswith("Hello,\n\nthe printer is on fire.")
    assert "is it fixed" not in message.body and "is it fixed" in message.meta["quoted"]
    [attachment] = message.meta["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("photo.png", 21)
    assert hd.mail.attachments.get(attachment["sha256"]) == b"\x89PNG fake image bytes"
    assert (await hd.tickets.search("fire"))[0].ticket_id == ticket.id

    # The agent answers: the reply hook queues a signed message in the same transaction.
    me = await hd.agents.identify()
    await hd.tickets.reply(ticket.id, "We are sending the fire brigade.", actor=me)
    [queued] = await desk.outbox(ticket.id)
    assert queued.status == "queued" and queued.recipients == ("dana@example.com", "boss@example.com")
    info = parse_message_id(queued.message_id, await hd.mail.secret())
    assert info is not None and (info.ticket_id, info.outbox_id) == (ticket.id, queued.id)
    assert b"In-Reply-To: <m1@mail.example.com>" in queued.raw
    assert await desk.events(ticket.id, "delivery_waiting")  # this desk has no SMTP server yet

    # The customer answers our message: it joins the ticket and moves its status.
    answer = customer_mail(subject="Re: Printer on fire", message_id="<m2@mail.example.com>",
                           in_reply_to=queued.message_id, references=f"<m1@mail.example.com> {queued.message_id}",
                           body="Thanks! It is out now.\n")
    result = await desk.deliver(answer)
    assert result.created == [] and result.entries == 1
    ticket = await hd.tickets.get(ticket.id)
    assert ticket.status is Status.ON_YOU
    assert [m.body for m in await desk.messages(ticket.id)][-1] == "Thanks! It is out now."
    assert (await desk.messages(ticket.id))[-1].meta["mail"]["threaded_by"] == "signed"

    # The CC'd boss is a participant: their reply with only the subject tag joins too.
    tagged = customer_mail(sender="Boss <boss@example.com>", subject=f"Re: Printer on fire [#{ticket.id}]",
                           message_id="<m3@mail.example.com>", body="Who pays for the printer?\n")
    result = await desk.deliver(tagged)
    assert result.created == []
    last = (await desk.messages(ticket.id))[-1]
    assert last.author == "Boss" and last.meta["mail"]["threaded_by"] == "tag"

    # The same message delivered again (another address, a re-run) is not a second entry.
    result = await desk.deliver(answer)
    assert result.duplicates == 1 and result.entries == 0
    assert len(await desk.messages(ticket.id)) == 3


async def test_forged_headers_from_a_stranger_start_a_new_ticket(db_url, make_desk):
    desk = await make_desk(db_url)
    hd = desk.hd
    [victim] = (await desk.deliver(customer_mail(subject="My bank details", message_id="<secret1@bank.example>"))).created
    me = await hd.agents.identify()
    await hd.tickets.reply(victim, "Got them.", actor=me)
    [ours] = await desk.outbox(victim)
    mac_forged = f"<t{victim}.o{ours.id}.aaaaaaaaaa@desk.test>"
    strangers = [
        customer_mail(sender="Mallory <mallory@evil.example>", message_id="<f1@evil.example>",
                      subject="Re: My bank details", in_reply_to=mac_forged),
        customer_mail(sender="Mallory <mallory@evil.example>", message_id="<f2@evil.example>",
                      subject="Re: My bank details", in_reply_to="<secret1@bank.example>",
                      references="<secret1@bank.example>"),
        customer_mail(sender="Mallory <mallory@evil.example>", message_id="<f3@evil.example>",
                      subject=f"Re: My bank details [#{victim}]"),
    ]
    for raw in strangers:
        result = await desk.deliver(raw)
        assert len(result.created) == 1, raw[:200]
        forged = await hd.tickets.get(result.created[0])
        assert forged.requester.email == "mallory@evil.example"
    assert len(await desk.messages(victim)) == 1
    victim_ticket = await hd.tickets.get(victim)
    assert victim_ticket.status is Status.ON_CUSTOMER

    # The real customer quoting their own earlier Message-ID still joins.
    result = await desk.deliver(customer_mail(subject="Re: My bank details", message_id="<own2@bank.example>",
                                              in_reply_to="<secret1@bank.example>"))
    assert result.created == [] and len(await desk.messages(victim)) == 2


async def test_a_reused_message_id_with_other_content_is_a_new_message(db_url, make_desk):
    desk = await make_desk(db_url)
    first = customer_mail(message_id="<reused@broken.example>", body="The printer is on fire.\n")
    [ticket_id] = (await desk.deliver(first)).created
    # The sender's software gives every message the same Message-ID.
    second = customer_mail(message_id="<reused@broken.example>", subject="Scanner jammed",
                           body="The scanner is jammed too.\n")
    result = await desk.deliver(second)
    assert result.duplicates == 0 and result.entries == 1 and len(result.created) == 1
    assert result.created[0] != ticket_id
    [message] = await desk.messages(result.created[0])
    assert message.body == "The scanner is jammed too."
    # ... and in one batch as well.
    third = customer_mail(message_id="<reused@broken.example>", subject="Fax", body="The fax too.\n")
    fourth = customer_mail(message_id="<reused@broken.example>", subject="Phone", body="And the phone.\n")
    result = await desk.deliver(third, fourth)
    assert result.duplicates == 0 and result.entries == 2


async def test_the_same_message_delivered_twice_is_one_entry(db_url, make_desk):
    desk = await make_desk(db_url)
    original = customer_mail(message_id="<twice@mail.example.com>")
    direct = (b"Return-Path: <dana@example.com>\r\nDelivered-To: support@example.com\r\n"
              b"Received: from mx1.example.com by mail.example.com; Fri, 20 Nov 2026 09:00:01 +0000\r\n" + original)
    # The second copy came another way: other transport headers, and LF line endings.
    other = (b"Delivered-To: sales@example.com\r\nX-Original-To: sales@example.com\r\n"
             b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; b=abc\r\n"
             b"Received: from mx2.example.com by mail.example.com; Fri, 20 Nov 2026 09:00:07 +0000\r\n"
             b"Received: from relay.example.net by mx2.example.com; Fri, 20 Nov 2026 09:00:05 +0000\r\n"
             + original).replace(b"\r\n", b"\n")
    [ticket_id] = (await desk.deliver(direct)).created
    result = await desk.deliver(other)
    assert result.duplicates == 1 and result.entries == 0 and result.created == []
    assert len(await desk.messages(ticket_id)) == 1
    # in one batch too
    again = original.replace(b"<twice@", b"<twice2@")
    result = await desk.deliver(b"Received: from a by b\r\n" + again, again.replace(b"\r\n", b"\n"))
    assert result.duplicates == 1 and result.entries == 1


async def test_auto_replies_lists_and_bounces_never_trigger_anything(db_url, make_desk):
    desk = await make_desk(db_url, acknowledge="We got your message, ticket #{ticket_id}. {desk_name}")
    hd = desk.hd
    [ticket_id] = (await desk.deliver(customer_mail())).created
    [ack] = await desk.outbox(ticket_id)
    assert ack.automatic and ack.recipients == ("dana@example.com",)
    assert b"ticket #" + str(ticket_id).encode() in ack.raw

    me = await hd.agents.identify()
    await hd.tickets.reply(ticket_id, "Looking into it.", actor=me)
    reply = (await desk.outbox(ticket_id))[-1]
    status_before = (await hd.tickets.get(ticket_id)).status

    # An out-of-office answer to our reply: an event, no status change, nothing queued.
    result = await desk.deliver(auto_reply(in_reply_to=reply.message_id))
    assert result.auto == 1 and result.created == []
    [event] = await desk.events(ticket_id, "auto_reply")
    assert "Out of office" in event.body
    assert (await hd.tickets.get(ticket_id)).status is status_before
    assert len(await desk.outbox(ticket_id)) == 2
    # delivered twice more (a second mailbox, a retry by the sender's server): handled once
    again = auto_reply(in_reply_to=reply.message_id)
    result = await desk.deliver(again, again)
    assert result.duplicates == 2 and len(await desk.events(ticket_id, "auto_reply")) == 1

    # An auto-reply about nothing we know is set aside, with a reason.
    result = await desk.deliver(auto_reply(sender="Robot <robot@example.net>", message_id="<ooo2@example.net>"))
    assert result.set_aside == 1 and result.created == []
    status = await hd.mail.status()
    assert "automatic reply" in status["set_aside"][0].reason

    # List mail becomes a ticket (a person may need to read it) but gets no acknowledgement.
    [list_ticket] = (await desk.deliver(list_mail())).created
    assert await desk.outbox(list_ticket) == []

    # A bounce about our reply marks it failed and says so on the ticket; nothing answers it.
    result = await desk.deliver(bounce(reply.message_id, "dana@example.com"))
    assert result.bounces == 1 and result.created == []
    failed = await hd.outbox.get(reply.id)
    assert failed.status == "failed" and failed.results["dana@example.com"]["state"] == "failed"
    [event] = await desk.events(ticket_id, "delivery_failed")
    assert "dana@example.com" in event.body and "5.1.1" in event.body
    assert hd.mail.attachments.exists(event.meta["raw"])
    assert len(await desk.messages(ticket_id)) == 1

    # Our own reply coming back into the mailbox (a Bcc to ourselves) is not a customer message.
    result = await desk.deliver(reply.raw)
    assert result.own == 1 and result.entries == 0 and result.created == []


async def test_a_bounce_from_an_empty_sender_is_never_a_ticket(db_url, make_desk):
    desk = await make_desk(db_url, acknowledge="We got your message, ticket #{ticket_id}.")
    bounces = [
        customer_mail(sender="MAILER-DAEMON <>", subject="Undelivered Mail Returned to Sender",
                      message_id="<b1@mx.example.net>", body="This is the mail system. I'm sorry.\n"),
        customer_mail(sender="MAILER-DAEMON <>", subject="Warning", message_id="<b2@mx.example.net>"),
        # a list-looking notice with no sender address at all
        customer_mail(sender="Lists <>", subject="You are not a member", message_id="<b3@lists.example.net>",
                      extra="List-Id: <news.lists.example.net>"),
    ]
    result = await desk.deliver(*bounces)
    assert result.created == [] and result.entries == 0
    assert result.set_aside + result.bounces == len(bounces)
    assert await desk.count(TICKET) == 0
    status = await desk.hd.mail.status()
    assert all(item.reason for item in status["set_aside"])


async def test_mislabelled_charset_and_signed_mail_read_right_on_the_ticket(db_url, make_desk):
    desk = await make_desk(db_url)
    latin1 = customer_mail(message_id="<latin1@example.com>", body="Grüße, das Café brennt.\n").replace(
        "Grüße, das Café brennt.".encode(), "Grüße, das Café brennt.".encode("latin-1"))
    signed = customer_mail(message_id="<signed@example.com>", body="x").split(b"Content-Type:")[0] + (
        b'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; boundary="S"\r\n'
        b"\r\n--S\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSigned and sealed.\r\n"
        b'--S\r\nContent-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
        b"-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----\r\n--S--\r\n")
    first, second = (await desk.deliver(latin1, signed)).created
    [message] = await desk.messages(first)
    assert message.body == "Grüße, das Café brennt."
    [message] = await desk.messages(second)
    assert message.body == "Signed and sealed."
    assert not message.meta.get("attachments") and message.meta["mail"]["signed"] == ["OpenPGP"]


async def test_reply_after_the_reopen_window_starts_a_linked_follow_up(sqlite_url, make_desk, clock):
    desk = await make_desk(sqlite_url, clock=clock)
    hd = desk.hd
    [ticket_id] = (await desk.deliver(customer_mail())).created
    me = await hd.agents.identify()
    await hd.tickets.reply(ticket_id, "Fixed.", actor=me)
    [ours] = await desk.outbox(ticket_id)
    await hd.tickets.set_status(ticket_id, "closed", actor=me)
    clock.advance(days=8)
    result = await desk.deliver(customer_mail(message_id="<late@mail.example.com>", in_reply_to=ours.message_id,
                                              subject="Re: Printer on fire", body="It is burning again.\n"))
    [follow_up] = result.created
    new = await hd.tickets.get(follow_up)
    assert new.follow_up_of == ticket_id and new.type is TicketType.EMAIL
    assert (await hd.tickets.get(ticket_id)).status is Status.CLOSED
    assert (await desk.events(ticket_id, "follow_up_created"))[0].body.endswith(f"#{follow_up}")


async def test_malformed_messages_never_stop_the_sync(sqlite_url, make_desk):
    desk = await make_desk(sqlite_url)
    garbage = [b"", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 an outlook file", b"no headers at all, just \xff\xfe bytes",
               b"From: =?utf-8?b?G10wO1BXTkVEB0hp?= <x@example.com>\r\nSubject: \x1b]0;PWNED\x07Hi\r\n\r\nbody\x1b[2J\r\n",
               customer_mail(message_id="<ok@example.com>")]
    result = await desk.deliver(*garbage)
    assert result.set_aside + result.entries == len(garbage)
    assert result.set_aside >= 2
    rows = await desk.hd.tickets.timeline(result.created[0])
    for entry in rows:
        assert "\x1b" not in entry.body and "\x07" not in entry.body


async def test_a_message_that_cannot_be_stored_is_set_aside_not_retried_forever(sqlite_url, make_desk, monkeypatch):
    desk = await make_desk(sqlite_url)
    original = type(desk.hd.mail.ingester.planner)._meta

    def meta(self, item, *args):
        if item.parsed.subject == "Poison":
            raise ValueError("cannot handle this one")
        return original(self, item, *args)

    monkeypatch.setattr(type(desk.hd.mail.ingester.planner), "_meta", meta)
    raws = [customer_mail(message_id=f"<p{i}@example.com>", subject="Poison" if i == 3 else f"Fine {i}")
            for i in range(6)]
    result = await desk.deliver(*raws)
    assert (len(result.created), result.set_aside) == (5, 1)
    [aside] = (await desk.hd.mail.status())["set_aside"]
    assert aside.uid == 4 and "cannot handle this one" in aside.reason
    assert desk.hd.mail.attachments.get(aside.raw_sha256) == raws[3]


# ---------------------------------------------------------------- IMAP sync


def _flags(imap: DovecotServer, mailbox: str) -> dict[int, tuple]:
    with imap.client() as client:
        client.select_folder(mailbox, readonly=True)
        uids = client.search("ALL")
        return {uid: data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()} if uids else {}


@pytest.fixture
def quick_retries(monkeypatch):
    import tui_helpdesk.services.mail_sync as mail_sync

    monkeypatch.setattr(mail_sync, "REFUSED_RETRY_DELAYS", (0.01, 0.01))


async def _keys(desk: Desk, folder: str) -> dict[int, str]:
    async with desk.hd.store.read() as tx:
        rows = await tx.conn.execute(select(ms.MM.c.uid, ms.MM.c.kind).where(ms.MM.c.mailbox == folder))
        return {uid: kind for uid, kind in rows}


async def test_a_message_the_server_cannot_read_is_set_aside_not_skipped(imap, folder, sqlite_url, make_desk,
                                                                          quick_retries):
    """Dovecot leaves a message it cannot read out of a FETCH answer without an error: it is
    asked for again, then set aside with the reason - never skipped in silence."""
    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder)
    for i in range(4):
        imap.append("support", folder, customer_mail(message_id=f"<r{i}@example.com>",
                                                     subject="Unreadable" if i == 1 else f"Fine {i}"))
    maildir = Path(imap.dir) / "mail" / "support" / "Maildir" / f".{folder}"
    [victim] = [p for p in maildir.glob("*/*") if b"Subject: Unreadable" in p.read_bytes()]
    victim.unlink()
    victim.mkdir()  # what the server finds where the message was: it cannot read it
    [report] = await desk.hd.mail.sync_once()
    assert report.error is None
    keys = await _keys(desk, folder)
    assert sorted(keys) == [1, 2, 3, 4]  # every message accounted for
    assert await desk.count(TICKET) == 3 and keys[2] == "set_aside"
    [aside] = [a for a in (await desk.hd.mail.status())["set_aside"] if a.uid == 2]
    assert "could not be fetched" in aside.reason or aside.size == 0
    [again] = await desk.hd.mail.sync_once()
    assert again.fetched == 0 and await desk.count(TICKET) == 3


@pytest.mark.parametrize("refusals", [1, 99])
async def test_a_message_the_server_refuses_is_retried_then_set_aside(imap, folder, sqlite_url, make_desk,
                                                                       quick_retries, monkeypatch, refusals):
    from tui_helpdesk.adapters.mail import imap as imap_adapter

    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder)
    for i in range(6):
        imap.append("support", folder, customer_mail(message_id=f"<f{i}@example.com>", subject=f"Mail {i}"))
    fetch = imap_adapter.ImapConnection.fetch
    refused = []

    def refusing_fetch(self, uids):  # the server answers NO whenever UID 4 is asked for
        if 4 in uids and len(refused) < refusals:
            refused.append(list(uids))
            raise imap_adapter.ImapError("fetch: NO [SERVERBUG] Internal error occurred")
        return fetch(self, uids)

    monkeypatch.setattr(imap_adapter.ImapConnection, "fetch", refusing_fetch)
    [report] = await desk.hd.mail.sync_once()
    assert report.error is None
    keys = await _keys(desk, folder)
    assert sorted(keys) == [1, 2, 3, 4, 5, 6]
    if refusals == 1:  # refused once: asked again, and stored like the others
        assert await desk.count(TICKET) == 6 and report.set_aside == 0
    else:
        assert await desk.count(TICKET) == 5 and keys[4] == "set_aside"
        [aside] = (await desk.hd.mail.status())["set_aside"]
        assert aside.uid == 4 and "refused" in aside.reason and "SERVERBUG" in aside.reason
        assert [4] in refused  # the batch was halved down to the one message
    flags = _flags(imap, folder)
    assert all(b"\\Seen" in flags[uid] for uid in (1, 2, 3, 5, 6))


async def test_sync_ingests_then_flags_and_is_idempotent(imap, folder, db_url, make_desk):
    desk = await make_desk(db_url, imap=imap, mailbox=folder)
    for raw in varied_messages(40, seed=7):
        imap.append("support", folder, raw)
    seen = []
    [report] = await desk.hd.mail.sync_once(seen.append)
    assert report.fetched == 40 and report.error is None
    assert report.entries + report.set_aside + report.bounces + report.auto == 40
    assert {p.phase for p in seen} >= {"connecting", "syncing", "done"}
    assert seen[-1].done == 40 and seen[-1].rate > 0
    assert all(b"\\Seen" in flags for flags in _flags(imap, folder).values())
    tickets = await desk.count(TICKET)
    entries = await desk.count(ENTRY)

    # 100 polls with no new mail: nothing new (UID n:* returns the last UID again).
    syncer = desk.hd.mail.syncer(desk.address)
    worker = syncer._worker()
    await worker.open()
    try:
        status = await worker.select(folder)
        state = await _state(desk, folder)
        assert await worker.uids_after(state.last_uid) == []
        for _ in range(100):
            report = type(report)(SUPPORT, folder)
            await syncer._pass(worker, status, None, report)
            assert report.fetched == 0
    finally:
        await worker.close()
    assert (await desk.count(TICKET), await desk.count(ENTRY)) == (tickets, entries)


async def _state(desk: Desk, folder: str) -> ms.SyncState:
    async with desk.hd.store.read() as tx:
        return await ms.sync_state(tx, SUPPORT, folder)


async def test_processed_folder_gets_the_mail_after_commit(imap, folder, sqlite_url, make_desk):
    done = f"{folder}-done"
    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder, processed_folder=done)
    for i in range(3):
        imap.append("support", folder, customer_mail(message_id=f"<mv{i}@example.com>", subject=f"Move {i}"))
    [report] = await desk.hd.mail.sync_once()
    assert report.created == 3
    assert imap.messages("support", folder) == []
    assert len(imap.messages("support", done)) == 3


async def test_uidvalidity_change_rematches_and_warns(imap, folder, sqlite_url, make_desk, capsys):
    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder)
    old = [customer_mail(message_id=f"<uv{i}@example.com>", subject=f"Old {i}") for i in range(3)]
    old.append(customer_mail(message_id=None, subject="No Message-ID at all", sender="Nemo <nemo@example.com>"))
    for raw in old:
        imap.append("support", folder, raw)
    [report] = await desk.hd.mail.sync_once()
    assert report.created == 4
    before = (await _state(desk, folder)).uidvalidity

    # The mailbox is recreated (a restore, a server move): same mail, new UIDs and UIDVALIDITY.
    with imap.client() as client:
        for _attempt in range(20):
            client.delete_folder(folder)
            client.create_folder(folder)
            if client.select_folder(folder)[b"UIDVALIDITY"] != before:
                break
            client.close_folder()
            time.sleep(0.3)
    for raw in old:
        imap.append("support", folder, raw)
    imap.append("support", folder, customer_mail(message_id="<uv-new@example.com>", subject="Brand new"))
    [report] = await desk.hd.mail.sync_once()
    assert report.warning and "UIDVALIDITY" in report.warning
    assert report.created == 1 and report.duplicates == 4
    assert await desk.count(TICKET) == 5 and await desk.count(ENTRY, ENTRY.c.kind == "message") == 5
    state = await _state(desk, folder)
    assert state.uidvalidity != before and "nothing was deleted" in state.warning

    from tui_helpdesk.cli.sync import _status

    await _status(desk.hd)
    assert "UIDVALIDITY" in capsys.readouterr().out


async def _wait_for(predicate, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(step)
    return False


async def test_idle_delivers_within_seconds(imap, folder, sqlite_url, make_desk):
    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder)
    syncer = desk.hd.mail.syncer(desk.address, keepalive=30, poll_chunk=0.2)
    phases = []
    stop = asyncio.Event()
    task = asyncio.create_task(syncer.run(stop, lambda p: phases.append(p.phase)))
    try:
        assert await _wait_for(lambda: _true("idle" in phases), 10)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        imap.append("support", folder, customer_mail(message_id="<idle1@example.com>", subject="Via IDLE"))
        assert await _wait_for(lambda: _has_tickets(desk, 1), 8)
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert syncer.connects == 1
    async with desk.hd.store.read() as tx:
        assert await ms.lease_holder(tx, syncer.lease_name) is None  # released on stop


async def _true(value: bool) -> bool:
    return value


async def _has_tickets(desk: Desk, n: int) -> bool:
    return await desk.count(TICKET) >= n


async def test_background_sync_and_send_for_the_app(imap, folder, sqlite_url, make_desk):
    from ..servers import SmtpServer

    require("smtp")
    with SmtpServer() as smtp:
        desk = await make_desk(sqlite_url, imap=imap, mailbox=folder)
        email = desk.hd.outbox.accounts[SUPPORT]
        from dataclasses import replace

        desk.hd.outbox.accounts[SUPPORT] = replace(email, smtp=replace(email.smtp, host="127.0.0.1", port=smtp.port,
                                                                       security="none"))
        seen = []
        desk.hd.mail.start(seen.append)
        desk.hd.mail.start()  # idempotent
        imap.append("support", folder, customer_mail(message_id="<bg@example.com>", subject="In the background"))
        assert await _wait_for(lambda: _has_tickets(desk, 1), 10)
        assert desk.hd.mail.progress[(SUPPORT, folder)].phase in ("done", "idle", "syncing")
        me = await desk.hd.agents.identify()
        await desk.hd.tickets.reply(1, "Answered from the app.", actor=me)
        await asyncio.to_thread(smtp.wait_for, 1, 10)
        started = time.monotonic()
        await desk.hd.mail.close()
        assert time.monotonic() - started < 5
        assert any(p.phase == "idle" for p in seen)


async def test_poll_fallback_without_idle(imap, folder, sqlite_url, make_desk):
    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder, poll_seconds=1)
    syncer = desk.hd.mail.syncer(desk.address, poll_chunk=0.2)
    original = syncer._worker

    def no_idle():
        worker = original()
        open_ = worker.conn.open

        def open_without_idle():
            open_()
            worker.conn.capabilities = frozenset(c for c in worker.conn.capabilities if c != b"IDLE")

        worker.conn.open = open_without_idle
        return worker

    syncer._worker = no_idle
    stop = asyncio.Event()
    task = asyncio.create_task(syncer.run(stop))
    try:
        await asyncio.sleep(0.5)
        imap.append("support", folder, customer_mail(message_id="<poll1@example.com>", subject="Via polling"))
        assert await _wait_for(lambda: _has_tickets(desk, 1), 6)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.mark.parametrize("how", ["restart", "kill", "silence"])
async def test_server_trouble_during_idle_reconnects_without_busy_loop(how, sqlite_url, make_desk, monkeypatch):
    require("dovecot")
    with DovecotServer() as imap:  # its own server: this test stops it
        folder = "INBOX"
        desk = await make_desk(sqlite_url, imap=imap, mailbox=folder)
        syncer = desk.hd.mail.syncer(desk.address, keepalive=1.5, poll_chunk=0.2, backoff_base=0.2, backoff_max=1.0,
                                     imap_timeout=1.0)
        phases = []
        stop = asyncio.Event()
        task = asyncio.create_task(syncer.run(stop, lambda p: phases.append(p.phase)))
        try:
            imap.append("support", folder, customer_mail(message_id="<before@example.com>", subject="Before"))
            assert await _wait_for(lambda: _has_tickets(desk, 1), 10)
            assert await _wait_for(lambda: _true(phases[-1] == "idle"), 5)
            if how == "restart":  # a clean shutdown: the server says BYE
                await asyncio.to_thread(imap.restart)
            elif how == "kill":  # connections reset
                imap.kill()
                await asyncio.sleep(1.0)
                await asyncio.to_thread(imap.start)
            else:  # the server stops answering (but keeps the connection open)
                os.killpg(imap._proc.pid, signal.SIGSTOP)
                await asyncio.sleep(3.0)
                os.killpg(imap._proc.pid, signal.SIGCONT)
            imap.append("support", folder, customer_mail(message_id="<after@example.com>", subject="After"))
            assert await _wait_for(lambda: _has_tickets(desk, 2), 15)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        assert "reconnecting" in phases
        # backoff, not a busy loop: a handful of attempts over a few seconds of trouble
        assert 2 <= syncer.connects <= 10, syncer.connects
        assert await desk.count(ENTRY, ENTRY.c.kind == "message") == 2


def _sync_script(config: Path, batch: int) -> list[str]:
    code = (
        "import asyncio, sys\n"
        "from tui_helpdesk.bootstrap import bootstrap\n"
        "from tui_helpdesk.settings import load\n"
        "async def main():\n"
        "    hd = await bootstrap(load(sys.argv[1]))\n"
        "    try:\n"
        "        await hd.mail.sync_once(batch_size=int(sys.argv[2]))\n"
        "    finally:\n"
        "        await hd.close()\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    return [sys.executable, "-c", code, str(config), str(batch)]


@pytest.mark.parametrize("point", ["after_fetch:2", "after_commit:2", "after_mark:2"])
async def test_kill_9_mid_sync_then_rerun_gives_exactly_one_entry_each(point, imap, folder, sqlite_url, make_desk):
    raws = [customer_mail(message_id=f"<k{i}@example.com>", subject=f"Crash test {i}",
                          sender=f"User {i} <user{i}@example.com>") for i in range(30)]
    for raw in raws:
        imap.append("support", folder, raw)
    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder)
    env = {**os.environ, CRASH_ENV: point, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(_sync_script(desk.config, 10), env=env, capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]

    [report] = await desk.hd.mail.sync_once(batch_size=10)  # takes over the dead process's lease
    assert report.busy is None and report.error is None
    assert await desk.count(ENTRY, ENTRY.c.kind == "message") == 30
    assert await desk.count(TICKET) == 30
    async with desk.hd.store.read() as tx:
        keys = (await tx.conn.execute(select(ms.MM.c.message_id, ms.MM.c.marked))).all()
    assert sorted(k[0] for k in keys) == sorted(f"<k{i}@example.com>" for i in range(30))
    assert all(k[1] for k in keys)
    assert all(b"\\Seen" in flags for flags in _flags(imap, folder).values())


async def test_cli_sync_once_killed_at_any_moment(imap, folder, sqlite_url, make_desk):
    raws = varied_messages(300, seed=3)
    with imap.client() as client:
        client.multiappend(folder, raws)
    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tui_helpdesk", "--config", str(desk.config), "sync", "--once", "--no-send"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # kill -9 as soon as the first batch is committed: mid-sync, before flagging
    assert await _wait_for(lambda: _true(proc.poll() is not None) if proc.poll() is not None
                           else _committed(desk), 30, step=0.01)
    proc.kill()
    proc.wait(10)

    [report] = await desk.hd.mail.sync_once()
    assert report.error is None
    async with desk.hd.store.read() as tx:
        keys = (await tx.conn.execute(select(ms.MM.c.uid, ms.MM.c.entry_id, ms.MM.c.kind))).all()
    assert sorted(k[0] for k in keys) == list(range(1, 301))
    entry_ids = [k[1] for k in keys if k[2] == "message"]
    assert len(entry_ids) == len(set(entry_ids)) == await desk.count(ENTRY, ENTRY.c.kind == "message")

    proc = subprocess.run(cmd[:-1] + ["--status"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and f"{SUPPORT} {folder}: 300 messages" in proc.stdout


async def _committed(desk: Desk) -> bool:
    return await desk.count(ms.MM) > 0


async def test_one_syncer_per_mailbox(imap, folder, sqlite_url, make_desk):
    desk = await make_desk(sqlite_url, imap=imap, mailbox=folder)
    other = await make_desk(sqlite_url, imap=imap, mailbox=folder)
    first = desk.hd.mail.syncer(desk.address)
    assert await first._take_lease() is None
    [report] = await other.hd.mail.sync_once()
    assert report.busy == first.holder
    await first._drop_lease()
    [report] = await other.hd.mail.sync_once()
    assert report.busy is None
