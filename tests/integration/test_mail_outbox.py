"""The SMTP outbox against a real aiosmtpd server: headers, retries, failures,
the ambiguous timeout after the final dot, partial refusal, restarts, loop protection."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from tui_helpdesk.adapters.mail.imap import prepare
from tui_helpdesk.domain.mail.msgid import parse_message_id
from tui_helpdesk.adapters.store import mailstore as ms
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import EntryKind
from tui_helpdesk.settings import load

from ..mail_fixtures import SUPPORT, customer_mail, fetched, write_config
from ..servers import SmtpServer, require


@pytest.fixture
def smtp():
    require("smtp")
    with SmtpServer() as server:
        yield server


class Desk:
    def __init__(self, hd):
        self.hd = hd
        self.uid = 0

    async def deliver(self, *raws: bytes):
        items = prepare(fetched(list(raws), self.uid + 1))
        self.uid += len(raws)
        return await self.hd.mail.ingest(self.hd.mail.addresses[0], "INBOX", 1, items)

    async def ticket_with_reply(self, raw: bytes | None = None, body: str = "We replaced the printer."):
        [ticket_id] = (await self.deliver(raw or customer_mail())).created
        me = await self.hd.agents.identify()
        await self.hd.agents.set(me, me.login, name="Alice Adams", email="alice@desk.test")
        me = await self.hd.agents.identify()
        await self.hd.tickets.reply(ticket_id, body, actor=me)
        [item] = [i for i in await self.hd.outbox.for_ticket(ticket_id) if not i.automatic]
        return ticket_id, item

    async def events(self, ticket_id: int, name: str):
        return [e for e in await self.hd.tickets.timeline(ticket_id)
                if e.kind is EntryKind.EVENT and e.meta.get("event") == name]


@pytest.fixture
async def make_desk(tmp_path, clock):
    opened = []

    async def make(db_url: str, smtp_port: int, **config) -> Desk:
        path = write_config(tmp_path / f"config{len(opened)}.toml", database_url=db_url, smtp_port=smtp_port, **config)
        hd = await bootstrap(load(str(path)), clock=clock)
        # Tests wait seconds, not minutes: short timeouts, retries in clock minutes.
        hd.outbox.data_timeout = 1.0
        hd.outbox.timeout = 5.0
        opened.append(hd)
        return Desk(hd)

    yield make
    for hd in opened:
        await hd.close()


async def test_a_reply_arrives_with_threading_headers_name_and_signature(db_url, smtp, make_desk):
    desk = await make_desk(db_url, smtp.port, signature="-- \n{agent_name}\n{desk_name} team")
    raw = customer_mail(cc="Boss <boss@example.com>", references="<older@mail.example.com>",
                        in_reply_to="<older@mail.example.com>")
    ticket_id, item = await desk.ticket_with_reply(raw)
    report = await desk.hd.outbox.drain()
    assert report.sent == 1 and report.attempted == 1
    [mail] = smtp.received
    assert mail.mail_from == SUPPORT
    assert sorted(mail.rcpt_tos) == ["boss@example.com", "dana@example.com"]
    msg = mail.message
    assert msg["From"] == f"Alice Adams <{SUPPORT}>"
    assert msg["To"] == "dana@example.com" and msg["Cc"] == "boss@example.com"
    assert msg["Subject"] == f"Re: Printer on fire [#{ticket_id}]"
    assert msg["In-Reply-To"] == "<m1@mail.example.com>"
    assert msg["References"].split() == ["<older@mail.example.com>", "<m1@mail.example.com>"]
    assert msg["Message-ID"] == item.message_id
    info = parse_message_id(msg["Message-ID"], await desk.hd.mail.secret())
    assert (info.ticket_id, info.outbox_id) == (ticket_id, item.id)
    assert msg.get_content().replace("\r\n", "\n") == "We replaced the printer.\n\n-- \nAlice Adams\nSupport team\n"
    sent = await desk.hd.outbox.get(item.id)
    assert sent.status == "sent" and sent.sent_at is not None and sent.pending == ()
    assert sent.results["dana@example.com"]["state"] == "sent"


async def test_fixed_display_name(sqlite_url, smtp, make_desk):
    desk = await make_desk(sqlite_url, smtp.port, display_name="ACME Support", signature="")
    await desk.ticket_with_reply()
    await desk.hd.outbox.drain()
    msg = smtp.received[0].message
    assert msg["From"] == f"ACME Support <{SUPPORT}>"
    assert msg.get_content().replace("\r\n", "\n") == "We replaced the printer.\n"


async def test_421_is_retried_with_backoff_and_the_same_message_id(sqlite_url, smtp, make_desk, clock):
    desk = await make_desk(sqlite_url, smtp.port)
    _ticket_id, item = await desk.ticket_with_reply()
    smtp.fail_next(1)  # 421 after DATA, and the server hangs up
    report = await desk.hd.outbox.drain()
    assert report.retrying == 1 and smtp.received == []
    retry = await desk.hd.outbox.get(item.id)
    assert retry.status == "queued" and retry.attempts == 1 and retry.next_attempt_at > clock.now
    assert retry.results["dana@example.com"]["code"] == 421

    report = await desk.hd.outbox.drain()  # not due yet: nothing is tried
    assert report.attempted == 0 and smtp.attempts == 1
    clock.advance(minutes=2)
    report = await desk.hd.outbox.drain()
    assert report.sent == 1
    [mail] = smtp.received
    assert mail.message["Message-ID"] == item.message_id
    assert (await desk.hd.outbox.get(item.id)).status == "sent"


async def test_550_is_a_permanent_failure_shown_on_the_ticket(sqlite_url, smtp, make_desk, clock):
    desk = await make_desk(sqlite_url, smtp.port)
    ticket_id, item = await desk.ticket_with_reply()
    smtp.fail_next(1, "550 5.7.1 Message rejected as spam")
    report = await desk.hd.outbox.drain()
    assert report.failed == 1
    failed = await desk.hd.outbox.get(item.id)
    assert failed.status == "failed" and failed.pending == ()
    [event] = await desk.events(ticket_id, "delivery_failed")
    assert "dana@example.com" in event.body and "rejected as spam" in event.body
    clock.advance(days=1)
    assert (await desk.hd.outbox.drain()).attempted == 0 and smtp.attempts == 1


async def test_a_stall_after_the_final_dot_is_unknown_and_not_resent(sqlite_url, smtp, make_desk, clock):
    desk = await make_desk(sqlite_url, smtp.port)
    ticket_id, item = await desk.ticket_with_reply()
    smtp.stall_next(3.0)  # longer than the 1 s data timeout; the server then keeps the mail
    report = await desk.hd.outbox.drain()
    assert report.unknown == 1
    unknown = await desk.hd.outbox.get(item.id)
    assert unknown.status == "unknown" and unknown.results["dana@example.com"]["state"] == "unknown"
    [event] = await desk.events(ticket_id, "delivery_unknown")
    assert "uncertain" in event.body and "not resent automatically" in event.body
    # The server had the whole message: it may have kept it, so nothing is resent by itself.
    clock.advance(hours=2)
    assert (await desk.hd.outbox.drain()).attempted == 0
    assert smtp.attempts == 1

    # An agent checks and decides to resend: same Message-ID, so the customer's client can dedupe.
    me = await desk.hd.agents.identify()
    again = await desk.hd.outbox.resend(item.id, actor=me)
    assert again.status == "queued"
    assert (await desk.hd.outbox.drain()).sent == 1
    assert smtp.received[-1].message["Message-ID"] == item.message_id
    assert await desk.events(ticket_id, "delivery_resend")


async def test_partial_refusal_retries_only_the_refused_recipient(sqlite_url, smtp, make_desk, clock):
    desk = await make_desk(sqlite_url, smtp.port)
    raw = customer_mail(cc="Boss <boss@example.com>, Gone <gone@example.com>")
    ticket_id, item = await desk.ticket_with_reply(raw)
    assert set(item.recipients) == {"dana@example.com", "boss@example.com", "gone@example.com"}
    smtp.defer_recipient("boss@example.com")  # 450: try later
    smtp.reject_recipient("gone@example.com")  # 550: never
    report = await desk.hd.outbox.drain()
    assert report.retrying == 1
    [first] = smtp.received
    assert first.rcpt_tos == ["dana@example.com"]
    partial = await desk.hd.outbox.get(item.id)
    assert partial.status == "queued" and partial.pending == ("boss@example.com",)
    [event] = await desk.events(ticket_id, "delivery_failed")
    assert "gone@example.com" in event.body and "dana" not in event.body

    smtp.accept_all()
    clock.advance(minutes=2)
    assert (await desk.hd.outbox.drain()).attempted == 1
    second = smtp.received[1]
    assert second.rcpt_tos == ["boss@example.com"]
    assert second.message["Message-ID"] == first.message["Message-ID"] == item.message_id
    done = await desk.hd.outbox.get(item.id)
    assert {a: r["state"] for a, r in done.results.items()} == {
        "dana@example.com": "sent", "boss@example.com": "sent", "gone@example.com": "failed"}
    assert done.status == "failed" and done.pending == ()


async def test_the_queue_survives_a_restart(sqlite_url, smtp, tmp_path, clock):
    path = write_config(tmp_path / "config.toml", database_url=sqlite_url, smtp_port=smtp.port)
    hd = await bootstrap(load(str(path)), clock=clock)
    desk = Desk(hd)
    ticket_id, item = await desk.ticket_with_reply()
    # A second reply was being sent by a process that died mid-send.
    me = await hd.agents.identify()
    await hd.tickets.reply(ticket_id, "And a follow-up.", actor=me)
    stranded = (await hd.outbox.for_ticket(ticket_id))[-1]
    async with hd.store.write() as tx:
        await tx.conn.execute(update(ms.OUTBOX).where(ms.OUTBOX.c.id == stranded.id)
                              .values(status="sending", claimed_by="elsewhere:1:dead"))
    await hd.close()

    hd = await bootstrap(load(str(path)), clock=clock)  # the app restarted
    try:
        report = await hd.outbox.drain()
        assert report.sent == 1 and report.unknown == 1
        [mail] = smtp.received
        assert mail.message["Message-ID"] == item.message_id
        assert (await hd.outbox.get(stranded.id)).status == "unknown"
        events = [e for e in await hd.tickets.timeline(ticket_id) if e.meta.get("event") == "delivery_unknown"]
        assert len(events) == 1 and "stopped while sending" in events[0].body
    finally:
        await hd.close()


async def test_an_unreachable_server_backs_off_instead_of_looping(sqlite_url, make_desk, clock):
    from ..servers import free_port

    desk = await make_desk(sqlite_url, free_port())  # nothing listens there
    _ticket_id, item = await desk.ticket_with_reply()
    sender = desk.hd.outbox.sender(SUPPORT)
    report = await desk.hd.outbox.drain()
    assert report.retrying == 1 and sender.connects == 1
    for _ in range(20):
        await desk.hd.outbox.drain()
    assert sender.connects == 1  # not due again yet
    waiting = await desk.hd.outbox.get(item.id)
    assert waiting.status == "queued" and "cannot connect" in waiting.last_error


async def test_automatic_acknowledgements_are_rate_limited_per_sender(sqlite_url, smtp, make_desk):
    desk = await make_desk(sqlite_url, smtp.port, acknowledge="Thanks, we opened ticket #{ticket_id}.")
    # A robot that does not mark its mail as automatic keeps opening new tickets.
    robot = [customer_mail(sender="Robot <robot@example.net>", message_id=f"<r{i}@example.net>",
                           subject=f"Alert {i}") for i in range(8)]
    result = await desk.deliver(*robot)
    assert len(result.created) == 8
    report = await desk.hd.outbox.drain()
    assert report.sent == 5 and report.suppressed == 3
    assert len(smtp.received) == 5
    suppressed = [e for t in result.created for e in await desk.events(t, "delivery_suppressed")]
    assert len(suppressed) == 3 and "loop protection" in suppressed[0].body
    # routine, not an alarm: marked quiet so the timeline shows it dim
    assert all(e.meta.get("quiet") is True for e in suppressed)
    first = smtp.received[0].message
    assert first["Auto-Submitted"] == "auto-replied"
    assert first.get_content().replace("\r\n", "\n").startswith("Thanks, we opened ticket #")


async def test_a_password_that_cannot_be_read_leaves_the_queue_alone(sqlite_url, smtp, make_desk, monkeypatch):
    from dataclasses import replace

    from tui_helpdesk.settings import Secret

    desk = await make_desk(sqlite_url, smtp.port)
    _ticket_id, item = await desk.ticket_with_reply()
    monkeypatch.delenv("HELPDESK_TEST_NO_SUCH_PASSWORD", raising=False)
    email = desk.hd.outbox.accounts[SUPPORT]
    desk.hd.outbox.accounts[SUPPORT] = replace(email, smtp=replace(
        email.smtp, username="support", password=Secret(env="HELPDESK_TEST_NO_SUCH_PASSWORD")))
    report = await desk.hd.outbox.drain()
    assert report.attempted == 0 and "no SMTP password" in report.errors[0]
    waiting = await desk.hd.outbox.get(item.id)
    assert waiting.status == "queued" and waiting.attempts == 0
