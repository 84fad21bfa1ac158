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


def test_a_configured_endpoint_or_ai_turned_off_is_left_alone(sqlite_url):
    configured = Settings(database_url=sqlite_url, ai=ai_settings("http://127.0.0.1:9/v1"))
    assert with_demo_ai(configured) == (configured, None)
    off = Settings(database_url=sqlite_url, ai=replace(AISettings(), enabled=False))
    assert with_demo_ai(off) == (off, None)
