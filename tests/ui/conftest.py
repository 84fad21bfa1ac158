"""Fixtures for the terminal UI: a fresh SQLite desk per test, nothing under $HOME.

``desk`` gives a bootstrapped :class:`Helpdesk` on a file under ``tmp_path``
with a fixed clock, the agents ana (admin, "me") and ben, and a handful of
deterministic tickets. ``make_app`` builds the app on it; ``settle`` waits for
the app's workers and a condition.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ui_support import copy_db, db_url, fill_desk, fixed_clock, make_settings

from tui_helpdesk import settings as settings_mod
from tui_helpdesk.bootstrap import bootstrap

@pytest.fixture(autouse=True)
def xdg(tmp_path, monkeypatch):
    """Point every XDG directory into the test's tmp dir; no config or DB from the environment."""
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = tmp_path / "xdg" / var.lower()
        path.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(path))
    for var in ("HELPDESK_CONFIG", "HELPDESK_DB", "HELPDESK_AS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "xdg"


@pytest.fixture(scope="session")
def desk_template(tmp_path_factory) -> Path:
    """The small deterministic desk, built once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "desk.db"

    async def build():
        hd = await bootstrap(make_settings(path), clock=fixed_clock)
        try:
            await fill_desk(hd)
        finally:
            await hd.close()

    asyncio.run(build())
    return path


@pytest.fixture
async def desk(tmp_path, desk_template):
    """(hd, ana, ben) on a fresh copy of the template database, with a fixed clock."""
    path = copy_db(desk_template, tmp_path / "desk.db")
    hd = await bootstrap(make_settings(path), clock=fixed_clock)
    ana, ben = await hd.agents.get("ana"), await hd.agents.get("ben")
    yield hd, ana, ben
    await hd.close()


@pytest.fixture
def make_app():
    from tui_helpdesk.ui.app import HelpdeskApp

    def build(hd, me, **kwargs) -> HelpdeskApp:
        kwargs.setdefault("clock", fixed_clock)
        kwargs.setdefault("poll_seconds", 0.1)
        return HelpdeskApp(hd=hd, me=me, **kwargs)

    return build


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """The demo database, built once per session through ``ui.demo.build_demo``."""
    from tui_helpdesk.ui.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    settings = settings_mod.Settings(database_url=db_url(path))
    asyncio.run(build_demo(path, settings, quiet=True))
    return path


