"""Helpers for the ticket-screen tests: a fresh SQLite desk, a harness app, waiting."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from textual import work
from textual.app import App

from tui_helpdesk.bootstrap import Helpdesk, bootstrap
from tui_helpdesk.domain.model import Agent
from tui_helpdesk.domain.text import one_line
from tui_helpdesk.settings import load
from tui_helpdesk.ui.feed import tell_screens
from tui_helpdesk.ui.ticket.screen import TicketScreen

START = datetime(2026, 3, 2, 9, 0, 0)
FEED_SECONDS = 0.4  # as often as the help desk app reads the change feed


class Clock:
    """A settable naive-UTC clock for the store."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Desk:
    hd: Helpdesk
    ann: Agent  # the agent at the keyboard
    bob: Agent  # a teammate in another terminal
    clock: Clock


def isolate(monkeypatch, root: Path) -> None:
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        path = root / var.lower()
        path.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(path))
    for var in ("HELPDESK_DB", "HELPDESK_CONFIG"):
        monkeypatch.delenv(var, raising=False)


async def open_desk(db: Path, clock: Clock | None = None) -> Desk:
    clock = clock or Clock()
    hd = await bootstrap(load(database_url=f"sqlite+aiosqlite:///{db}"), clock=clock)
    ann = await hd.agents.identify("ann")
    bob = await hd.agents.add(ann, "bob", name="Bob Brown")
    return Desk(hd, ann, bob, clock)


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
