"""Quiet events (an acknowledgement held back by loop protection) read dim, not like an alarm."""

from __future__ import annotations

from datetime import datetime

from tui_helpdesk.domain.model import EntryKind, TimelineEntry
from tui_helpdesk.ui.widgets.entry_text import entry_texts

AT = datetime(2026, 11, 20, 9, 0)


def event(body: str, **meta) -> TimelineEntry:
    return TimelineEntry(id=1, ticket_id=7, kind=EntryKind.EVENT, body=body, created_at=AT, author="system",
                         meta=meta)


def test_a_quiet_event_is_dim_and_others_are_not():
    quiet = entry_texts(event("Automatic acknowledgement to a@example.com not sent: loop protection",
                              event="delivery_suppressed", quiet=True), AT).main
    assert quiet.style == "dim" and "loop protection" in quiet.plain
    loud = entry_texts(event("Reply not delivered to a@example.com: no such user", event="delivery_failed"), AT).main
    assert loud.style != "dim"
