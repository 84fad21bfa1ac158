"""Pilot tests of the ticket screen on a fresh SQLite desk."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time

import pytest
from textual.app import App

from tui_helpdesk.domain.model import EntryKind, Status
from tui_helpdesk.ui.keys import ALL_TICKET_KEYS
from tui_helpdesk.ui.ticket import loading as ticket_module
from tui_helpdesk.ui.ticket.loading import PAGE
from tui_helpdesk.ui.ticket.screen import TicketScreen
from tui_helpdesk.ui.widgets.composer import Composer
from tui_helpdesk.ui.widgets.keybar import KeyBar
from tui_helpdesk.domain.mail.quotes import split_quoted
from tui_helpdesk.ui.dialogs import AgentPicker as AssigneePicker
from tui_helpdesk.ui.dialogs import CannedPicker, CollisionDialog, StatusPicker
from tui_helpdesk.ui.widgets.timeline import Timeline

try:
    from .ticket_fixtures import TicketHarness, opened, screen_text, wait_until
except ImportError:
    from ticket_fixtures import TicketHarness, opened, screen_text, wait_until
from tests.desks import START

pytestmark = [pytest.mark.desk("team"), pytest.mark.clock(START)]


async def new_ticket(desk, subject="Refund for order 42", body="Where is my refund?", email="cy@example.com",
                     name="Cy Young", **kw):
    return await desk.hd.tickets.create(subject=subject, body=body, requester_email=email, requester_name=name, **kw)


async def drafts(desk, agent, ticket_id):
    async with desk.hd.store.read() as tx:
        return await tx.get_draft(agent.id, ticket_id)


async def type_text(pilot, text: str) -> None:
    """Type key by key (slow: only where the keys themselves matter)."""
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def put_text(pilot, screen, text: str) -> None:
    """Insert text at the composer's cursor, as a paste would."""
    screen.composer.input.insert(text)
    await pilot.pause()


# --------------------------------------------------------------------- opening


async def test_open_shows_every_kind_of_entry_and_the_details(desk):
    hd, ann, bob = desk.hd, desk.ann, desk.bob
    t = await new_ticket(desk, channel="email", language="de", tags=["billing"],
                         body="Where is my refund?\n\nOn Mon, Bob wrote:\n> the old text\n> more")
    await hd.tickets.reply(t.id, "We are on it", actor=bob)
    await hd.tickets.note(t.id, "@ann can you check the ledger?", actor=bob)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot)
        timeline = screen.timeline
        kinds = [e.kind for e in timeline.entries]
        assert kinds == [EntryKind.MESSAGE, EntryKind.REPLY, EntryKind.EVENT, EntryKind.NOTE]
        assert timeline.entry_text(3).startswith(" INTERNAL NOTE ")
        assert "\n" not in timeline.entry_text(2) and "On customer" in timeline.entry_text(2)
        text = screen_text(app)
        assert "Refund for order 42" in text and "Cy Young" in text and "On customer" in text
        assert "cy@example.com" in text and "billing" in text and "email" in text
        # The quoted history is folded, and opens on request.
        assert timeline.blocks[0].parts.quoted and "the old text" not in timeline.entry_text(0)
        assert "the old text" not in screen_text(app)
        timeline.select(0)
        await pilot.press("enter")
        assert "the old text" in timeline.entry_text(0)
        await pilot.pause()
        assert "> the old text" in screen_text(app)
        # The timeline draws with the theme's colours, and follows a theme switch.
        note_style = timeline.blocks[3].strips[1]._segments[2].style
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        assert timeline.blocks[3].strips[1]._segments[2].style != note_style
        # Opening the ticket read the mention.
        async with hd.store.read() as tx:
            assert await tx.unread_mentions(ann.id) == 0


def test_split_quoted_keeps_inline_replies():
    assert split_quoted("hi\n\nOn Mon, Al wrote:\n> a\n> b") == ("hi", "On Mon, Al wrote:\n> a\n> b")
    assert split_quoted("> a\nmy answer\n> b") == ("> a\nmy answer", "> b")
    assert split_quoted("> only quotes") == ("> only quotes", "")
    assert split_quoted("new\n-----Original Message-----\nold") == ("new", "-----Original Message-----\nold")


# ------------------------------------------------------------------- writing


