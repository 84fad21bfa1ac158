"""Desks for the tests: a fresh help desk on a SQLite file, with agents in it.

The one ``desk`` fixture (tests/conftest.py) opens these; a test module picks
the shape with ``pytest.mark.desk(shape)``:

- ``template`` (the default): ana (admin) and ben with twelve tickets in every
  status, channel and type, copied from a database built once per session
  because the UI tests need it hundreds of times; the clock is fixed at NOW;
- ``team``: ann (admin, at the keyboard) and bob on an empty desk, as a Desk;
- ``ticket``: the team plus one ticket, as (hd, ann, bob, ticket);
- ``chat``: an empty desk whose chatbot is the ``sim`` fixture (see
  tests/chat_fixtures.py).

Nothing here imports textual, so non-UI tests can use every shape.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from tui_helpdesk import settings as settings_mod
from tui_helpdesk.bootstrap import Helpdesk, bootstrap
from tui_helpdesk.domain.model import Agent, Status, TicketType
from tui_helpdesk.settings import load

from .clock import Clock

# The template desk's "now": its tickets were made in the sixty hours before it.
NOW = datetime(2026, 3, 2, 12, 0, 0)
# Where a team desk's clock starts unless the test brings its own.
START = datetime(2026, 3, 2, 9, 0, 0)


def fixed_clock() -> datetime:
    return NOW


def db_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def make_settings(path: Path, **changes) -> settings_mod.Settings:
    return replace(settings_mod.load(None, database_url=db_url(path)), **changes)


async def fill_desk(hd, *, tickets: int = 12):
    """ana (admin, first) and ben; *tickets* tickets in every status, channel and type."""
    ana = await hd.agents.identify("ana")
    ben = await hd.agents.add(ana, "ben", name="Ben Okafor", email="ben@example.com")
    await hd.agents.set(ana, "ana", name="Ana Lima")
    ana = await hd.agents.get("ana")
    channels = [("email", TicketType.EMAIL), ("web", TicketType.LIVE_CHAT), ("whatsapp", TicketType.LIVE_CHAT),
                ("messenger", TicketType.LIVE_CHAT), ("api", TicketType.API)]
    statuses = list(Status)
    real_clock = hd.store.clock
    try:
        for i in range(tickets):
            channel, ttype = channels[i % len(channels)]
            at = NOW - timedelta(hours=5 * (tickets - i))
            # Each ticket's later changes happen an hour after it was created.
            hd.store.clock = lambda at=at: at + timedelta(hours=1)
            ticket = await hd.tickets.create(
                subject=f"Order {1000 + i} question", body=f"Hello, this is message {i} about order {1000 + i}.",
                requester_email=f"customer{i}@example.com", requester_name=f"Customer {i:02d}", channel=channel,
                type=ttype, at=at, chatbot_user_id=f"u{i}" if ttype is TicketType.LIVE_CHAT else None,
                tags=["billing"] if i % 4 == 0 else (),
            )
            status = statuses[i % len(statuses)]
            if i % 3 == 0:
                await hd.tickets.assign(ticket.id, "ana", actor=ana)
            elif i % 3 == 1:
                await hd.tickets.assign(ticket.id, "ben", actor=ana)
            if status is Status.ON_CUSTOMER:
                await hd.tickets.reply(ticket.id, f"Thanks, order {1000 + i} ships tomorrow.", actor=ana)
            elif status is not Status.NEW:
                await hd.tickets.set_status(ticket.id, status, actor=ana)
    finally:
        hd.store.clock = real_clock
    return ana, ben


def copy_db(src: Path, dest: Path) -> Path:
    """Copy a closed SQLite database (and its WAL, if one was left) to *dest*."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{src}{suffix}")
        if extra.exists():
            shutil.copy2(extra, Path(f"{dest}{suffix}"))
    return dest


async def open_template(template: Path, dest: Path) -> tuple[Helpdesk, Agent, Agent]:
    """(hd, ana, ben) on a fresh copy of the template database, with the fixed clock."""
    path = copy_db(template, dest)
    hd = await bootstrap(make_settings(path), clock=fixed_clock)
    ana, ben = await hd.agents.get("ana"), await hd.agents.get("ben")
    return hd, ana, ben


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
    clock = clock or Clock(START)
    hd = await bootstrap(load(database_url=f"sqlite+aiosqlite:///{db}"), clock=clock)
    ann = await hd.agents.identify("ann")
    bob = await hd.agents.add(ann, "bob", name="Bob Brown")
    return Desk(hd, ann, bob, clock)
