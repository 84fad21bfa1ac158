"""AI compose on the ticket screen (Pilot), with the simulator on loopback and the real openai client."""

from __future__ import annotations

import pytest

from tests.ai_fixtures import AI_KEY, FRENCH, open_ai_desk
from tests.clock import Clock
from tests.desks import START
from tui_helpdesk.adapters.ai.sim_http import AISimulator
from tui_helpdesk.domain.model import EntryKind

try:
    from .ticket_fixtures import TicketHarness, opened, screen_text, wait_until
except ImportError:
    from ticket_fixtures import TicketHarness, opened, screen_text, wait_until


@pytest.fixture
async def ai_sim():
    async with AISimulator(api_key=AI_KEY) as sim:
        yield sim


@pytest.fixture
async def ai_hd(tmp_path, ai_sim):
    # Translation off: these tests count and spoil the compose requests only.
    hd = await open_ai_desk(f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}", ai_sim, Clock(START), translation=False)
    me = await hd.agents.identify("ann")
    ticket = await hd.tickets.create(subject="Commande 4521", body=FRENCH, requester_email="zoe@example.fr",
                                     requester_name="Zoé Martin", channel="email")
    yield hd, me, ticket
    await hd.close()


def _done(screen):
    return lambda: not screen.ai_preview.streaming


async def test_draft_streams_into_the_preview_and_accept_fills_the_composer(ai_hd, ai_sim):
    hd, me, ticket = ai_hd
    async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("f2")
        await wait_until(pilot, _done(screen), what="the draft to stream")
        preview = screen.ai_preview
        assert preview.display and preview.has_focus
        assert preview.result.startswith("[simulated] Hello,")
        assert screen.composer.text == ""  # nothing applied before accept
        text = screen_text(pilot.app)
        assert "AI draft" in text and "simulated model" in text and "enter/y accept" in text
        await pilot.press("y")
        await pilot.pause()
        assert screen.composer.text == preview.result and not preview.display
        assert screen.composer.input.has_focus
        # Nothing was sent: the timeline holds only the customer's message.
        assert [e.kind for e in await hd.tickets.timeline(ticket.id)] == [EntryKind.MESSAGE]


async def test_polish_shows_a_word_diff_and_reject_keeps_the_draft(ai_hd, ai_sim):
    hd, me, ticket = ai_hd
    async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("we sent it again.")
        await pilot.pause()
        await pilot.press("f3")
        await wait_until(pilot, _done(screen), what="the polish")
        body = screen.ai_preview._body()
        marked = {(str(span.style), body.plain[span.start:span.end]) for span in body.spans}
        assert ("strike red", "we") in marked  # removed from the draft
        assert ("bold green", "[simulated] We") in marked  # added by the model
        assert ("bold green", " Thank you for your patience.") in marked
        assert "sent it again." in body.plain
        await pilot.press("n")
        await pilot.pause()
        assert screen.composer.text == "we sent it again." and not screen.ai_preview.display


async def test_polish_with_a_tone_from_the_palette_action_and_retry_with_an_instruction(ai_hd, ai_sim):
    hd, me, ticket = ai_hd
    async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        labels = [label for label, _keys, _run in screen.palette_commands()]
        assert "AI: polish my draft, shorter" in labels and "AI: draft a reply from the conversation" in labels
        await pilot.press("r")
        screen.composer.input.insert("one. two.")
        await pilot.pause()
        await screen.run_action("ai_polish('shorter')")
        await wait_until(pilot, _done(screen), what="the polish")
        assert screen.ai_preview.result == "[simulated] One."
        await pilot.press("i")
        await pilot.pause()
        await pilot.press(*"be kind")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "(be kind.)" in screen.ai_preview.result and _done(screen)(), what="the retry")
        assert ai_sim.requests[-1]["messages"][-1]["content"].endswith("Instruction: be kind")
        assert "Tone: shorter" in ai_sim.requests[-1]["messages"][-1]["content"]  # the same action and tone
        await pilot.press("y")
        await pilot.pause()
        assert screen.composer.text == "[simulated] One. (be kind.)"


