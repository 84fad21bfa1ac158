"""The change feed as the screens hear it: one poll for the whole app, its news posted to every screen.

:class:`~tui_helpdesk.ui.app.HelpdeskApp` asks the help desk "what changed
since N" a few times a second and, when something did, posts
:class:`FeedChanged` to each screen on its stack (:func:`tell_screens`), so a
screen that follows a ticket refreshes without reading the feed itself.
"""

from __future__ import annotations

from textual.app import App
from textual.message import Message

from ..domain.model import Change


class FeedChanged(Message, bubble=False):
    """These changes were read from the feed (oldest first); *seq* is the feed's position after them."""

    def __init__(self, changes: list[Change], seq: int) -> None:
        super().__init__()
        self.changes = changes
        self.seq = seq


def tell_screens(app: App, changes: list[Change], seq: int) -> None:
    """Post the changes to every screen on the app's stack (each follows what it shows)."""
    for screen in app.screen_stack:
        screen.post_message(FeedChanged(changes, seq))
