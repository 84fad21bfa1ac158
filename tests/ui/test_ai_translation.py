"""Customer messages translated in the background on the ticket screen (Pilot, simulator on loopback)."""

from __future__ import annotations

import pytest

from tests.ai_fixtures import AI_KEY, FRENCH, open_ai_desk
from tests.clock import Clock
from tests.desks import START
from tui_helpdesk.adapters.ai.sim_http import AISimulator

try:
    from .ticket_fixtures import TicketHarness, opened, screen_text, wait_until
except ImportError:
    from ticket_fixtures import TicketHarness, opened, screen_text, wait_until

SECOND = "Je suis toujours sans nouvelles de ma commande, merci de me répondre rapidement."


@pytest.fixture
async def ai_sim():
    async with AISimulator(api_key=AI_KEY) as sim:
        yield sim


@pytest.fixture
def db(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"


async def _french_ticket(hd, me):
    ticket = await hd.tickets.create(subject="Commande 4521", body=FRENCH, requester_email="zoe@example.fr",
                                     requester_name="Zoé Martin", channel="email")
    await hd.tickets.reply(ticket.id, "We are checking with the carrier.", actor=me)
    await hd.tickets.note(ticket.id, "Carrier says it is lost.", actor=me)
    await hd.tickets.add_customer_message(ticket.id, SECOND)
    return ticket


def _translated(screen, n: int):
    return lambda: sum(t.state == "done" for t in screen.timeline.translations.values()) == n


async def test_messages_are_translated_with_a_banner_and_show_original(db, ai_sim):
    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await _french_ticket(hd, me)
        ai_sim.chunk_delay = 0.01
        async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, _translated(screen, 2), what="both messages translated")
            text = screen_text(pilot.app)
            assert "The customer writes in French: their messages are shown in English" in text
            assert "simulated" in text and "translated from French · T: show original" in text
            timeline = screen.timeline
            first = timeline.entry_text(0)
            assert f"[simulated en] {FRENCH}" in first
            # Replies, notes and events are never translated.
            for i, entry in enumerate(timeline.entries):
                if entry.kind.value != "message":
                    assert "[simulated" not in timeline.entry_text(i) and entry.id not in timeline.translations
            timeline.select(0)
            timeline.focus()
            await pilot.press("T")
            await pilot.pause()
            assert "original (French) · T: show translation" in timeline.entry_text(0)
            assert "[simulated en]" not in timeline.entry_text(0) and FRENCH in timeline.entry_text(0)
            await pilot.press("T")
            await pilot.pause()
            assert "[simulated en]" in timeline.entry_text(0)
        calls = len(ai_sim.requests)
        assert calls == 2
        # Reopened: from the store, no new request.
        async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, _translated(screen, 2), what="cached translations")
        assert len(ai_sim.requests) == calls
    finally:
        await hd.close()
    # A second app instance (another terminal) reuses them too.
    other = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await other.agents.identify("ann")
        async with TicketHarness(other, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, _translated(screen, 2), what="translations from the other instance")
        assert len(ai_sim.requests) == calls
    finally:
        await other.close()


async def test_a_message_being_translated_says_so_and_fills_in(db, ai_sim):
    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await _french_ticket(hd, me)
        ai_sim.first_token_delay = 0.6
        async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)  # the ticket is open before any translation is back
            await wait_until(pilot, lambda: any(t.state == "pending" for t in screen.timeline.translations.values()),
                             what="pending translations")
            assert "translating from French…" in screen_text(pilot.app)
            await wait_until(pilot, _translated(screen, 2), timeout=8, what="the translations")
    finally:
        await hd.close()


