"""Full-text search: the search command, the text filter of views, and the index's upgrade."""

from __future__ import annotations

import importlib
import sqlite3

import pytest

from tui_helpdesk.adapters.store import repository
from tui_helpdesk.adapters.store.tx import views as view_queries
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain import querylang
from tui_helpdesk.domain.errors import HelpdeskError
from tui_helpdesk.domain.model import Status
from tui_helpdesk.settings import load

migration = importlib.import_module("tui_helpdesk.adapters.store.migrations.versions.0002_ticket_search_index")


async def _ticket(hd, subject, body, email="carol@example.com"):
    return await hd.tickets.create(subject=subject, body=body, requester_email=email, requester_name="Carol")


async def test_each_hit_shows_its_tickets_newest_matching_entry(hd, team, clock):
    me, alice = team["me"], team["alice"]
    ticket = await _ticket(hd, "Billing", "I want a refund for order 42")
    clock.advance(minutes=1)
    await hd.tickets.assign(ticket.id, alice.login, actor=me)  # an event between the entries
    clock.advance(minutes=1)
    await hd.tickets.reply(ticket.id, "The refund is on its way", actor=me)
    clock.advance(minutes=1)
    await hd.tickets.note(ticket.id, "unrelated words", actor=me)
    other = await _ticket(hd, "Shipping", "Where is my parcel?", email="dan@example.com")

    hits = await hd.tickets.search("refund")
    assert [h.ticket_id for h in hits] == [ticket.id]
    assert hits[0].snippet == "The refund is on its way"
    assert [h.ticket_id for h in await hd.tickets.search("parcel")] == [other.id]
    assert [h.ticket_id for h in await hd.tickets.search("Billing")] == [ticket.id]  # the subject
    # Query syntax is words, never operators.
    assert await hd.tickets.search('refund" OR NEAR(') == []


async def test_search_lists_the_newest_tickets_first(hd, me, clock):
    first = await _ticket(hd, "Printer", "the zeppelin printer jams")
    clock.advance(hours=1)
    second = await _ticket(hd, "Other", "another zeppelin issue", email="x@example.com")
    assert [h.ticket_id for h in await hd.tickets.search("zeppelin")] == [second.id, first.id]
    clock.advance(hours=1)
    await hd.tickets.add_customer_message(first.id, "still jammed, the zeppelin again")
    hits = await hd.tickets.search("zeppelin")
    assert [h.ticket_id for h in hits] == [second.id, first.id]
    assert hits[1].snippet == "still jammed, the zeppelin again"  # its newest match
    assert [h.ticket_id for h in await hd.tickets.search("zeppelin", limit=1)] == [second.id]


async def test_search_steps_past_a_ticket_with_many_matches(sqlite_url, clock):
    """More matching entries in one ticket than a batch of index keys: the next batch
    starts below that ticket, so the older ticket is still found."""
    hd = await bootstrap(load(database_url=sqlite_url), clock=clock)
    try:
        me = await hd.agents.identify()
        older = await _ticket(hd, "Older", "one zebra here", email="o@example.com")
        busy = await _ticket(hd, "Busy", "zebra 0")
        for n in range(1, 230):
            await hd.tickets.note(busy.id, f"zebra {n}", actor=me)
        hits = await hd.tickets.search("zebra", limit=2)
        assert [(h.ticket_id, h.snippet) for h in hits] == [(busy.id, "zebra 229"), (older.id, "one zebra here")]
    finally:
        await hd.close()


async def _walk(hd, me, query, limit=7):
    """Every ticket of All filtered by *query* (or by each of several), page by page, and the count."""
    _, spec = await hd.views.resolve("all", me)
    for q in (query,) if isinstance(query, str) else query:
        spec = spec.and_(querylang.parse(q))
    ids, after = [], None
    while True:
        page = await hd.views.page(spec, me, limit=limit, after=after)
        ids += [r.id for r in page.rows]
        if page.next_after is None:
            break
        after = page.next_after
    last = [r.id for r in (await hd.views.page(spec, me, limit=limit, reverse=True)).rows]
    return ids, last, await hd.views.count(spec, me)


# How the store may answer a text filter: from the set of matches (a rare word);
# walking the view and testing each ticket, the walk bounded or not; and the
# bounded walk falling back to the set when it finds too few.
PLANS = {"rare": (10**9, 2000), "walk": (1, 2000), "bounded walk": (1, 10), "fallback": (1, 1)}


async def test_every_plan_finds_the_same_tickets_in_the_same_order(sqlite_url, clock, monkeypatch):
    hd = await bootstrap(load(database_url=sqlite_url), clock=clock)
    try:
        me = await hd.agents.identify()
        made = []
        for n in range(60):
            word = "quokka" if n % 3 == 0 else "wombat"
            made.append(await _ticket(hd, f"Ticket {n}", f"{word} number {n}", email=f"c{n}@example.com"))
            clock.advance(minutes=1)
        await hd.tickets.set_status(made[0].id, Status.CLOSED, actor=me)
        await hd.tickets.add_customer_message(made[5].id, "a wombat again")  # out of creation order
        # A saved view's words and the filter bar's are separate conditions: a ticket needs both.
        both = ("again", "wombat")
        for query in ("quokka", "wombat", "number", "quokka number", "status:new quokka", "nothing", both):
            results = {}
            for plan, (common, window) in PLANS.items():
                monkeypatch.setattr(view_queries, "COMMON_MATCHES", common)
                monkeypatch.setattr(view_queries, "PROBE_WINDOW", window)
                results[plan] = await _walk(hd, me, query)
            assert len(set(map(repr, results.values()))) == 1, (query, results)
            ids, last, count = results["rare"]
            assert count == len(ids) == len(set(ids))
            assert last == list(reversed(ids))[:7]
            if query == both:
                assert ids == [made[5].id]
        assert [h.ticket_id for h in await hd.tickets.search("wombat", limit=3)] == [made[59].id, made[58].id, made[56].id]
    finally:
        await hd.close()


async def test_upgrade_moves_the_old_index_to_the_ticket_keyed_one(sqlite_url, clock, tmp_path):
    hd = await bootstrap(load(database_url=sqlite_url), clock=clock)
    me = await hd.agents.identify()
    old = await _ticket(hd, "Old", "a refund from before the upgrade")
    await hd.tickets.reply(old.id, "noted", actor=me)
    await hd.close()

    # Put the file back to revision 0001: the entry-keyed index.
    path = tmp_path / "helpdesk.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "DROP TRIGGER ticket_fts_insert; DROP TABLE ticket_fts;"
            f"{migration.OLD_TABLE}; {migration.OLD_TRIGGER};"
            "INSERT INTO entry_fts(entry_fts) VALUES ('rebuild');"
            "UPDATE alembic_version SET version_num = '0001';"
        )
    with pytest.raises(HelpdeskError, match="helpdesk db upgrade"):
        await bootstrap(load(database_url=sqlite_url), clock=clock)

    store = await repository.Store.open(sqlite_url, upgrade=True)
    assert store.prepared == "upgraded"
    await store.close()
    with sqlite3.connect(path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        assert "entry_fts" not in names and "ticket_fts" in names

    hd = await bootstrap(load(database_url=sqlite_url), clock=clock)
    try:
        assert [h.ticket_id for h in await hd.tickets.search("refund")] == [old.id]
        # New entries continue the ticket's positions: the snippet is the right entry.
        await hd.tickets.reply(old.id, "your refund was sent today", actor=me)
        hits = await hd.tickets.search("refund")
        assert [(h.ticket_id, h.snippet) for h in hits] == [(old.id, "your refund was sent today")]
    finally:
        await hd.close()
