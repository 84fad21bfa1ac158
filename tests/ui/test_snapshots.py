"""Snapshots (pytest-textual-snapshot) of the inbox, the filter builder, the help screen, and at 80x24
the inbox, the save-view dialog and the ticket screen.

Deterministic: a fixed clock for the store and the table, the same tickets
every run, no feed watcher. Update with ``pytest tests/ui --snapshot-update``
after a deliberate change, and look at the SVGs in the report before committing.
"""

from __future__ import annotations


import pytest
from tests.desks import copy_db, fixed_clock, make_settings

from tui_helpdesk.ui.app import HelpdeskApp


@pytest.fixture
def snapshot_app(tmp_path, desk_template):
    path = copy_db(desk_template, tmp_path / "snap.db")

    def build(**kwargs) -> HelpdeskApp:
        return HelpdeskApp(make_settings(path), login="ana", clock=fixed_clock, watch=False, **kwargs)

    return build


async def _ready(pilot) -> None:
    app = pilot.app
    for _ in range(300):
        await pilot.pause(0.02)
        inbox = getattr(app, "inbox", None)
        if inbox is not None and inbox.loaded and not any(w.is_running for w in app.workers):
            break
    await pilot.pause(0.1)


def test_inbox_snapshot(snap_compare, snapshot_app):
    assert snap_compare(snapshot_app(), terminal_size=(130, 32), run_before=_ready)


def test_inbox_snapshot_80x24(snap_compare, snapshot_app):
    async def all_view(pilot):
        await _ready(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await _ready(pilot)

    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=all_view)


def test_save_view_dialog_snapshot_80x24(snap_compare, snapshot_app):
    """At 80x24 the dialog's fields and both buttons are on screen."""
    async def save_view(pilot):
        await _ready(pilot)
        pilot.app.inbox.set_filter("status:on_you refund")
        await _ready(pilot)
        await pilot.press("S")
        await pilot.pause(0.3)

    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=save_view)


def test_ticket_screen_snapshot_80x24(snap_compare, snapshot_app):
    async def ticket(pilot):
        await _ready(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket", "enter")
        for _ in range(200):
            await pilot.pause(0.02)
            if getattr(pilot.app.screen, "loaded", False) and not any(w.is_running for w in pilot.app.workers):
                break
        await pilot.pause(0.2)

    assert snap_compare(snapshot_app(), terminal_size=(80, 24), run_before=ticket)


def test_filter_builder_snapshot(snap_compare, snapshot_app):
    async def builder(pilot):
        await _ready(pilot)
        pilot.app.inbox.set_filter("status:new,on_you -channel:api created:<7d tag:~bill")
        await _ready(pilot)
        await pilot.press("F")
        await pilot.pause(0.3)

    assert snap_compare(snapshot_app(), terminal_size=(120, 36), run_before=builder)


def test_help_snapshot(snap_compare, snapshot_app):
    async def help_screen(pilot):
        await _ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.3)

    assert snap_compare(snapshot_app(), terminal_size=(100, 60), run_before=help_screen)
