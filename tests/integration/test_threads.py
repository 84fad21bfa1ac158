"""Threading you can see and fix: why each message joined, split, merge (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tui_helpdesk.adapters.store.tables import CHANGE
from tui_helpdesk.domain.errors import HelpdeskError
from tui_helpdesk.domain.mail.joined import joined_label
from tui_helpdesk.domain.model import EntryKind, Status

from ..mail_fixtures import customer_mail
from .test_mail_sync import Desk, make_desk  # noqa: F401 - the fixture


async def _changes(desk: Desk, after: int) -> list[tuple[int, str]]:
    async with desk.hd.store.read() as tx:
        rows = await tx.conn.execute(select(CHANGE.c.ticket_id, CHANGE.c.kind).where(CHANGE.c.seq > after))
        return [(r[0], r[1]) for r in rows]


async def _seq(desk: Desk) -> int:
    async with desk.hd.store.read() as tx:
        return await tx.latest_seq()


async def test_each_message_says_why_it_joined_its_ticket(db_url, make_desk):
    desk: Desk = await make_desk(db_url)
    hd = desk.hd
    [ticket_id] = (await desk.deliver(customer_mail())).created
    me = await hd.agents.identify()
    await hd.tickets.reply(ticket_id, "On it.", actor=me)
    reply = (await desk.outbox(ticket_id))[-1]
    await desk.deliver(
        customer_mail(message_id="<m2@mail.example.com>", in_reply_to=reply.message_id, body="Thanks!\n"),
        customer_mail(message_id="<m3@mail.example.com>", in_reply_to="<m1@mail.example.com>", body="Also this.\n"),
        customer_mail(message_id="<m4@mail.example.com>", subject=f"Re: [#{ticket_id}] fire", body="And this.\n"))
    joined = [m.meta["mail"]["threaded_by"] for m in await desk.messages(ticket_id)]
    assert joined == ["new", "signed", "references", "tag"]
    assert [joined_label(m.meta) for m in await desk.messages(ticket_id)][0].startswith("a new ticket")


async def test_split_a_message_off_into_a_new_ticket(db_url, make_desk):
    desk = await make_desk(db_url)
    hd = desk.hd
    me = await hd.agents.identify()
    [ticket_id] = (await desk.deliver(customer_mail())).created
    other = customer_mail(message_id="<new-matter@mail.example.com>", subject=f"Re: [#{ticket_id}] Printer on fire",
                          body="Unrelated: my invoice is wrong.\n")
    await desk.deliver(other)
    first, second = await desk.messages(ticket_id)
    seq = await _seq(desk)

    new_id = await hd.threads.split(second.id, actor=me)
    new = await hd.tickets.get(new_id)
    assert new.requester.email == "dana@example.com" and new.status is Status.NEW
    [moved] = await desk.messages(new_id)
    assert moved.body == "Unrelated: my invoice is wrong." and moved.created_at == second.created_at
    assert moved.meta["split_from"]["ticket"] == ticket_id and moved.meta["mail"]["threaded_by"] == "split"
    assert joined_label(moved.meta) == f"split off from #{ticket_id} by an agent"
    [marked] = [m for m in await desk.messages(ticket_id) if m.id == second.id]
    assert marked.meta["split_to"] == new_id
    assert [e.meta["event"] for e in await hd.tickets.timeline(new_id) if e.kind is EntryKind.EVENT] == ["split_from"]
    assert any(e.meta.get("event") == "split_to" for e in await hd.tickets.timeline(ticket_id))
    assert set(await _changes(desk, seq)) >= {(new_id, "created"), (ticket_id, "split")}

    with pytest.raises(HelpdeskError, match="only customer message"):
        await hd.threads.split(moved.id, actor=me)

    # A reply to the split message lands on the new ticket.
    follow = customer_mail(message_id="<new-matter-2@mail.example.com>", subject="Re: invoice",
                           in_reply_to="<new-matter@mail.example.com>", body="Any news on the invoice?\n")
    await desk.deliver(follow)
    assert [m.body for m in await desk.messages(new_id)][-1] == "Any news on the invoice?"
    assert len(await desk.messages(ticket_id)) == 2

    with pytest.raises(HelpdeskError, match="already split off"):
        await hd.threads.split(second.id, actor=me)
    with pytest.raises(HelpdeskError, match="not a customer message"):
        await hd.threads.split((await hd.tickets.timeline(new_id))[-1].id, actor=me)


async def test_merge_two_tickets_of_one_requester(db_url, make_desk):
    desk = await make_desk(db_url)
    hd = desk.hd
    me = await hd.agents.identify()
    [a] = (await desk.deliver(customer_mail(message_id="<a1@mail.example.com>", subject="Printer"))).created
    [b] = (await desk.deliver(customer_mail(message_id="<b1@mail.example.com>", subject="Printer again"))).created
    await hd.tickets.reply(b, "Which printer?", actor=me)
    reply_b = (await desk.outbox(b))[-1]
    await desk.deliver(customer_mail(message_id="<a2@mail.example.com>", in_reply_to="<a1@mail.example.com>",
                                     body="Room 4.\n"))
    await hd.tickets.change_tags(b, add=["printer"], actor=me)
    [stranger] = (await desk.deliver(customer_mail(sender="Eve <eve@example.com>",
                                                   message_id="<e1@mail.example.com>"))).created
    before = {a: [e.id for e in await hd.tickets.timeline(a)], b: [e.id for e in await hd.tickets.timeline(b)]}
    seq = await _seq(desk)

    assert await hd.threads.merge(b, a, actor=me) == a
    combined = [e.id for e in await hd.tickets.timeline(a)]
    assert [i for i in combined if i in before[a] + before[b]] == sorted(before[a] + before[b])  # in order
    assert [e.body for e in await desk.messages(a)] == [
        "Hello,\n\nthe printer in room 4 is on fire again.\n\nDana"] * 2 + ["Room 4."]
    merged = await hd.tickets.get(b)
    assert merged.status is Status.CLOSED
    assert [e.meta.get("ticket") for e in await hd.tickets.timeline(b) if e.meta.get("event") == "merged_into"] == [a]
    assert [e.meta.get("ticket") for e in await hd.tickets.timeline(a) if e.meta.get("event") == "merged"] == [b]
    assert "printer" in (await hd.tickets.get(a)).tags
    assert await hd.threads.links(a) == {"merged_into": None, "merged_from": [b]}
    assert await hd.threads.links(b) == {"merged_into": a, "merged_from": []}
    assert set(await _changes(desk, seq)) >= {(a, "merged"), (b, "merged")}
    assert [hit.ticket_id for hit in await hd.tickets.search("which printer")] == [a]  # once, on the survivor

    # Later mail to either thread lands in the survivor: our signed reply on b, b's tag, b's Message-ID.
    await desk.deliver(
        customer_mail(message_id="<b2@mail.example.com>", in_reply_to=reply_b.message_id, body="The one in room 4.\n"),
        customer_mail(message_id="<b3@mail.example.com>", subject=f"Re: [#{b}] Printer again", body="Still broken.\n"),
        customer_mail(message_id="<b4@mail.example.com>", in_reply_to="<b1@mail.example.com>", body="Hello?\n"))
    assert [e.body for e in await desk.messages(a)][-3:] == ["The one in room 4.", "Still broken.", "Hello?"]
    assert await desk.messages(b) == []

    with pytest.raises(HelpdeskError, match="different requesters"):
        await hd.threads.merge(stranger, a, actor=me)
    with pytest.raises(HelpdeskError, match="already merged into"):
        await hd.threads.merge(b, a, actor=me)
    with pytest.raises(HelpdeskError, match=f"merge into #{a} instead"):
        await hd.threads.merge(a, b, actor=me)
    with pytest.raises(HelpdeskError, match="into itself"):
        await hd.threads.merge(a, a, actor=me)


async def test_split_and_merge_commands(sqlite_url, make_desk):
    import json
    import subprocess

    from .test_cli import HELPDESK

    desk = await make_desk(sqlite_url)
    [a] = (await desk.deliver(customer_mail(message_id="<a1@mail.example.com>"))).created
    await desk.deliver(customer_mail(message_id="<a2@mail.example.com>", in_reply_to="<a1@mail.example.com>",
                                     body="Second matter.\n"))

    def run(*args, code=0):
        proc = subprocess.run([*HELPDESK, "--config", str(desk.config), *args], capture_output=True, text=True,
                              timeout=120)
        assert "Traceback" not in proc.stderr and proc.returncode == code, proc.stderr
        return proc

    shown = json.loads(run("ticket", "show", str(a), "--json").stdout)
    assert [e["joined"] for e in shown["timeline"] if e["kind"] == "message"] == [
        "a new ticket (nothing tied it to an existing one)",
        "a known Message-ID in its references, from a participant"]
    assert (shown["merged_into"], shown["merged_from"]) == (None, [])
    assert "(joined: a new ticket" in run("ticket", "show", str(a)).stdout
    second = [e for e in shown["timeline"] if e["kind"] == "message"][1]["id"]

    b = json.loads(run("ticket", "split", str(second), "--json").stdout)["ticket_id"]
    assert b != a
    assert run("ticket", "split", str(second), code=1).stderr.startswith("helpdesk: error: entry")
    merged = json.loads(run("ticket", "merge", f"#{b}", str(a), "--json").stdout)
    assert merged == {"merged": b, "into": a}
    assert json.loads(run("ticket", "show", str(b), "--json").stdout)["merged_into"] == a
    assert json.loads(run("ticket", "show", str(a), "--json").stdout)["merged_from"] == [b]
    err = run("ticket", "merge", str(a), "x", code=2).stderr
    assert err.startswith("helpdesk: error: argument INTO: 'x' is not a ticket id")
    assert run("ticket", "merge", str(a), str(a), code=2).stderr == (
        "helpdesk: error: a ticket cannot be merged into itself\n")
