"""``helpdesk demo`` without an AI endpoint runs the simulator in-process; with one it uses it."""

from __future__ import annotations

from dataclasses import replace

from tests.ai_fixtures import FRENCH, ai_settings
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.cli.ai_demo import with_demo_ai
from tui_helpdesk.domain.ai import Action
from tui_helpdesk.domain.model import EntryKind
from tui_helpdesk.settings import AISettings, Settings


async def test_the_demo_runs_the_simulator_and_marks_what_it_writes(sqlite_url):
    settings, running = with_demo_ai(Settings(database_url=sqlite_url))
    assert running is not None
    try:
        assert settings.ai.active and settings.ai.base_url == running.base_url
        assert settings.desks[0].translation and settings.desks[0].team_language == "en"
        hd = await bootstrap(settings)
        try:
            me = await hd.agents.identify()
            ticket = await hd.tickets.create(subject="Commande", body=FRENCH, requester_email="zoe@example.fr")
            draft = "".join([c async for c in hd.ai.compose(Action.DRAFT, ticket.id, me)])
            assert draft.startswith("[simulated]")
            [message] = [e for e in await hd.tickets.timeline(ticket.id) if e.kind is EntryKind.MESSAGE]
            assert (await hd.ai.translate_entry(message, "en")).startswith("[simulated en]")
        finally:
            await hd.close()
    finally:
        running.stop()


def test_a_configured_endpoint_is_used_with_translation_on_and_ai_turned_off_is_left_alone(sqlite_url):
    configured = Settings(database_url=sqlite_url, ai=ai_settings("http://127.0.0.1:9/v1"))
    settings, running = with_demo_ai(configured)
    assert running is None and settings.ai == configured.ai
    assert settings.desks[0].translation and settings.desks[0].team_language == "en"
    off = Settings(database_url=sqlite_url, ai=replace(AISettings(), enabled=False))
    assert with_demo_ai(off) == (off, None)


async def test_the_demo_desk_translates_and_has_a_french_customer(sqlite_url):
    """The demo's desk settings are its own (never stored, like its chatbot and mail sink): translation is on."""
    from tui_helpdesk.services.demo import FRENCH_CUSTOMER, populate_demo

    settings, _ = with_demo_ai(Settings(database_url=sqlite_url, ai=ai_settings("http://127.0.0.1:9/v1")))
    hd = await bootstrap(settings)
    try:
        me = await populate_demo(hd, tickets=2, bulk=0, seed=3)
        assert (await hd.desk_settings.get()).version == 0  # nothing stored: the demo's own settings apply
        [ticket_id] = {h.ticket_id for h in await hd.tickets.search("58213")}
        ticket = await hd.tickets.get(ticket_id)
        assert ticket.requester.email == FRENCH_CUSTOMER[1]
        assert ticket.assignee.id == me.id and ticket.status.value == "on_you"
        messages = [e for e in await hd.tickets.timeline(ticket.id) if e.kind is EntryKind.MESSAGE]
        assert len(messages) == 3
        # Detected from her own text (no endpoint needed), and the desk wants it translated.
        assert await hd.ai.customer_language(ticket) == "fr"
        assert (await hd.ai.policy(ticket)).wants("fr")
    finally:
        await hd.close()