async def test_reply_sends_and_status_becomes_on_customer(desk):
    hd, ann = desk.hd, desk.ann
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        assert screen.ticket.status is Status.NEW
        await pilot.press("r")
        assert screen.composer.display and screen.composer.mode == "reply"
        await put_text(pilot, screen, "Refund sent today")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.ticket.status is Status.ON_CUSTOMER, what="On customer")
        await wait_until(pilot, lambda: [e.kind for e in screen.timeline.entries][-2:] == [EntryKind.REPLY, EntryKind.EVENT])
        assert not screen.composer.display and screen.composer.text == ""
        assert "On customer" in screen_text(app)
    entries = await hd.tickets.timeline(t.id)
    assert [e.body for e in entries if e.kind is EntryKind.REPLY] == ["Refund sent today"]
    assert (await hd.tickets.get(t.id)).status is Status.ON_CUSTOMER
    assert await drafts(desk, ann, t.id) is None


async def test_note_with_completed_mention_records_it_for_that_agent(desk):
    hd, ann, bob = desk.hd, desk.ann, desk.bob
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("n")
        assert screen.composer.mode == "note" and screen.composer.has_class("-note")
        await type_text(pilot, "ask @b")
        await wait_until(pilot, lambda: screen.composer.input.suggestion == "ob ", what="a suggestion")
        assert "@bob" in str(screen.query_one("#composer-mentions").visual)
        await pilot.press("tab")
        await put_text(pilot, screen, "about it")
        assert screen.composer.text == "ask @bob about it"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.timeline.entries[-1].kind is EntryKind.NOTE, what="the note")
        assert screen.ticket.status is Status.NEW  # notes never move status
    async with hd.store.read() as tx:
        assert await tx.unread_mentions(bob.id) == 1
        assert await tx.unread_mentions(ann.id) == 0


async def test_collision_warning_when_another_agent_replied_after_the_draft_began(desk):
    hd, ann, bob = desk.hd, desk.ann, desk.bob
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        await put_text(pilot, screen, "My answer")
        await wait_until(pilot, lambda: screen.composer.base_entry_id > 0, what="the draft to begin")
        await hd.tickets.reply(t.id, "Bob answered first", actor=bob)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, CollisionDialog), what="the collision dialog")
        assert "Bob Brown" in screen_text(app)
        await pilot.press("n")  # review first: nothing is sent, the text stays
        await wait_until(pilot, lambda: app.screen is screen and not screen.composer.sending)
        assert screen.composer.text == "My answer"
        assert [e.body for e in await hd.tickets.timeline(t.id) if e.author == ann.name] == []
        bobs = [e.id for e in await hd.tickets.timeline(t.id) if e.author == bob.name and e.kind is EntryKind.REPLY]
        assert (await drafts(desk, ann, t.id)).base_entry_id == bobs[-1]  # counted from what Ann has now seen
        assert any(e.body == "Bob answered first" for e in screen.timeline.entries)
        # Already seen: sending again goes through without asking.
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.composer.display, what="the reply to go")
        assert not isinstance(app.screen, CollisionDialog)
        # A customer message after that asks again; "y" sends anyway.
        await pilot.press("r")
        await put_text(pilot, screen, "Second")
        await wait_until(pilot, lambda: screen.composer.base_entry_id > 0)
        await hd.tickets.add_customer_message(t.id, "Hello??")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, CollisionDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: not screen.composer.display)
    mine = [e.body for e in await hd.tickets.timeline(t.id) if e.kind is EntryKind.REPLY and e.author == ann.name]
    assert mine == ["My answer", "Second"]


async def test_draft_survives_closing_the_ticket_and_quitting(desk):
    hd, ann = desk.hd, desk.ann
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("n")
        await put_text(pilot, screen, "half a note")
        await pilot.press("escape")  # hide the composer
        assert not screen.composer.display
        await pilot.press("escape")  # leave the ticket
        await wait_until(pilot, lambda: not isinstance(app.screen, TicketScreen), what="the screen to close")
        draft = await drafts(desk, ann, t.id)
        assert (draft.mode, draft.body) == ("note", "half a note") and draft.base_entry_id > 0
        app.push_screen(TicketScreen(hd, ann, t.id))
        again = await opened(pilot)
        assert again.composer.display and again.composer.text == "half a note" and again.composer.mode == "note"
        # Quit straight after typing, before the debounce fires.
        again.composer.open()
        await type_text(pilot, "!")
        app.exit()
    assert (await drafts(desk, ann, t.id)).body == "half a note!"
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        assert screen.composer.text == "half a note!"


# ----------------------------------------------------------------- long thread


