"""Fixtures for the terminal UI: nothing under $HOME, the app, the demo database.

``desk`` (tests/conftest.py) gives, by default, a bootstrapped :class:`Helpdesk`
on a file under ``tmp_path`` with a fixed clock, the agents ana (admin, "me")
and ben, and a handful of deterministic tickets. ``make_app`` builds the app on
it; ``settle`` (ui_support) waits for the app's workers and a condition.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.desks import db_url, fixed_clock
from tui_helpdesk import settings as settings_mod

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
    """The demo database, built once per session through ``cli.demo.build_demo``."""
    from tui_helpdesk.cli.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    settings = settings_mod.Settings(database_url=db_url(path))
    asyncio.run(build_demo(path, settings, quiet=True))
    return path