async def test_translate_shows_both_versions_and_keeps_the_original_visible(ai_hd):
    hd, me, ticket = ai_hd
    async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("Your parcel left today.")
        await pilot.pause()
        await pilot.press("f4")
        await wait_until(pilot, _done(screen), what="the translation")
        assert "Your draft:" in screen.ai_preview._body().plain
        assert screen.ai_preview.result == "[simulated fr] Your parcel left today."
        await pilot.press("enter")
        await pilot.pause()
        assert screen.composer.text == "[simulated fr] Your parcel left today."
        assert "Before translation: Your parcel left today." in screen_text(pilot.app)


async def test_a_reply_sent_translated_keeps_the_agents_original_in_the_timeline(ai_hd):
    hd, me, _ = ai_hd
    ticket = await hd.tickets.create(subject="Commande", body=FRENCH, requester_email="zoe@example.fr")  # api
    async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("Your parcel left today.")
        await pilot.pause()
        await pilot.press("f4")
        await wait_until(pilot, _done(screen), what="the translation")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("ctrl+s")
        timeline = screen.timeline
        await wait_until(pilot, lambda: any(e.kind is EntryKind.REPLY for e in timeline.entries), what="the reply")
        last = next(i for i, e in enumerate(timeline.entries) if e.kind is EntryKind.REPLY)
        sent = timeline.entry_text(last)
        assert "[simulated fr] Your parcel left today." in sent
        assert "sent as an AI translation into French · T: show the agent's original" in sent
        timeline.select(last)
        timeline.focus()
        await pilot.press("T")
        await pilot.pause()
        shown = timeline.entry_text(last)
        assert "the agent's original, before translation · T: show what was sent" in shown
        assert "Your parcel left today." in shown and "[simulated fr]" not in shown
        await pilot.press("T")
        await pilot.pause()
        assert "[simulated fr] Your parcel left today." in timeline.entry_text(last)
        assert not screen.composer.original  # the next reply starts afresh
    [reply] = [e for e in await hd.tickets.timeline(ticket.id) if e.kind is EntryKind.REPLY]
    assert reply.body == "[simulated fr] Your parcel left today."
    assert reply.meta["original"] == {"text": "Your parcel left today.", "language": "fr"}