async def test_a_300_entry_ticket_opens_fast_and_loads_older_on_demand(desk):
    hd, ann, bob = desk.hd, desk.ann, desk.bob
    t = await new_ticket(desk)
    async with hd.store.write() as tx:
        for i in range(299):
            kind = (EntryKind.REPLY, EntryKind.MESSAGE, EntryKind.NOTE)[i % 3]
            await tx.insert_entry(ticket_id=t.id, kind=kind, body=f"entry {i + 1}\nsecond line",
                                  author_name="Bob Brown" if kind is not EntryKind.MESSAGE else "Cy Young",
                                  author_agent_id=bob.id if kind is not EntryKind.MESSAGE else None)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        started = time.monotonic()
        screen = await opened(pilot)
        elapsed = time.monotonic() - started
        timeline = screen.timeline
        assert len(timeline.entries) == PAGE and timeline.total == 300
        assert elapsed < 3.0, f"opening took {elapsed:.2f}s"
        assert timeline.entries[-1].body.startswith("entry 299")
        assert gc.isenabled()  # held off only until the first frame
        # Entries out of view are drawn after the first frame, a few at a time, the view staying put.
        await wait_until(pilot, lambda: all(b.key is not None for b in timeline.blocks), what="every entry drawn")
        await pilot.pause()
        assert timeline.scroll_y == timeline.max_scroll_y > 0  # opened at the newest entry
        assert "entry 299" in screen_text(app)
        assert "240 older entries" in timeline.marker_text().plain
        assert "240 older entries" in screen_text(app) or timeline.scroll_y > 0
        await pilot.press("o")
        await wait_until(pilot, lambda: len(timeline.entries) == 2 * PAGE, what="a page of older entries")
        # Scrolling to the very top loads the next page.
        await pilot.press("g")
        await pilot.pause(0.1)
        timeline.scroll_to(y=5, animate=False, immediate=True)
        await pilot.pause(0.05)
        timeline.scroll_to(y=0, animate=False, immediate=True)
        await wait_until(pilot, lambda: len(timeline.entries) == 3 * PAGE, what="scrolling up to load")
        # Moving up past the first entry loads more too, down to the first message.
        for _ in range(5):
            await pilot.press("g", "k")
            await pilot.pause(0.2)
        await wait_until(pilot, lambda: len(timeline.entries) == 300, what="everything")
        assert timeline.entries[0].body == "Where is my refund?"
        assert "start of the ticket" in timeline.marker_text().plain
        ids = [e.id for e in timeline.entries]
        assert ids == sorted(ids) and len(set(ids)) == 300


# ----------------------------------------------------------- status, assignee


async def test_status_assign_take_and_close(desk):
    hd, ann, bob = desk.hd, desk.ann, desk.bob
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusPicker))
        await pilot.press("down", "down", "down", "enter")  # New -> On hold
        await wait_until(pilot, lambda: type(app.screen).__name__ == "HoldDialog")
        await pilot.press("enter")  # no reason, no time
        await wait_until(pilot, lambda: screen.ticket.status is Status.ON_HOLD, what="On hold")
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AssigneePicker))
        await pilot.press("down", "down", "down", "enter")  # take, unassigned, ann, bob
        await wait_until(pilot, lambda: screen.ticket.assignee and screen.ticket.assignee.id == bob.id)
        await pilot.press("t")
        await wait_until(pilot, lambda: screen.ticket.assignee.id == ann.id, what="take")
        assert screen.ticket.status is Status.ON_HOLD  # reassigning keeps the status
        await pilot.press("c")
        await wait_until(pilot, lambda: screen.ticket.status is Status.CLOSED, what="closed")
        await wait_until(pilot, lambda: "Closed" in screen.timeline.entry_text(-1), what="the event")
    events = [e.body for e in await hd.tickets.timeline(t.id) if e.kind is EntryKind.EVENT]
    assert len(events) == 4 and all(ann.name in e for e in events)


async def test_a_change_made_meanwhile_is_reported_not_overwritten(desk):
    hd, ann, bob = desk.hd, desk.ann, desk.bob
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        screen._polling = True  # freeze the live view so the screen holds a stale version
        await hd.tickets.set_status(t.id, Status.ON_HOLD, actor=bob)
        await pilot.press("c")
        await wait_until(pilot, lambda: screen.ticket.status is Status.ON_HOLD, what="the reload")
        assert any("changed by Bob Brown meanwhile" in str(n.message) for n in app._notifications)
        screen._polling = False
    assert (await hd.tickets.get(t.id)).status is Status.ON_HOLD


