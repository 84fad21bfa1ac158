"""A live-chat ticket on the ticket screen, against the chatbot simulator over HTTP.

The details panel shows the linked conversation's state and whether the AI is
paused; ``A`` (after a confirmation) hands the chat back to the chatbot and
closes the ticket; a failing platform changes nothing and says so.
"""

from __future__ import annotations

import pytest

from tests.chat_fixtures import open_desk
from tui_helpdesk.domain.model import EntryKind, Status, TicketType
from tui_helpdesk.ui.dialogs import ConfirmDialog

try:
    from .ticket_fixtures import TicketHarness, opened, screen_text, wait_until
except ImportError:
    from ticket_fixtures import TicketHarness, opened, screen_text, wait_until


pytestmark = pytest.mark.sim(seed=5, rate_limit=100_000)


@pytest.fixture
async def hd(tmp_path, sim, clock):
    desk = await open_desk(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", sim, clock)
    yield desk
    await desk.close()


async def escalated_ticket(hd, sim) -> tuple[str, int]:
    conv = sim.add_conversation("Lucía Fernández", text="Hola, mi pedido no llega", language="es",
                                channel="whatsapp")
    sim.escalate(conv, "Order delayed; customer asks for a person")
    await hd.conversations.poll_once()
    async with hd.store.read() as tx:
        [tid] = await tx.tickets_by_conversation(conv)
    return conv, tid


def details_text(screen) -> str:
    """The details panel's text as plain text."""
    panel = screen.query_one("#details-info")
    return "\n".join(strip.text for strip in panel.render_lines(panel.region.reset_offset))


async def test_allow_ai_replies_hands_the_chat_back_after_a_confirmation(hd, sim):
    me = await hd.agents.identify()
    conv, tid = await escalated_ticket(hd, sim)
    app = TicketHarness(hd, me, tid)
    async with app.run_test(size=(130, 40)) as pilot:
        screen = await opened(pilot)
        assert screen.ticket.type is TicketType.LIVE_CHAT
        await wait_until(pilot, lambda: screen.details.chat_loaded, what="the conversation's state")
        await pilot.pause()
        text = screen_text(app)
        assert "escalated" in text and "AI paused" in text and "A: allow AI replies" in text
        assert "Allow AI replies: hand a live chat back to the chatbot and close it" in [
            label for label, _, _ in screen.palette_commands()]

        # Backing out of the confirmation changes nothing.
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        assert "Lucía Fernández" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen, what="the dialog to close")
        assert sim.snapshot(conv)["ai_paused"] is True

        # The platform is down: nothing changes here, and the agent is told.
        sim.down = True
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: any(n.startswith("Nothing changed") for n in app.notes), what="the error")
        ticket = await hd.tickets.get(tid)
        assert ticket.status is Status.NEW and not ticket.ai_replies_allowed
        assert screen.ticket.status is Status.NEW and "AI paused" in details_text(screen)

        # Up again: resumed on the platform, closed here, with the event on the timeline.
        sim.down = False
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.ticket.status is Status.CLOSED, what="the ticket to close")
        await wait_until(pilot, lambda: "AI replies allowed" in details_text(screen), what="the details")
        await wait_until(pilot, lambda: any(e.kind is EntryKind.EVENT and e.body.startswith("AI resumed by")
                                            for e in screen.timeline.entries), what="the AI resumed event")
        await wait_until(pilot, lambda: "ongoing" in details_text(screen), what="the conversation's new state")
        assert any("handed back to the chatbot and closed" in n for n in app.notes)
        assert "Allow AI replies" not in " ".join(label for label, _, _ in screen.palette_commands())
        await pilot.pause()
        assert "Closed" in screen_text(app)
    snap = sim.snapshot(conv)
    assert snap["ai_paused"] is False and snap["state"] == "ongoing"
    ticket = await hd.tickets.get(tid)
    assert ticket.status is Status.CLOSED and ticket.ai_replies_allowed


async def test_allow_ai_replies_is_only_for_live_chats(hd):
    me = await hd.agents.identify()
    ticket = await hd.tickets.create(subject="By mail", body="hi", requester_email="a@example.com", channel="email")
    app = TicketHarness(hd, me, ticket.id)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await opened(pilot)
        assert "Allow AI replies" not in " ".join(label for label, _, _ in screen.palette_commands())
        await pilot.press("A")
        await wait_until(pilot, lambda: any("Only live-chat tickets" in n for n in app.notes), what="the notice")
        assert app.screen is screen
        assert "AI paused" not in screen_text(app)


async def test_chat_replies_show_how_far_they_got(hd, sim, monkeypatch):
    from tui_helpdesk.ui.ticket import loading as ticket_module

    monkeypatch.setattr(ticket_module, "DELIVERY_POLL_SECONDS", 0.2)
    me = await hd.agents.identify()
    conv, tid = await escalated_ticket(hd, sim)
    ticket = await hd.tickets.get(tid)
    app = TicketHarness(hd, me, tid)
    async with app.run_test(size=(130, 40)) as pilot:
        screen = await opened(pilot)
        timeline = screen.timeline

        def reply_text(body: str) -> str:
            i = next(i for i, e in enumerate(timeline.entries) if e.kind is EntryKind.REPLY and e.body == body)
            return timeline.entry_text(i)

        await hd.tickets.reply(tid, "Hola Lucía, lo miro ahora", actor=me)
        await wait_until(pilot, lambda: any(e.kind is EntryKind.REPLY for e in timeline.entries), what="the reply")
        await wait_until(pilot, lambda: "◷ queued" in reply_text("Hola Lucía, lo miro ahora"), what="queued")
        assert await hd.chat_outbox.send_due(ticket.desk_id) == 1
        await wait_until(pilot, lambda: "✓ sent to the chat" in reply_text("Hola Lucía, lo miro ahora"),
                         what="delivered")

        sim.end(conv)
        await hd.tickets.reply(tid, "¿Sigue ahí?", actor=me)
        await wait_until(pilot, lambda: any(e.body == "¿Sigue ahí?" for e in timeline.entries), what="the reply")
        await hd.chat_outbox.send_due(ticket.desk_id)
        await wait_until(pilot, lambda: "✗ failed to the chat" in reply_text("¿Sigue ahí?"), what="the failure")
        assert "R: resend" not in reply_text("¿Sigue ahí?")  # the chat has ended: nothing to resend into
        assert "✓ sent to the chat" in reply_text("Hola Lucía, lo miro ahora")