async def test_emptying_a_translated_draft_forgets_its_original(ai_hd):
    hd, me, _ = ai_hd
    ticket = await hd.tickets.create(subject="Commande", body=FRENCH, requester_email="zoe@example.fr")
    async with TicketHarness(hd, me, ticket.id).run_test(size=(140, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("Your parcel left today.")
        await pilot.pause()
        await pilot.press("f4")
        await wait_until(pilot, _done(screen), what="the translation")
        await pilot.press("enter")
        await pilot.pause()
        assert screen.composer.original == "Your parcel left today."
        screen.composer.input.clear()
        await pilot.pause()
        screen.composer.input.insert("Something else entirely.")
        await pilot.pause()
        assert screen.composer.original is None
        assert "Before translation" not in screen_text(pilot.app)


async def test_a_reply_not_translated_keeps_no_original(ai_hd):
    hd, me, _ = ai_hd
    ticket = await hd.tickets.create(subject="Order", body="Where is it?", requester_email="a@example.com")
    result = await hd.tickets.reply(ticket.id, "On its way.", actor=me, original="On its way.")
    assert not (result.entry.meta or {}).get("original")  # unchanged text: nothing to keep


async def test_cancel_mid_stream_keeps_the_draft(ai_hd, ai_sim):
    hd, me, ticket = ai_hd
    ai_sim.chunk_delay = 0.2
    async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("my draft")
        await pilot.pause()
        await pilot.press("f3")
        await wait_until(pilot, lambda: screen.ai_preview.answer.strip() != "", what="the first token")
        assert screen.ai_preview.streaming
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not screen.ai_preview.display and screen.composer.text == "my draft"
        assert "AI answer cancelled; the draft is unchanged" in pilot.app.notes


@pytest.mark.parametrize("kind, words", [("401", "refused the API key"), ("broken", "cut off midway"),
                                         ("429", "try again in 30 s"), ("garbage", "not valid")])
async def test_a_failure_is_one_line_and_the_draft_stays(ai_hd, ai_sim, kind, words):
    hd, me, ticket = ai_hd
    ai_sim.fail_next(kind, retry_after=30)
    async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("keep me")
        await pilot.pause()
        await pilot.press("f3")
        await wait_until(pilot, lambda: bool(screen.ai_preview.failed), what="the failure")
        assert words in screen.ai_preview.failed
        assert any(words in note for note in pilot.app.notes)
        await pilot.press("y")  # nothing to accept
        assert screen.composer.text == "keep me"
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.ai_preview.display
        # The screen still works.
        await pilot.press("f3")
        await wait_until(pilot, _done(screen), what="the second try")
        assert screen.ai_preview.result.startswith("[simulated]")


async def test_markup_and_escapes_in_model_output_are_shown_literally(ai_hd, ai_sim):
    hd, me, ticket = ai_hd
    ai_sim.reply_next("[bold red]Sure![/] [@click=app.quit]x[/] \x1b]0;PWNED\x07\x1b[2J done")
    async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("f2")
        await wait_until(pilot, _done(screen), what="the draft")
        text = screen_text(pilot.app)
        assert "[bold red]Sure![/] [@click=app.quit]x[/]" in text
        assert "PWNED" not in screen.ai_preview.result and "\x1b" not in screen.ai_preview.result
        await pilot.press("y")
        assert screen.composer.text == "[bold red]Sure![/] [@click=app.quit]x[/]  done"


async def test_without_an_endpoint_the_ai_keys_say_so(tmp_path):
    hd = await open_ai_desk(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}", None, Clock(START))
    try:
        me = await hd.agents.identify("ann")
        ticket = await hd.tickets.create(subject="x", body="hello there", requester_email="a@example.com")
        async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
            screen = await opened(pilot)
            await pilot.press("f2")
            await pilot.pause()
            assert "no AI endpoint is configured (set [ai] base_url and model)" in pilot.app.notes
            assert not screen.ai_preview.display
    finally:
        await hd.close()


async def test_summarize_streams_into_the_preview_and_posts_a_note(ai_hd, ai_sim):
    hd, me, ticket = ai_hd
    async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("S")
        await wait_until(pilot, lambda: "Summary added as an internal note" in pilot.app.notes, what="the summary")
        preview = screen.ai_preview
        assert preview.display and preview.info and preview.result.startswith("Subject: Bonjour")
        assert "Summary added as an internal note · esc close" in screen_text(pilot.app)
        await wait_until(pilot, lambda: any(e.author == "AI summary" for e in screen.timeline.entries),
                         what="the note on screen")
        assert screen.composer.text == ""  # a summary never goes into the composer
        await pilot.press("y")  # reading done: closes, accepts nothing
        await pilot.pause()
        assert not preview.display and screen.composer.text == ""
        await pilot.press("S")
        await wait_until(pilot, lambda: any("up to date" in n for n in pilot.app.notes), what="the second ask")
        assert len([r for r in ai_sim.requests]) == 1  # not made again: nothing changed
        assert (await hd.tickets.get(ticket.id)).summary.startswith("[simulated] The customer wrote")


async def test_a_summary_can_be_cancelled_mid_stream(ai_hd, ai_sim):
    hd, me, ticket = ai_hd
    ai_sim.chunk_delay = 0.2
    async with TicketHarness(hd, me, ticket.id).run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        await pilot.press("S")
        await wait_until(pilot, lambda: screen.ai_preview.answer.strip() != "", what="the first token")
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert "AI summary cancelled; nothing was posted" in pilot.app.notes
    assert [e.kind for e in await hd.tickets.timeline(ticket.id)] == [EntryKind.MESSAGE]
    assert (await hd.tickets.get(ticket.id)).summary is None
