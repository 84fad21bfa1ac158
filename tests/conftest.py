"""Shared fixtures: isolated XDG dirs, real databases (SQLite files and PostgreSQL)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.settings import load

from .servers import PostgresServer, require


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


class Clock:
    """A settable clock (naive UTC), so lifecycle windows can be tested."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime(2026, 11, 24, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


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


def pytest_report_header(config):
    return f"CI={os.environ.get('CI', '')}"
