"""Shared fixtures: isolated XDG dirs, real databases (SQLite files and PostgreSQL),
the clock, the desk and the chatbot simulator.

Modules tune the last three with markers instead of redefining them:
``pytest.mark.clock(start)``, ``pytest.mark.desk(shape)`` (see tests/desks.py)
and ``pytest.mark.sim(seed=..., ...)``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tui_helpdesk.adapters.chatbot.sim import Simulator
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.settings import load

from . import chat_fixtures, desks
from .clock import Clock
from .servers import PostgresServer, require


def pytest_configure(config):
    for line in (
        "clock(start): the clock fixture starts at start (a naive-UTC datetime, or epoch seconds)",
        "desk(shape): the desk fixture's shape: template (default), team, ticket or chat (tests/desks.py)",
        "sim(seed=None, key=chat_fixtures.KEY, on_clock=False, **options): the sim fixture's Simulator; "
        "on_clock runs it on the clock fixture",
    ):
        config.addinivalue_line("markers", line)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the real home: XDG dirs point into a temp dir."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state")):
        (home / sub).mkdir()
        monkeypatch.setenv(var, str(home / sub))
    for var in ("HELPDESK_DB", "HELPDESK_CONFIG", "HELPDESK_AS"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def pg_server():
    require("postgres")
    with PostgresServer() as server:
        yield server


@pytest.fixture
def clock(request) -> Clock:
    """A settable clock, so lifecycle windows can be tested; ``pytest.mark.clock(start)`` sets its start."""
    marker = request.node.get_closest_marker("clock")
    return Clock(*marker.args) if marker else Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    server = request.getfixturevalue("pg_server")
    return server.url(server.create_database())


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"


@pytest.fixture
async def hd(db_url, clock):
    helpdesk = await bootstrap(load(database_url=db_url), clock=clock)
    yield helpdesk
    await helpdesk.close()


@pytest.fixture
async def me(hd):
    """The first agent (an admin), named after the OS login like in real use."""
    return await hd.agents.identify()


@pytest.fixture
async def team(hd, me):
    """Two more agents: alice and bob."""
    alice = await hd.agents.add(me, "alice", name="Alice Adams", email="alice@desk.example")
    bob = await hd.agents.add(me, "bob", name="Bob Brown", email="bob@desk.example")
    return {"me": me, "alice": alice, "bob": bob}


@pytest.fixture(scope="session")
def desk_template(tmp_path_factory) -> Path:
    """The small deterministic desk, built once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "desk.db"

    async def build():
        hd = await bootstrap(desks.make_settings(path), clock=desks.fixed_clock)
        try:
            await desks.fill_desk(hd)
        finally:
            await hd.close()

    asyncio.run(build())
    return path


# What each desk shape is built from; the desk fixture asks for no more, so a
# test that never uses the simulator or the template does not pay for them.
_DESK_NEEDS = {
    "template": ("desk_template",),
    "team": ("clock",),
    "ticket": ("clock",),
    "chat": ("sqlite_url", "sim", "clock"),
}


@pytest.fixture
def desk_parts(request) -> tuple[str, dict]:
    """The desk's shape (``pytest.mark.desk(shape)``, default template) and the fixtures it is built from.

    Looked up here, outside the event loop: an async fixture such as sim can only
    be set up from a synchronous one.
    """
    marker = request.node.get_closest_marker("desk")
    shape = marker.args[0] if marker else "template"
    if shape not in _DESK_NEEDS:
        raise ValueError(f"unknown desk shape {shape!r}")
    return shape, {name: request.getfixturevalue(name) for name in _DESK_NEEDS[shape]}


@pytest.fixture
async def desk(desk_parts, tmp_path, monkeypatch):
    """A fresh desk on a SQLite file under tmp_path, in the shape ``pytest.mark.desk(shape)`` names.

    template (the default): (hd, ana, ben) on a copy of desk_template, clock fixed;
    team: a Desk (hd, ann, bob, clock) on the clock fixture;
    ticket: (hd, ann, bob, ticket) on the clock fixture;
    chat: the Helpdesk, its chatbot the sim fixture, on the clock fixture.
    """
    shape, parts = desk_parts
    if shape == "template":
        hd, ana, ben = await desks.open_template(parts["desk_template"], tmp_path / "desk.db")
        yield hd, ana, ben
    elif shape == "chat":
        hd = await chat_fixtures.open_desk(parts["sqlite_url"], parts["sim"], parts["clock"])
        yield hd
    else:
        desks.isolate(monkeypatch, tmp_path)
        team = await desks.open_desk(tmp_path / "desk.db", parts["clock"])
        hd = team.hd
        if shape == "team":
            yield team
        else:
            ticket = await hd.tickets.create(subject="Refund", body="Where is my refund?",
                                             requester_email="cy@example.com", requester_name="Cy Young")
            yield hd, team.ann, team.bob, ticket
    await hd.close()


@pytest.fixture
async def sim(request):
    """The chatbot platform simulator on loopback, stopped after the test.

    ``pytest.mark.sim(...)`` gives Simulator's keyword arguments (seed, rate_limit, ...),
    the API key (default chat_fixtures.KEY) and on_clock=True to run it on the clock fixture.
    """
    marker = request.node.get_closest_marker("sim")
    options = dict(marker.kwargs) if marker else {}
    key = options.pop("key", chat_fixtures.KEY)
    if options.pop("on_clock", False):
        options["clock"] = request.getfixturevalue("clock")
    simulator = Simulator(key, **options)
    await simulator.start("127.0.0.1", 0)
    yield simulator
    await simulator.stop()


def pytest_report_header(config):
    return f"CI={os.environ.get('CI', '')}"
