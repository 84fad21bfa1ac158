"""The ticket store through the services, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import pytest

from tui_helpdesk.domain import querylang
from tui_helpdesk.domain.errors import ConflictError, LimitReached, NotFound, PermissionDenied, UsageError
from tui_helpdesk.domain.model import Author, EntryKind, Status
from tui_helpdesk.domain.views import SYSTEM_VIEW_KEYS


async def _ticket(hd, subject="Refund for order 42", body="I want my money back", email="carol@example.com",
                  name="Carol", **kw):
    return await hd.tickets.create(subject=subject, body=body, requester_email=email, requester_name=name, **kw)


async def test_create_makes_a_new_ticket_with_its_first_message(hd, me):
    t = await _ticket(hd)
    assert t.status is Status.NEW and t.requester.email == "carol@example.com" and t.version >= 1
    entries = await hd.tickets.timeline(t.id)
    assert [e.kind for e in entries] == [EntryKind.MESSAGE]
    assert entries[0].body == "I want my money back" and entries[0].author == "Carol"


async def test_reply_and_customer_message_move_status(hd, me):
    t = await _ticket(hd)
    r = await hd.tickets.reply(t.id, "We are on it", actor=me)
    assert r.ticket.status is Status.ON_CUSTOMER and r.ticket.last_message_by is Author.AGENT
    r = await hd.tickets.add_customer_message(t.id, "Thanks, any news?")
    assert r.ticket.status is Status.ON_YOU and r.ticket.last_message_by is Author.CUSTOMER
    await hd.tickets.set_status(t.id, "on_hold", actor=me, reason="waiting on carrier")
    r = await hd.tickets.add_customer_message(t.id, "Hello?")
    assert r.ticket.status is Status.ON_YOU
    events = [e for e in await hd.tickets.timeline(t.id) if e.kind is EntryKind.EVENT]
    assert any("waiting on carrier" in e.body and me.name in e.body for e in events)
    assert any(e.meta.get("manual") is False for e in events)


async def test_note_never_changes_status_and_records_mentions(hd, team):
    me, alice = team["me"], team["alice"]
    t = await _ticket(hd)
    r = await hd.tickets.note(t.id, "@alice please look, also @ghost", actor=me)
    assert r.ticket.status is Status.NEW
    assert r.unknown_mentions == ("ghost",)
    mentions = await hd.views.rail(alice)
    assert {i.key: i.count for i in mentions}["mentions"] == 1
    _, spec = await hd.views.resolve("mentions", alice)
    page = await hd.views.page(spec, alice)
    assert [row.id for row in page.rows] == [t.id]
    async with hd.store.write() as tx:
        assert await tx.mark_mentions_read(t.id, alice.id) == 1
    assert {i.key: i.count for i in await hd.views.rail(alice)}["mentions"] == 0


async def test_reopen_window_and_follow_up(hd, me, clock):
    t = await _ticket(hd)
    await hd.tickets.set_status(t.id, Status.CLOSED, actor=me)
    clock.advance(days=3)
    r = await hd.tickets.add_customer_message(t.id, "It broke again")
    assert r.ticket.id == t.id and r.ticket.status is Status.ON_YOU and not r.follow_up
    await hd.tickets.set_status(t.id, Status.CANCELLED, actor=me)
    clock.advance(days=8)
    r = await hd.tickets.add_customer_message(t.id, "Me again, weeks later")
    assert r.follow_up and r.ticket.id != t.id
    assert r.ticket.follow_up_of == t.id and r.ticket.status is Status.NEW
    assert (await hd.tickets.get(t.id)).status is Status.CANCELLED


async def test_optimistic_concurrency_names_the_winner(hd, team):
    me, alice = team["me"], team["alice"]
    t = await _ticket(hd)
    await hd.tickets.set_status(t.id, Status.ON_HOLD, actor=alice, expected_version=t.version)
    with pytest.raises(ConflictError, match="changed by Alice Adams meanwhile"):
        await hd.tickets.set_status(t.id, Status.CLOSED, actor=me, expected_version=t.version)
    with pytest.raises(ConflictError):
        await hd.tickets.assign(t.id, "bob", actor=me, expected_version=t.version)


async def test_reply_after_someone_else_is_kept_with_a_notice(hd, team):
    me, alice = team["me"], team["alice"]
    t = await _ticket(hd)
    seen = await hd.tickets.last_entry_id(t.id)
    await hd.tickets.reply(t.id, "Alice here", actor=alice, seen_entry_id=seen)
    r = await hd.tickets.reply(t.id, "Me too", actor=me, seen_entry_id=seen)
    assert r.notice and "Alice Adams" in r.notice
    bodies = [e.body for e in await hd.tickets.timeline(t.id) if e.kind is EntryKind.REPLY]
    assert bodies == ["Alice here", "Me too"]


async def test_assign_keeps_status_and_writes_an_event(hd, team):
    me = team["me"]
    t = await _ticket(hd)
    await hd.tickets.set_status(t.id, Status.ON_HOLD, actor=me)
    t2 = await hd.tickets.assign(t.id, "alice", actor=me)
    assert t2.assignee.login == "alice" and t2.status is Status.ON_HOLD
    t3 = await hd.tickets.assign(t.id, None, actor=me)
    assert t3.assignee is None
    with pytest.raises(NotFound):
        await hd.tickets.assign(t.id, "nobody-here", actor=me)
    texts = [e.body for e in await hd.tickets.timeline(t.id) if e.kind is EntryKind.EVENT]
    assert any(x.startswith("Assigned to Alice Adams") for x in texts) and any(x.startswith("Unassigned") for x in texts)


async def test_change_feed_records_every_write_in_order(hd, me):
    start = await hd.feed.latest()
    t = await _ticket(hd)
    await hd.tickets.reply(t.id, "hi", actor=me)
    await hd.tickets.note(t.id, "note", actor=me)
    await hd.tickets.set_status(t.id, "closed", actor=me)
    changes, last = await hd.feed.since(start)
    assert [c.kind for c in changes] == ["created", "reply", "note", "status"]
    assert all(c.ticket_id == t.id for c in changes)
    assert [c.seq for c in changes] == sorted(c.seq for c in changes) and last == changes[-1].seq
    assert (await hd.feed.since(last))[0] == []


async def test_system_views_count_and_page(hd, team):
    me, alice = team["me"], team["alice"]
    a = await _ticket(hd, subject="A")
    b = await _ticket(hd, subject="B", email="dan@example.com")
    c = await _ticket(hd, subject="C")
    await hd.tickets.assign(a.id, me.login, actor=me)
    await hd.tickets.assign(b.id, "alice", actor=me)
    await hd.tickets.set_status(c.id, "closed", actor=me)
    counts = {i.key: i.count for i in await hd.views.rail(me)}
    assert counts["inbox"] == 1 and counts["all"] == 2 and counts["unassigned"] == 0 and counts["solved"] == 1
    assert {i.key: i.count for i in await hd.views.rail(alice)}["inbox"] == 1
    page = await hd.views.page(SYSTEM_VIEW_KEYS["all"].spec, me)
    assert [r.id for r in page.rows] == [b.id, a.id]  # newest activity first
    assert page.rows[0].assignee == "Alice Adams" and page.rows[0].requester == "Carol"


@pytest.mark.parametrize("sort", ["", "sort:created", "sort:+id", "sort:-subject", "sort:status", "sort:requester", "sort:assignee"])
async def test_paging_walks_every_ticket_once(hd, me, clock, sort):
    ids = []
    for i in range(23):
        clock.advance(minutes=1)
        ids.append((await _ticket(hd, subject=f"Subject {i % 5}", email=f"p{i % 4}@example.com")).id)
        if i % 3 == 0:
            await hd.tickets.assign(ids[-1], me.login, actor=me)
    spec = querylang.parse(f"status:active {sort}")
    seen, after = [], None
    while True:
        page = await hd.views.page(spec, me, limit=5, after=after)
        seen += [r.id for r in page.rows]
        if page.next_after is None:
            break
        after = page.next_after
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    if not sort:
        assert seen == list(reversed(ids))
    reverse = await hd.views.page(spec, me, limit=3, reverse=True)
    assert [r.id for r in reverse.rows] == list(reversed(seen))[:3]


async def test_query_filters(hd, team, clock):
    me = team["me"]
    old = await _ticket(hd, subject="Old invoice problem", channel="email", tags=["billing"])
    clock.advance(days=30)
    chat = await _ticket(hd, subject="Chat about shipping", email="erin@example.com", name="Erin",
                         channel="whatsapp")
    await hd.tickets.reply(chat.id, "Your parcel is on the way", actor=me)
    await hd.tickets.note(old.id, "@alice have a look at the refund", actor=me)

    async def ids(q):
        _, spec = await hd.views.resolve("all", me)
        return {r.id for r in (await hd.views.page(spec.and_(querylang.parse(q)), me)).rows}

    assert await ids("channel:email") == {old.id}
    assert await ids("-channel:email") == {chat.id}
    assert await ids("created:<7d") == {chat.id}
    assert await ids("created:>7d") == {old.id}
    assert await ids("by:agent") == {chat.id}
    assert await ids("by:customer") == {old.id}
    assert await ids("tag:billing") == {old.id}
    assert await ids("tag:~bill") == {old.id}
    assert await ids("requester:erin@example.com") == {chat.id}
    assert await ids("requester:~carol") == {old.id}
    assert await ids("status:new") == {old.id}
    assert await ids("status:on_customer") == {chat.id}
    assert await ids("assignee:none") == {old.id, chat.id}
    assert await ids("parcel") == {chat.id}
    assert await ids('"refund"') == {old.id}  # notes are searched too
    assert await ids("invoice") == {old.id}  # subjects too
    assert await ids("type:ticket") == {old.id, chat.id}
    assert await ids("type:live_chat") == set()
    alice = team["alice"]
    _, spec = await hd.views.resolve("all", alice)
    assert {r.id for r in (await hd.views.page(spec.and_(querylang.parse("mentions:me")), alice)).rows} == {old.id}


async def test_search_newest_first(hd, me, clock):
    first = await _ticket(hd, subject="Printer jam", body="the zeppelin printer jams")
    clock.advance(hours=1)
    second = await _ticket(hd, subject="Other", body="another zeppelin issue", email="x@example.com")
    hits = await hd.tickets.search("zeppelin")
    assert [h.ticket_id for h in hits] == [second.id, first.id]
    assert [h.ticket_id for h in await hd.tickets.search("Printer")] == [first.id]
    with pytest.raises(UsageError):
        await hd.tickets.search("   ")
    # Query syntax characters are words, not FTS operators.
    assert await hd.tickets.search('zeppelin" OR NEAR(') == []


async def test_saved_view_limits_and_permissions(hd, team):
    me, alice = team["me"], team["alice"]
    for i in range(10):
        await hd.views.save(alice, f"View {i}", "status:new")
    with pytest.raises(LimitReached, match="10 personal views"):
        await hd.views.save(alice, "One more", "status:new")
    with pytest.raises(PermissionDenied):
        await hd.views.save(alice, "Team", "status:new", shared=True)
    shared = await hd.views.save(me, "Team", "tag:vip", shared=True)
    assert any(v.name == "Team" for v in await hd.views.saved(alice))
    with pytest.raises(PermissionDenied):
        await hd.views.delete(alice, "Team")
    with pytest.raises(PermissionDenied, match="system view"):
        await hd.views.delete(me, "inbox")
    with pytest.raises(UsageError, match="100 characters"):
        await hd.views.save(me, "x" * 101, "status:new")
    with pytest.raises(UsageError, match="already exists"):
        await hd.views.save(alice, "View 1", "status:new")
    await hd.views.delete(me, "Team")
    assert shared.id not in [v.id for v in await hd.views.saved(me)]
    renamed = await hd.views.update(alice, "View 0", name="Renamed", spec="status:on_you")
    assert renamed.name == "Renamed" and querylang.format_spec(renamed.spec) == "status:on_you"


async def test_bad_input_is_refused_and_nothing_is_written(hd, me):
    before = await hd.feed.latest()
    with pytest.raises(UsageError, match="email address"):
        await hd.tickets.create(subject="x", body="y", requester_email="not-an-address")
    with pytest.raises(UsageError, match="empty"):
        await hd.tickets.create(subject="x", body="  ", requester_email="a@b.example")
    with pytest.raises(UsageError, match="subject"):
        await hd.tickets.create(subject="", body="y", requester_email="a@b.example")
    with pytest.raises(NotFound):
        await hd.tickets.reply(999, "hi", actor=me)
    with pytest.raises(UsageError, match="unknown status"):
        await hd.tickets.set_status(1, "bogus", actor=me)
    assert await hd.feed.latest() == before


async def test_untrusted_text_is_cleaned_on_the_way_in(hd, me):
    t = await hd.tickets.create(subject="\x1b]0;PWNED\x07Hi \u202eexe", body="ok\rFAKE \x1b[2J\u009b2J done",
                                requester_email="evil@example.com", requester_name="\x1b]52;c;Y3VybA==\x1b\\Mallory")
    assert t.subject == "Hi exe" and t.requester.name == "Mallory"
    body = (await hd.tickets.timeline(t.id))[0].body
    assert "\x1b" not in body and "\x9b" not in body and body == "ok\nFAKE  done"


async def test_first_agent_is_admin_and_strangers_are_refused(hd):
    me = await hd.agents.identify()
    assert me.is_admin
    with pytest.raises(PermissionDenied, match="not an agent"):
        await hd.agents.identify("mallory")
    alice = await hd.agents.add(me, "alice")
    with pytest.raises(PermissionDenied):
        await hd.agents.add(alice, "eve")
    with pytest.raises(PermissionDenied):
        await hd.agents.identify("alice", act_as=me.login)
    assert (await hd.agents.set(alice, "alice", availability="away")).availability.value == "away"
    with pytest.raises(PermissionDenied):
        await hd.agents.set(alice, "alice", role="admin")
