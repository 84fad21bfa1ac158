"""Set-aside mail is findable, readable whole and releasable into a ticket (service and CLI)."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import select

from tui_helpdesk.adapters.store.tables import TICKET
from tui_helpdesk.adapters.store.tables_mail import MAIL_MESSAGE
from tui_helpdesk.domain.errors import HelpdeskError
from tui_helpdesk.domain.model import EntryKind

from ..mail_fixtures import auto_reply, customer_mail
from .test_cli import HELPDESK
from .test_mail_sync import Desk, make_desk  # noqa: F401 - the fixture

ACK = "We got your message, ticket #{ticket_id}."


def _robots(n: int) -> list[bytes]:
    """Automatic replies about no ticket: each one is set aside."""
    return [auto_reply(sender=f"Robot {i} <robot{i}@example.net>", message_id=f"<ooo{i}@example.net>",
                       subject=f"Out of office {i}") for i in range(n)]


async def test_set_aside_mail_pages_shows_and_releases_into_a_ticket(db_url, make_desk):
    desk: Desk = await make_desk(db_url, acknowledge=ACK)
    service = desk.hd.mail.set_aside
    robots = _robots(5)
    result = await desk.deliver(*robots)
    assert result.set_aside == 5 and result.created == []

    # every one of them, newest first, by cursor and by offset
    seen, cursor = [], None
    while True:
        page = await service.page(limit=2, cursor=cursor)
        assert page.total == 5
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [a.subject for a in seen] == [f"Out of office {i}" for i in reversed(range(5))]
    assert [a.id for a in (await service.page(limit=2, offset=2)).items] == [seen[2].id, seen[3].id]

    # shown whole: the raw bytes as they arrived, and what they say
    oldest = seen[-1]
    message = await service.get(oldest.id)
    assert message.raw == robots[0]
    assert message.parsed.subject == "Out of office 0" and message.kind.kind == "auto_reply"
    assert "automatic reply" in message.item.reason

    # released: a ticket through the normal path, no acknowledgement, no longer waiting
    me = await desk.hd.agents.identify()
    ticket_id = await service.release(oldest.id, me.login)
    [entry] = await desk.messages(ticket_id)
    assert "I am away until Monday" in entry.body
    assert entry.meta["mail"]["released_by"] == me.login
    ticket = await desk.hd.tickets.get(ticket_id)
    assert ticket.requester.email == "robot0@example.net"
    assert await desk.outbox(ticket_id) == []
    page = await service.page(limit=50)
    assert page.total == 4 and oldest.id not in [a.id for a in page.items]
    everything = await service.page(limit=50, released=True)
    assert everything.total == 5 and next(a for a in everything.items if a.id == oldest.id).ticket_id == ticket_id
    async with desk.hd.store.read() as tx:
        row = (await tx.conn.execute(select(MAIL_MESSAGE).where(MAIL_MESSAGE.c.uid == oldest.uid))).one()
    assert (row.kind, row.ticket_id, row.entry_id) == ("message", ticket_id, entry.id)
    with pytest.raises(HelpdeskError, match="already released into ticket #"):
        await service.release(oldest.id, me.login)

    # The same message delivered again later is known: one entry, not two.
    desk.uid += 100
    again = await desk.deliver(robots[0])
    assert again.duplicates == 1 and len(await desk.messages(ticket_id)) == 1
    assert await desk.count(TICKET) == 1

    # A reply from the same robot, quoting the released message, threads onto that ticket when released.
    follow = customer_mail(sender="Robot 0 <robot0@example.net>", subject="Re: Out of office 0",
                           message_id="<ooo0-2@example.net>", in_reply_to="<ooo0@example.net>",
                           extra="Auto-Submitted: auto-replied", body="Still away.\n")
    assert (await desk.deliver(follow)).auto == 1  # an automatic reply on the ticket: an event
    assert not any(e.kind is EntryKind.MESSAGE and "Still away" in e.body
                   for e in await desk.hd.tickets.timeline(ticket_id))


async def test_unknown_and_unfetched_set_aside_messages_say_why(sqlite_url, make_desk):
    desk = await make_desk(sqlite_url)
    with pytest.raises(HelpdeskError, match="no set-aside message 99"):
        await desk.hd.mail.set_aside.get(99)
    await desk.hd.mail.set_aside_unreadable(desk.address, "INBOX", 1, 7, "server said NO")
    [item] = (await desk.hd.mail.set_aside.page()).items
    assert (await desk.hd.mail.set_aside.get(item.id)).raw is None
    with pytest.raises(HelpdeskError, match="never fetched"):
        await desk.hd.mail.set_aside.release(item.id, "someone")


def _run(config, *args, code=0):
    proc = subprocess.run([*HELPDESK, "--config", str(config), *args], capture_output=True, timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, proc.stderr
    return proc


async def test_mail_commands(sqlite_url, make_desk):
    desk = await make_desk(sqlite_url, acknowledge=ACK)
    robots = _robots(3)
    await desk.deliver(*robots)
    config = desk.config

    page = json.loads(_run(config, "mail", "set-aside", "--limit", "2", "--json").stdout)
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_cursor"]
    rest = json.loads(_run(config, "mail", "set-aside", "--cursor", str(page["next_cursor"]), "--json").stdout)
    assert rest["next_cursor"] is None and len(rest["items"]) == 1
    first = rest["items"][0]
    assert first["subject"] == "Out of office 0" and "automatic reply" in first["reason"]

    assert _run(config, "mail", "show", str(first["id"]), "--raw").stdout == robots[0]
    shown = json.loads(_run(config, "mail", "show", str(first["id"]), "--json").stdout)
    assert shown["parsed"]["classified"]["kind"] == "auto_reply" and "until Monday" in shown["parsed"]["body"]
    text = _run(config, "mail", "show", str(first["id"])).stdout.decode()
    assert "Out of office 0" in text and f"helpdesk mail release {first['id']}" in text

    released = json.loads(_run(config, "mail", "release", str(first["id"]), "--json").stdout)
    assert released["ticket_id"] >= 1
    shown = json.loads(_run(config, "ticket", "show", str(released["ticket_id"]), "--json").stdout)
    assert any("until Monday" in e["body"] for e in shown["timeline"])
    err = _run(config, "mail", "release", str(first["id"]), code=1).stderr.decode()
    assert err.startswith("helpdesk: error: set-aside message") and "already released" in err
    assert _run(config, "mail", "show", "x", code=2).stderr.decode().startswith("helpdesk: error: argument id")
    status = _run(config, "sync", "--status").stdout.decode()
    assert "set aside: 2 message(s)" in status