# ------------------------------------------------------------ live and presence


async def test_live_entries_and_presence_from_another_terminal(desk, monkeypatch):
    monkeypatch.setattr(ticket_module, "PRESENCE_SECONDS", 0.5)
    monkeypatch.setattr(ticket_module, "HEARTBEAT_SECONDS", 1.0)
    hd, ann, bob = desk.hd, desk.ann, desk.bob
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await hd.tickets.add_customer_message(t.id, "Any news?")
        await wait_until(pilot, lambda: any(e.body == "Any news?" for e in screen.timeline.entries), timeout=2,
                         what="the live entry")
        await wait_until(pilot, lambda: screen.ticket.status is Status.ON_YOU, timeout=2)
        await hd.tickets.reply(t.id, "Yes!", actor=bob)
        await wait_until(pilot, lambda: screen.ticket.status is Status.ON_CUSTOMER, timeout=2)
        await screen.composer_service.heartbeat(bob, t.id, typing=True)
        presence = screen.query_one("#ticket-presence")
        await wait_until(pilot, lambda: presence.display and "Bob Brown is typing" in str(presence.visual),
                         timeout=4, what="presence")
        # Bob's terminal goes away: after the expiry he is no longer shown.
        desk.clock.advance(seconds=20)
        await wait_until(pilot, lambda: not presence.display, timeout=4, what="presence to expire")
        # Ann is shown to Bob as viewing, and as typing while she types.
        async def bob_sees(expected):
            deadline = time.monotonic() + 4
            while [(h.name, h.typing) for h in await screen.composer_service.others_here(bob, t.id)] != expected:
                assert time.monotonic() < deadline, f"Bob never saw {expected}"
                await pilot.pause(0.1)

        await bob_sees([(ann.name, False)])
        await pilot.press("r")
        await put_text(pilot, screen, "typing")
        await bob_sees([(ann.name, True)])


# ------------------------------------------------------ previous tickets, keys


async def test_previous_ticket_opens_in_a_new_ticket_screen(desk):
    hd, ann = desk.hd, desk.ann
    old = await new_ticket(desk, subject="Old question")
    new = await new_ticket(desk, subject="New question")
    app = TicketHarness(hd, ann, new.id)
    async with app.run_test(size=(120, 34)) as pilot:
        first = await opened(pilot)
        assert "Old question" in screen_text(app)
        await pilot.press("p", "enter")
        await wait_until(pilot, lambda: app.screen is not first and getattr(app.screen, "loaded", False))
        assert app.screen.ticket_id == old.id
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is first)


async def test_bindings_have_ids_and_can_be_remapped(desk):
    hd, ann = desk.hd, desk.ann
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        for cls in (TicketScreen, Timeline, Composer, StatusPicker, CollisionDialog):
            for b in cls.BINDINGS:
                assert b.id and b.id.startswith("ticket."), f"{b.action} on {cls.__name__} has no id"
        assert {k.id for k in ALL_TICKET_KEYS} >= {"ticket.reply", "ticket.note", "ticket.status", "ticket.assign",
                                                    "ticket.take", "ticket.close", "ticket.composer.send"}
        bar = screen.query_one(KeyBar)
        assert ("r", "r", "Reply", True) in bar.keys and bar.palette is not None
        app.set_keymap({"ticket.reply": "R"})
        await pilot.pause()
        assert ("R", "R", "Reply", True) in bar.keys
        await pilot.press("r")
        assert not screen.composer.display
        await pilot.press("R")
        assert screen.composer.display and screen.composer.mode == "reply"
        # While typing, the bar shows the composer's keys; a click on one presses it.
        await pilot.pause()
        assert any(description == "Send" for _, _, description, _ in bar.keys)
        assert not any(description == "Reply" for _, _, description, _ in bar.keys)
        start, end, _ = next(span for span in bar._spans if span[2] == "escape")
        await pilot.click(KeyBar, offset=(start + 1, 0))
        await wait_until(pilot, lambda: not screen.composer.display, what="esc from the key bar")


async def test_canned_reply_goes_into_the_composer(desk):
    hd, ann = desk.hd, desk.ann
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, CannedPicker))
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.composer.display and screen.composer.text)
        assert screen.composer.text.startswith("Hi Cy,") and screen.composer.mode == "reply"


