"""An agent writes first (a new email ticket from the app), and sets the Cc of a reply."""

from __future__ import annotations

import email
from email import policy

import pytest
from sqlalchemy import func, select

from tui_helpdesk import settings as settings_mod
from tui_helpdesk.adapters.store.tables import TICKET
from tui_helpdesk.adapters.store.tables_mail import MAIL_OUTBOX as OUTBOX
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.errors import CannotDeliver, UsageError
from tui_helpdesk.domain.model import EntryKind, Status, TicketType

CONFIG = """\
[[desks]]
slug = "support"
name = "Support"

[[desks.email]]
address = "support@example.com"
"""


@pytest.fixture
async def mail_desk(tmp_path, db_url):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    hd = await bootstrap(settings_mod.load(str(config), database_url=db_url), upgrade=True)
    yield hd
    await hd.close()


async def _tickets(hd) -> int:
    async with hd.store.read() as tx:
        return await tx.conn.scalar(select(func.count()).select_from(TICKET))


async def _outbox(hd) -> list:
    async with hd.store.read() as tx:
        return list(await tx.conn.execute(select(OUTBOX).order_by(OUTBOX.c.id)))


async def test_an_agent_starts_an_email_ticket_with_cc_and_later_drops_a_cc(mail_desk):
    hd = mail_desk
    me = await hd.agents.identify("ann")
    result = await hd.tickets.start_email(to="Cy@Example.com", name="Cy Young", cc=["boss@example.com"],
                                          subject="Your order 4521", body="Hello Cy, your parcel left today.",
                                          actor=me)
    ticket = result.ticket
    assert ticket.type is TicketType.EMAIL and ticket.status is Status.ON_CUSTOMER
    assert ticket.assignee.login == "ann" and ticket.requester.email == "cy@example.com"
    kinds = [e.kind for e in await hd.tickets.timeline(ticket.id)]
    assert EntryKind.REPLY in kinds and EntryKind.MESSAGE not in kinds
    [row] = await _outbox(hd)
    assert sorted(row.recipients) == ["boss@example.com", "cy@example.com"]
    sent = email.message_from_bytes(row.raw, policy=policy.default)
    assert sent["To"].addresses[0].addr_spec == "cy@example.com" and "boss@example.com" in str(sent["Cc"])
    assert f"#{ticket.id}" in sent["Subject"]
    assert await hd.mail.recipients(ticket.id) == ("cy@example.com", ["boss@example.com"])

    # The next reply keeps the Cc; one that drops it drops it for the ones after too.
    await hd.tickets.reply(ticket.id, "One more thing.", actor=me)
    assert sorted((await _outbox(hd))[-1].recipients) == ["boss@example.com", "cy@example.com"]
    await hd.tickets.reply(ticket.id, "Just you now.", actor=me, cc=[])
    assert (await _outbox(hd))[-1].recipients == ["cy@example.com"]
    assert await hd.mail.recipients(ticket.id) == ("cy@example.com", [])
    await hd.tickets.reply(ticket.id, "Adding finance.", actor=me, cc=["finance@example.com"])
    assert sorted((await _outbox(hd))[-1].recipients) == ["cy@example.com", "finance@example.com"]


async def test_bad_addresses_are_refused_and_nothing_is_written(mail_desk):
    hd = mail_desk
    me = await hd.agents.identify("ann")
    with pytest.raises(UsageError):
        await hd.tickets.start_email(to="not an address", subject="x", body="y", actor=me)
    with pytest.raises(UsageError):
        await hd.tickets.start_email(to="a@example.com", cc=["b@"], subject="x", body="y", actor=me)
    with pytest.raises(UsageError):
        await hd.tickets.start_email(to="a@example.com", subject="  ", body="y", actor=me)
    assert await _outbox(hd) == [] and await _tickets(hd) == 0


async def test_a_desk_that_cannot_send_email_refuses_before_writing(tmp_path):
    hd = await bootstrap(settings_mod.load(None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"),
                         upgrade=True)
    try:
        me = await hd.agents.identify("ann")
        with pytest.raises(CannotDeliver):
            await hd.tickets.start_email(to="a@example.com", subject="Hello", body="Hi", actor=me)
        assert await _tickets(hd) == 0
    finally:
        await hd.close()


def test_cli_start_and_reply_cc(tmp_path):
    from .test_cli import Cli

    cli = Cli(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    cli.run("db", "upgrade")
    started = cli.json("--config", str(config), "ticket", "start", "--to", "cy@example.com", "--cc", "b@example.com",
                       "--subject", "Hi", "--body", "-", input="Hello from the desk")
    assert started["status"] == "on_customer" and started["delivery"]["state"] == "queued"
    assert started["entry"]["kind"] == "reply" and started["entry"]["body"] == "Hello from the desk"
    replied = cli.json("--config", str(config), "ticket", "reply", str(started["id"]), "--cc", "", "--body", "x")
    assert replied["delivery"]["state"] == "queued"
    line = cli.error("--config", str(config), "ticket", "start", "--to", "nobody", "--subject", "s", "--body", "b",
                     code=2)
    assert line == "helpdesk: error: 'nobody' is not an email address"
