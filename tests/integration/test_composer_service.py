"""ComposerService on a real SQLite file: drafts, presence, collisions, canned replies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tui_helpdesk.domain.errors import ConfigError
from tui_helpdesk.domain.model import EntryKind
from tui_helpdesk.services.composer import (
    DEFAULT_CANNED,
    PRESENCE_TTL,
    CannedReply,
    ComposerService,
    expand_canned,
    load_canned,
)

from ..desks import START

pytestmark = [pytest.mark.desk("ticket"), pytest.mark.clock(START)]


async def test_draft_round_trip_survives_a_new_service_and_is_per_agent(desk):
    hd, ann, bob, ticket = desk
    svc = ComposerService(hd.store)
    assert await svc.load_draft(ann, ticket.id) is None
    await svc.save_draft(ann, ticket.id, "note", "half a thought", 7)
    draft = await ComposerService(hd.store).load_draft(ann, ticket.id)
    assert (draft.mode, draft.body, draft.base_entry_id) == ("note", "half a thought", 7)
    assert await svc.load_draft(bob, ticket.id) is None
    await svc.save_draft(ann, ticket.id, "reply", "now a reply", 7)
    assert (await svc.load_draft(ann, ticket.id)).mode == "reply"


async def test_empty_draft_deletes_and_sending_deletes(desk):
    hd, ann, _, ticket = desk
    svc = ComposerService(hd.store)
    await svc.save_draft(ann, ticket.id, "reply", "text", 1)
    await svc.save_draft(ann, ticket.id, "reply", "   \n", 1)
    assert await svc.load_draft(ann, ticket.id) is None
    await svc.save_draft(ann, ticket.id, "reply", "text", 1)
    await hd.tickets.reply(ticket.id, "text", actor=ann)
    assert await svc.load_draft(ann, ticket.id) is None
    with pytest.raises(ValueError):
        await svc.save_draft(ann, ticket.id, "shout", "x", 1)


async def test_presence_shows_others_and_expires(desk, clock):
    hd, ann, bob, ticket = desk
    svc = ComposerService(hd.store)
    await svc.heartbeat(ann, ticket.id)
    await svc.heartbeat(bob, ticket.id, typing=True)
    here = await svc.others_here(ann, ticket.id)
    assert [(h.name, h.typing) for h in here] == [("Bob Brown", True)]
    assert await svc.others_here(bob, ticket.id) and (await svc.others_here(bob, ticket.id))[0].typing is False
    clock.now += PRESENCE_TTL + timedelta(seconds=1)
    assert await svc.others_here(ann, ticket.id) == []
    await svc.heartbeat(bob, ticket.id)
    assert [h.typing for h in await svc.others_here(ann, ticket.id)] == [False]
    await svc.leave(bob)
    assert await svc.others_here(ann, ticket.id) == []


async def test_presence_follows_the_agent_to_another_ticket(desk):
    hd, ann, bob, ticket = desk
    other = await hd.tickets.create(subject="Other", body="x", requester_email="dd@example.com")
    svc = ComposerService(hd.store)
    await svc.heartbeat(bob, ticket.id)
    await svc.heartbeat(bob, other.id)
    assert await svc.others_here(ann, ticket.id) == []
    assert [h.name for h in await svc.others_here(ann, other.id)] == ["Bob Brown"]


async def test_collisions_count_customer_messages_and_other_agents_replies(desk):
    hd, ann, bob, ticket = desk
    svc = ComposerService(hd.store)
    base = await hd.tickets.last_entry_id(ticket.id)
    await hd.tickets.note(ticket.id, "internal", actor=bob)
    await hd.tickets.reply(ticket.id, "mine", actor=ann)
    assert await svc.collisions(ann, ticket.id, base) == []
    await hd.tickets.reply(ticket.id, "Bob's answer", actor=bob)
    await hd.tickets.add_customer_message(ticket.id, "and another thing")
    found = await svc.collisions(ann, ticket.id, base)
    assert [(e.kind, e.author) for e in found] == [(EntryKind.REPLY, "Bob Brown"), (EntryKind.MESSAGE, "Cy Young")]
    assert await svc.collisions(ann, ticket.id, found[-1].id) == []


async def test_open_marks_my_mentions_read_and_tells_the_feed(desk):
    hd, ann, bob, ticket = desk
    await hd.tickets.note(ticket.id, "@bob can you check?", actor=ann)
    async with hd.store.read() as tx:
        assert await tx.unread_mentions(bob.id) == 1
    seq = await hd.feed.latest()
    svc = ComposerService(hd.store)
    assert await svc.open(bob, ticket.id) == 1
    async with hd.store.read() as tx:
        assert await tx.unread_mentions(bob.id) == 0
    changes, _ = await hd.feed.since(seq)
    assert [(c.ticket_id, c.kind) for c in changes] == [(ticket.id, "mentions_read")]
    assert await svc.open(bob, ticket.id) == 0
    assert [h.name for h in await svc.others_here(ann, ticket.id)] == ["Bob Brown"]


def test_canned_from_config_file(tmp_path):
    cfg = tmp_path / "config.toml"
    assert load_canned(None) == list(DEFAULT_CANNED)
    assert load_canned(cfg) == list(DEFAULT_CANNED)
    cfg.write_text('[[canned]]\nname = "Refund"\nbody = "Hi {requester_first}, refund for {ticket} is on its way. {nope}\\u001b[2J"\n')
    [reply] = load_canned(cfg)
    assert reply.name == "Refund" and "\x1b" not in reply.body
    cfg.write_text('[[canned]]\nname = "x"\n')
    with pytest.raises(ConfigError):
        load_canned(cfg)


async def test_canned_placeholders(desk):
    hd, ann, _, ticket = desk
    text = expand_canned(CannedReply("r", "Hi {requester_first} ({requester}), {ticket}: {subject}. {agent_first} {x}"),
                         ticket, ann)
    assert text == f"Hi Cy (Cy Young), #{ticket.id}: Refund. {ann.name.split()[0]} {{x}}"
    svc = ComposerService(hd.store, canned=[CannedReply("a", "{agent}")])
    assert svc.canned_for(ticket, ann) == [(CannedReply("a", "{agent}"), ann.name)]


async def test_first_view_reads_what_the_ticket_screen_opens_with(desk):
    hd, ann, bob, ticket = desk
    older = await hd.tickets.create(subject="Earlier", body="x", requester_email="cy@example.com")
    for i in range(5):
        await hd.tickets.note(ticket.id, f"note {i}", actor=bob)
    await ComposerService(hd.store).save_draft(ann, ticket.id, "note", "draft", 3)
    seq = await hd.feed.latest()
    view = await ComposerService(hd.store).first_view(ann, ticket.id, 3)
    assert view.seq == seq and view.ticket.id == ticket.id
    assert [e.body for e in view.entries] == ["note 2", "note 3", "note 4"]  # the newest, oldest first
    assert view.total == len(await hd.tickets.timeline(ticket.id))
    assert [r.id for r in view.previous] == [older.id]
    assert (view.draft.mode, view.draft.body, view.draft.base_entry_id) == ("note", "draft", 3)
    assert (await ComposerService(hd.store).first_view(bob, ticket.id, 3)).draft is None
