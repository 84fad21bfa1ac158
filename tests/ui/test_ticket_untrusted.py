"""Untrusted text on the ticket screen (RELIABILITY.md): shown literally, never run.

Each payload goes into a subject, a requester name, a message body, an
attachment filename and a previous ticket's subject. The screen must show the
cleaned text literally, draw no escape or bidi control, carry no link or click
action in its styles, and survive clicks and hovers on every place the payload
is drawn.
"""

from __future__ import annotations

import pytest

from tui_helpdesk.domain.text import clean, one_line
from tui_helpdesk.ui.ticket.screen import TicketScreen
from tui_helpdesk.ui.widgets.attachments import safe_filename
from tui_helpdesk.ui.dialogs import CollisionDialog

try:
    from .ticket_fixtures import (StrictApp, opened, screen_segments, screen_text,
                                  wait_until)
except ImportError:
    from ticket_fixtures import (StrictApp, opened, screen_segments, screen_text,
                                 wait_until)
from tests.desks import START


ESCAPES = [
    "\x1b]52;c;Y3VybCBldmlsfHNo\x1b\\",
    "\x1b]0;PWNED\x1b\\",
    "\x1b[21t",
    "\x1bP$qm\x1b\\",
    "\x1b[2J",
    "\u009b2J",
    "ok\rFAKE",
    "\x1b]8;;https://evil.example/\x1b\\https://bank.example\x1b]8;;\x1b\\",
    "invoice\u202efdp.exe",
]
MARKUP = [
    "[@click=app.quit]x[/]",
    '[link="https://evil.example"]Reset[/link]',
    "[/]",
    "Re: [/] x",
    "[@click=]x[/]",
    "trailing\\",
]
FORBIDDEN = ["\x1b", "\x07", "\x9b", "\r", "\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069"] + [
    chr(c) for c in range(0x80, 0xA0)
]


class Shell(StrictApp):
    """An empty app; the test pushes ticket screens onto it."""


pytestmark = [pytest.mark.desk("team"), pytest.mark.clock(START)]


async def payload_ticket(desk, n: int, payload: str, *, previous: bool = True):
    email = f"customer{n}@example.com"
    attachments = {"attachments": [{"filename": f"FILE{payload}", "size": 1234}]}
    if previous:
        await desk.hd.tickets.create(subject=f"PREV{payload}", body="earlier", requester_email=email,
                                     requester_name=f"NAME{payload}")
    return await desk.hd.tickets.create(subject=f"SUBJ{payload}", body=f"BODY{payload}\nsecond line",
                                        requester_email=email, requester_name=f"NAME{payload}",
                                        meta=attachments, channel="email")


def assert_clean_terminal(app) -> None:
    text = screen_text(app)
    for ch in FORBIDDEN:
        assert ch not in text, f"{ch!r} reached the screen"
    for seg in screen_segments(app):
        style = seg.style
        if style is None:
            continue
        assert not style.link, f"a link reached the screen: {style.link!r} on {seg.text!r}"
        action = (style.meta or {}).get("@click")
        if action is not None:
            assert "quit" not in str(action) and str(action).strip() not in ("", "()"), f"click action {action!r}"


def find(app, needle: str) -> list[tuple[int, int]]:
    """Screen cells where *needle* starts."""
    spots = []
    for y, line in enumerate(screen_text(app).splitlines()):
        x = line.find(needle)
        while x >= 0:
            spots.append((x, y))
            x = line.find(needle, x + 1)
    return spots


