"""The AI tables' queries on SQLite and PostgreSQL: translations, usage, requester languages, summaries."""

from __future__ import annotations

from datetime import timedelta

from tui_helpdesk.domain.model import EntryKind


async def test_ai_queries_on_every_backend(hd, me, clock):
    ticket = await hd.tickets.create(subject="x", body="Bonjour, ma commande est perdue", requester_email="z@example.fr")
    [entry] = [e for e in await hd.tickets.timeline(ticket.id) if e.kind is EntryKind.MESSAGE]
    async with hd.store.write() as tx:
        await tx.put_translation(entry.id, "en", "m1", "Hello, my order is lost", "fr")
        await tx.put_translation(entry.id, "en", "m1", "a second writer loses", "fr")  # same key: kept once
        await tx.put_translation(entry.id, "en", "m2", "other model", "fr")
        await tx.record_ai_usage(action="draft", agent_id=me.id, desk_id=ticket.desk_id, ticket_id=ticket.id,
                                 model="m1", prompt_tokens=10, completion_tokens=5, ms=120, ok=True)
        await tx.record_ai_usage(action="draft", agent_id=me.id, desk_id=ticket.desk_id, ticket_id=ticket.id,
                                 model="m1", prompt_tokens=3, completion_tokens=0, ms=40, ok=False)
        await tx.record_ai_usage(action="escalation", agent_id=None, desk_id=None, ticket_id=None,
                                 model="m1", prompt_tokens=7, completion_tokens=2, ms=90, ok=True)
        await tx.set_requester_language(ticket.requester.id, detected="fr", detected_entry_id=entry.id)
        await tx.set_requester_language(ticket.requester.id, override="pt-br")
        await tx.put_ticket_summary(ticket.id, "S\nsummary", "m1", entry.id)
        await tx.put_ticket_summary(ticket.id, "S\nnewer", "m1", entry.id + 1)
    async with hd.store.read() as tx:
        assert await tx.translations([entry.id], "en", "m1") == {entry.id: "Hello, my order is lost"}
        assert await tx.translations([entry.id], "en", "m2") == {entry.id: "other model"}
        assert await tx.translations([entry.id], "de", "m1") == {}
        rows = await tx.ai_usage(clock() - timedelta(days=1))
        assert [(r.action, r.agent, r.calls, r.failed, r.prompt_tokens, r.completion_tokens, r.ms) for r in rows] == [
            ("draft", me.login, 2, 1, 13, 5, 160), ("escalation", "", 1, 0, 7, 2, 90)]
        assert await tx.ai_usage(clock() + timedelta(days=1)) == []
        assert await tx.ai_tokens(me.id, clock() - timedelta(hours=1)) == (2, 18)
        language = await tx.requester_language(ticket.requester.id)
        assert (language.detected, language.override, language.effective) == ("fr", "pt-br", "pt-br")
        summary = await tx.ticket_summary(ticket.id)
        assert (summary.text, summary.last_entry_id) == ("S\nnewer", entry.id + 1)