async def test_off_when_the_desk_does_not_translate_or_the_languages_match(db, ai_sim, tmp_path):
    from tests.ai_fixtures import settings
    from tui_helpdesk.bootstrap import bootstrap

    hd = await bootstrap(settings(db, ai_sim.base_url, translation=False), clock=Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await _french_ticket(hd, me)
        english = await hd.tickets.create(subject="Hi", body="Hello, my parcel never arrived at my home address.",
                                          requester_email="en@example.com")
        async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await pilot.pause(0.3)
            assert not screen.timeline.translations and not screen.query_one("#ticket-translation").display
    finally:
        await hd.close()
    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        async with TicketHarness(hd, me, english.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await pilot.pause(0.3)
            assert not screen.timeline.translations
        assert ai_sim.requests == []
    finally:
        await hd.close()


async def test_a_failed_translation_says_so_and_retries_on_request(db, ai_sim):
    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await hd.tickets.create(subject="Commande", body=FRENCH, requester_email="zoe@example.fr")
        ai_sim.fail_next("broken")
        async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, lambda: any(t.state == "failed" for t in screen.timeline.translations.values()),
                             what="the failure")
            assert "translation failed · T: retry" in screen.timeline.entry_text(0)
            screen.timeline.select(0)
            screen.timeline.focus()
            await pilot.press("T")
            await wait_until(pilot, _translated(screen, 1), what="the retry")
    finally:
        await hd.close()


async def test_details_name_the_language_and_L_overrides_it(db, ai_sim):
    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await _french_ticket(hd, me)
        async with TicketHarness(hd, me, ticket.id).run_test(size=(160, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, _translated(screen, 2), what="translations")
            assert "French (detected)" in screen_text(pilot.app)
            screen.timeline.focus()
            await pilot.press("L")
            await pilot.pause()
            await pilot.press("ctrl+u", *"es", "enter")  # clear the field, type a code
            await wait_until(pilot, lambda: "Customer language: Spanish" in pilot.app.notes, what="the override")
            await wait_until(pilot, lambda: "translated from Spanish" in screen.timeline.entry_text(0),
                             what="translations again")
            assert screen.details.customer_language == "Spanish (set by an agent)"
            assert "Spanish (set by an" in screen_text(pilot.app)
    finally:
        await hd.close()


async def test_the_status_bar_shows_my_ai_usage_today(db, ai_sim, make_app):
    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await hd.tickets.create(subject="x", body=FRENCH, requester_email="zoe@example.fr")
        from tui_helpdesk.domain.ai import Action

        async for _ in hd.ai.compose(Action.DRAFT, ticket.id, me):
            pass
        [row] = await hd.ai.usage(START.replace(year=2000))
        app = make_app(hd, me, clock=hd.store.clock)
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_until(pilot, lambda: app.inbox is not None and app.inbox.status.ai != "", what="the figure")
            assert app.inbox.status.ai == f"AI today: 1 call · {row.prompt_tokens + row.completion_tokens:,} tokens"
    finally:
        await hd.close()


async def test_translation_starts_only_after_the_open_has_settled(db, ai_sim):
    from tui_helpdesk.ui.ticket.translating import SETTLE_SECONDS

    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await _french_ticket(hd, me)
        async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, _translated(screen, 2), what="the translations")
            # The open settled (first frame out, the rest of the first page read) before the wait began.
            assert screen.loaded and screen._tr_settled_at is not None
            assert screen._tr_started_at - screen._tr_settled_at >= SETTLE_SECONDS
    finally:
        await hd.close()


async def test_closing_the_screen_stops_the_translations_under_way(db, ai_sim):
    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await _french_ticket(hd, me)
        for n in range(3):
            await hd.tickets.add_customer_message(ticket.id, f"{SECOND} Commande {n}.")
        ai_sim.first_token_delay = 0.6
        async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, lambda: len(ai_sim.requests) == 1, what="the first translation request")
            pilot.app.pop_screen()
            await pilot.pause(1.5)  # long enough for the first answer and two more requests
            assert not screen.is_attached
            assert len(ai_sim.requests) == 1  # nothing more was asked
        entries = await hd.tickets.timeline(ticket.id)
        assert await hd.ai.cached_translations(entries, "en") == {}  # and nothing half-made was stored
    finally:
        await hd.close()


async def test_a_live_message_joins_the_pass_under_way_without_cutting_a_request_short(db, ai_sim):
    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await _french_ticket(hd, me)
        ai_sim.first_token_delay = 0.6
        async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, lambda: len(ai_sim.requests) == 1, what="the first translation request")
            await hd.tickets.add_customer_message(ticket.id, "Et maintenant le livreur dit que le colis est perdu.")
            await wait_until(pilot, lambda: len([e for e in screen.timeline.entries if e.kind.value == "message"]) == 3,
                             what="the live message")
            await wait_until(pilot, _translated(screen, 3), timeout=10, what="all three translated")
        assert len(ai_sim.requests) == 3  # one each: the request in flight was not cancelled and made again
    finally:
        await hd.close()


async def test_a_very_long_message_is_translated_only_on_demand(db, ai_sim):
    from tui_helpdesk.services.ai.service import LONG_MESSAGE_CHARS

    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        long_text = " ".join([FRENCH] * (LONG_MESSAGE_CHARS // len(FRENCH) + 2))
        assert len(long_text) > LONG_MESSAGE_CHARS
        ticket = await hd.tickets.create(subject="Commande", body=long_text, requester_email="zoe@example.fr")
        await hd.tickets.add_customer_message(ticket.id, SECOND)
        async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            timeline = screen.timeline
            await wait_until(pilot, _translated(screen, 1), what="the short message translated")
            assert timeline.translations[timeline.entries[0].id].state == "long"
            assert "long French message · T: translate" in timeline.entry_text(0)
            await pilot.pause(0.3)
            assert len(ai_sim.requests) == 1  # the short one only
            timeline.select(0)
            timeline.focus()
            await pilot.press("T")
            await wait_until(pilot, _translated(screen, 2), timeout=8, what="the long one, on demand")
            assert timeline.entry_text(0).count("[simulated en]") == 1
        assert len(ai_sim.requests) == 2
    finally:
        await hd.close()


class UsageHarness(TicketHarness):
    """The ticket screen in an app that counts how often it is told its AI figure is stale."""

    def __init__(self, *args):
        super().__init__(*args)
        self.usage_refreshes = 0

    def refresh_ai_usage(self) -> None:
        self.usage_refreshes += 1


async def test_background_translations_refresh_the_usage_figure_once(db, ai_sim):
    hd = await open_ai_desk(db, ai_sim, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await _french_ticket(hd, me)
        async with UsageHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, _translated(screen, 2), what="the translations")
            await wait_until(pilot, lambda: pilot.app.usage_refreshes == 1, what="the figure refreshed")
        assert [row.calls for row in await hd.ai.usage(START.replace(year=2000), agent_id=me.id)] == [2]
        # Reopened: from the store, no call, nothing to refresh.
        async with UsageHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
            screen = await opened(pilot)
            await wait_until(pilot, _translated(screen, 2), what="cached translations")
            await pilot.pause(0.2)
            assert pilot.app.usage_refreshes == 0
    finally:
        await hd.close()