async def test_escape_payloads_are_removed_and_the_rest_stays_readable(desk):
    hd, ann = desk.hd, desk.ann
    subject = "SUBJ " + " | ".join(ESCAPES)
    name = "NAME " + " ".join(p for p in ESCAPES if "\x1b]8" not in p)
    body = "\n".join(f"BODY{i} {p}" for i, p in enumerate(ESCAPES))
    meta = {"attachments": [{"filename": f"FILE{i} {p}", "size": 10} for i, p in enumerate(ESCAPES)]}
    t = await hd.tickets.create(subject=subject, body=body, requester_email="esc@example.com",
                                requester_name=name, meta=meta)
    await hd.tickets.note(t.id, "NOTE " + " ".join(ESCAPES), actor=ann)
    app = Shell()
    async with app.run_test(size=(200, 60)) as pilot:
        app.push_screen(TicketScreen(hd, ann, t.id))
        screen = await opened(pilot)
        await pilot.pause()
        assert_clean_terminal(app)
        text = screen_text(app)
        assert "https://bank.example" in text and "invoicefdp.exe" in text
        assert "PWNED" not in text and "Y3VybCBldmlsfHNo" not in text and "evil.example" not in text
        for i, payload in enumerate(ESCAPES):
            for line in clean(f"BODY{i} {payload}").split("\n"):
                assert line in text, f"{line!r} not shown"
            # A file name also loses its path separators.
            assert safe_filename(f"FILE{i} {payload}") in text
        assert "ok\nFAKE" in screen.timeline.entry_text(0)  # the CR became a line break, not an overwrite
        assert screen.ticket.subject == one_line(subject)


async def test_markup_payloads_are_shown_literally_and_clicking_runs_nothing(desk):
    hd, ann = desk.hd, desk.ann
    tickets = [(payload, await payload_ticket(desk, n, payload)) for n, payload in enumerate(MARKUP)]
    app = Shell()
    async with app.run_test(size=(160, 40)) as pilot:
        for payload, t in tickets:
            app.push_screen(TicketScreen(hd, ann, t.id))
            screen = await opened(pilot)
            await pilot.pause()
            assert_clean_terminal(app)
            literal = one_line(payload)
            spots = {}
            for marker in ("SUBJ", "NAME", "BODY", "FILE"):
                shown = safe_filename(marker + payload) if marker == "FILE" else marker + literal
                found = find(app, shown)
                assert found, f"{shown!r} is not shown literally"
                spots[marker] = found
            # The details column wraps long values: read it as one run of text.
            column = "".join(line.split("▏", 1)[1].strip() for line in screen_text(app).splitlines() if "▏" in line)
            assert "PREV" + literal in column
            # Every cell the payload is drawn on carries no action or link...
            for found in spots.values():
                for x, y in found:
                    for dx in range(len(literal) + 4):
                        style = screen.get_style_at(x + dx, y)
                        assert not style.link and "@click" not in (style.meta or {}), (x + dx, y, style.meta)
            # ...and clicking and hovering there runs nothing (everywhere for the payloads that
            # would carry an action or a link as markup; on the body for the others).
            clicky = "@click" in payload or "link" in payload
            for marker in ("SUBJ", "NAME", "BODY", "FILE") if clicky else ("BODY",):
                for x, y in spots[marker][:1]:
                    await pilot.hover(offset=(x + 4 + len(literal) // 2, y))
                    await pilot.click(offset=(x + 4 + len(literal) // 2, y))
            await pilot.pause()
            assert app.return_code is None and app.is_running, f"{payload!r} ended the app"
            assert app.screen is screen, f"{payload!r} changed the screen"
            assert_clean_terminal(app)
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, TicketScreen), what="the screen to close")


async def test_payload_author_in_the_collision_dialog_is_literal(desk):
    hd, ann = desk.hd, desk.ann
    payload = MARKUP[0]
    t = await payload_ticket(desk, 2, payload, previous=False)
    app = Shell()
    async with app.run_test(size=(160, 40)) as pilot:
        app.push_screen(TicketScreen(hd, ann, t.id))
        screen = await opened(pilot)
        await pilot.press("r")
        screen.composer.input.insert("my reply")
        await wait_until(pilot, lambda: screen.composer.base_entry_id > 0)
        await hd.tickets.add_customer_message(t.id, f"AGAIN{payload}\x1b]0;PWNED\x07")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, CollisionDialog))
        await pilot.pause()
        assert_clean_terminal(app)
        assert find(app, f"NAME{payload}") and find(app, f"AGAIN{payload}")
        for x, y in find(app, f"AGAIN{payload}") + find(app, f"NAME{payload}"):
            await pilot.click(offset=(x + 8, y))
        assert app.return_code is None and isinstance(app.screen, CollisionDialog)
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)
