"""RELIABILITY.md payloads as subject, requester name and body: literal, harmless, no crash."""

from __future__ import annotations

from ui_support import PAYLOADS, settle, screen_text

from tui_helpdesk.domain.text import clean, one_line

BAD = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


async def _payload_tickets(hd, ana):
    ids = []
    for i, payload in enumerate(PAYLOADS):
        ticket = await hd.tickets.create(
            subject=f"S{i} {payload}", body=f"B{i} {payload}", requester_email=f"p{i}@example.com",
            requester_name=f"N{i} {payload}", channel="email", assignee=ana,
        )
        ids.append(ticket.id)
    return ids


async def test_payloads_are_shown_literally_and_run_nothing(desk, make_app):
    hd, ana, ben = desk
    ids = await _payload_tickets(hd, ana)
    app = make_app(hd, ana)
    quit_called = []
    app.action_quit = lambda: quit_called.append(True)  # a markup [@click=app.quit] must never get here
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot, lambda: len(app.inbox.table.window.rows) >= len(ids))
        text = screen_text(app)
        for needle in ("[@click=app.quit]x[/]", '[link="https://evil.example"]Reset[/link]', "Re: [/] x",
                       "[@click=]x[/]", "invoicefdp.exe", "trailing backslash \\"):
            assert needle in text, needle
        for ch in BAD:
            assert ch not in text
        # Every cell of every payload row is Text built from cleaned strings.
        table = app.inbox.table
        for row_index in range(table.row_count):
            for cell in table.cells(row_index):
                assert not isinstance(cell, str)
                assert not any(ch in cell.plain for ch in BAD)
        # Hover every payload row and click some (a second click opens the ticket).
        for y in range(1, min(table.row_count, len(ids)) + 1):
            await pilot.hover("#tickets", offset=(60, y))
        for y in (1, 3):
            await pilot.click("#tickets", offset=(60, y))
            if app.screen is app.inbox:
                await pilot.click("#tickets", offset=(60, y))
            if app.screen is not app.inbox:
                await pilot.pause(0.2)
                await pilot.press("escape")
                await pilot.pause(0.1)
                assert app.screen is app.inbox
        await pilot.pause(0.2)
        assert not quit_called
        assert app.is_running and app.return_code is None
        # The status bar, the palette and notifications with payloads.
        await hd.tickets.create(subject="[@click=app.quit]boom[/] \x1b]0;PWNED\x07", body="x",
                                requester_email="q@example.com", assignee=ben)
        new = await hd.tickets.create(subject="Re: [/] x \x1b[2J", body="y", requester_email="r@example.com")
        await hd.tickets.assign(new.id, "ana", actor=ben)
        await settle(pilot, lambda: any("Re: [/] x" in str(n.message) for n in app._notifications))
        await pilot.press("colon", *"S9")
        await pilot.pause(0.5)
        await pilot.press("escape")
        await pilot.press("slash", *"[/]")
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert not quit_called and app.is_running


async def test_cells_are_cleaned(desk, make_app):
    hd, ana, _ = desk
    ids = await _payload_tickets(hd, ana)
    app = make_app(hd, ana)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot, lambda: len(app.inbox.table.window.rows) >= len(ids))
        rows = {r.id: r for r in app.inbox.table.window.rows}
        for tid, payload in zip(ids, PAYLOADS):
            index = [r.id for r in app.inbox.table.rows].index(tid)
            cells = [c.plain for c in app.inbox.table.cells(index)]
            assert any(c.startswith(one_line(f"N{ids.index(tid)} {payload}")[:10]) for c in cells)
            assert rows[tid].subject.startswith(f"S{ids.index(tid)}")


async def test_every_notification_is_plain_text_whoever_sends_it(desk, make_app):
    """Widgets' notify() parses markup by default; the app turns that off for all of them,
    so an f-string that quotes an error or a name can never become markup or an action."""
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for payload in PAYLOADS:
            app.inbox.table.notify(f"Something went wrong: {payload}")  # a widget's notify, markup on by default
        await pilot.pause()
        shown = list(app._notifications)
        assert len(shown) == len(PAYLOADS)
        for note, payload in zip(shown, PAYLOADS):
            assert note.markup is False
            assert note.message == clean(f"Something went wrong: {payload}")
            assert not any(ch in note.message for ch in BAD)
