"""Helpers for the ticket-screen tests: a harness app, waiting, reading the screen.

The desk itself (ann, bob and a settable clock) comes from tests/desks.py.
"""

from __future__ import annotations

import asyncio
import time

from textual import work
from textual.app import App

from tui_helpdesk.bootstrap import Helpdesk
from tui_helpdesk.domain.model import Agent
from tui_helpdesk.domain.text import one_line
from tui_helpdesk.ui.feed import tell_screens
from tui_helpdesk.ui.ticket.screen import TicketScreen

FEED_SECONDS = 0.4  # as often as the help desk app reads the change feed


class StrictApp(App):
    """An app whose ``notify`` takes what a real terminal takes, and keeps a copy.

    Textual turns the message into ``Content``, which needs a ``str``: a
    ``rich.text.Text`` passes Pilot's headless run but crashes a real terminal
    (``'Text' object has no attribute 'translate'``). Every notification of the
    ticket screen must be a plain, cleaned ``str`` with ``markup=False``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []

    def notify(self, message, *, title: str = "", severity="information", timeout=None, markup: bool = True) -> None:
        assert type(message) is str, f"notify() got {type(message).__name__}, not str: {message!r}"
        assert markup is False, f"notify() with markup: {message!r}"
        assert message == one_line(message), f"notify() with uncleaned text: {message!r}"
        self.notes.append(message)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)


class TicketHarness(StrictApp):
    """The smallest app that shows a ticket screen."""

    def __init__(self, hd: Helpdesk, me: Agent, ticket_id: int):
        super().__init__()
        self.hd = hd
        self.me = me
        self.ticket_id = ticket_id

    def on_mount(self) -> None:
        self.push_screen(TicketScreen(self.hd, self.me, self.ticket_id))
        self.follow_feed()

    @work(group="feed", exit_on_error=False)
    async def follow_feed(self) -> None:
        """What the help desk app does for its screens: read the change feed, tell the screens."""
        seq = await self.hd.feed.latest()
        while True:
            await asyncio.sleep(FEED_SECONDS)
            changes, seq = await self.hd.feed.since(seq)
            if changes:
                tell_screens(self, changes, seq)


async def wait_until(pilot, predicate, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def opened(pilot) -> TicketScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, TicketScreen) and pilot.app.screen.loaded,
                     what="the ticket to load")
    return pilot.app.screen


def screen_text(app: App) -> str:
    """What the terminal shows, as plain text lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


def screen_segments(app: App):
    for strip in app.screen._compositor.render_strips():
        yield from strip