async def test_edit_in_editor_uses_a_private_temp_file(desk, tmp_path, monkeypatch):
    hd, ann = desk.hd, desk.ann
    t = await new_ticket(desk)
    record = tmp_path / "seen"
    script = tmp_path / "editor.sh"
    script.write_text(f'#!/bin/sh\nstat -c %a "$1" > {record}\necho "$1" >> {record}\nprintf "edited\\n" >> "$1"\n')
    script.chmod(0o700)
    monkeypatch.setenv("VISUAL", str(script))
    monkeypatch.setattr(App, "suspend", lambda self: contextlib.nullcontext())
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        await put_text(pilot, screen, "first line")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: "edited" in screen.composer.text, what="the edited text")
        assert screen.composer.text == "first lineedited"
        mode, path = record.read_text().split("\n")[:2]
        assert mode == "600" and not os.path.exists(path)
        await wait_until(pilot, lambda: screen._saved[1] == "first lineedited", what="the draft save")


async def test_composer_keys_do_not_leak_while_typing(desk):
    hd, ann = desk.hd, desk.ann
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        await pilot.press("r")
        await type_text(pilot, "status: a t c n")
        assert app.screen is screen and screen.ticket.status is Status.NEW
        assert screen.composer.text == "status: a t c n"
        assert isinstance(app.focused.parent, Composer)


async def test_a_closed_ticket_screen_leaves_nothing_behind(desk):
    """The editor's theme watcher goes with it, the screen's drawn lines are dropped, the collector is back on.

    (Textual would otherwise keep every closed composer, through a watcher on
    ``app.theme``, and up to a thousand widgets' rendered lines.)
    """
    hd, ann = desk.hd, desk.ann
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        first = await opened(pilot)
        editor = first.composer.input
        await pilot.press("r")
        await pilot.press("escape", "escape")
        await wait_until(pilot, lambda: not first.is_attached, what="the screen to close")
        assert not any(node is editor for node, _ in getattr(app, "__watchers", {}).get("theme", []))
        assert not first.timeline._styles_cache._cache and not first.details._styles_cache._cache
        app.push_screen(TicketScreen(hd, ann, t.id))
        await opened(pilot)
        assert gc.isenabled()


async def test_a_slow_database_shows_loading_then_the_ticket(desk, monkeypatch):
    hd, ann = desk.hd, desk.ann
    t = await new_ticket(desk)
    from tui_helpdesk.services.composer import ComposerService

    real = ComposerService.first_view

    async def slow(self, *args, **kwargs):
        await asyncio.sleep(ticket_module.FIRST_WAIT + 1.0)
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(ComposerService, "first_view", slow)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TicketScreen), what="the screen")
        await pilot.pause(ticket_module.FIRST_WAIT + 0.05)
        assert f"#{t.id} loading…" in screen_text(app) and gc.isenabled()  # not held while waiting
        screen = await opened(pilot)
        assert "Refund for order 42" in screen_text(app) and screen.timeline.entries


async def test_typing_shows_within_a_second_and_clears_at_once(desk):
    """Presence rides the change feed: no waiting for the next presence read (2.5 s) or the typing window (4 s)."""
    hd, ann, bob = desk.hd, desk.ann, desk.bob
    t = await new_ticket(desk)
    app = TicketHarness(hd, ann, t.id)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await opened(pilot)
        presence = screen.query_one("#ticket-presence")
        await pilot.pause(3.0)  # past the first presence reads: from now on only the feed can be quick
        service = screen.composer_service
        await service.heartbeat(bob, t.id, typing=True, announce=True)
        await wait_until(pilot, lambda: presence.display and "Bob Brown is typing" in str(presence.visual),
                         timeout=1.2, what="Bob typing, within a second")
        await service.heartbeat(bob, t.id, typing=False, announce=True)
        await wait_until(pilot, lambda: "typing" not in str(presence.visual), timeout=1.2,
                         what="Bob's typing to clear, within a second")

        async def bob_sees(expected, within):
            deadline = time.monotonic() + within
            while [(h.name, h.typing) for h in await service.others_here(bob, t.id)] != expected:
                assert time.monotonic() < deadline, f"Bob did not see {expected} within {within} s"
                await pilot.pause(0.05)

        await pilot.press("r")
        await put_text(pilot, screen, "typing")
        await bob_sees([(ann.name, True)], within=1.0)
        await pilot.press("escape")
        await bob_sees([(ann.name, False)], within=2.0)
