"""Handing a live chat back to the chatbot: the ticket screen's "Allow AI replies".

:func:`allow_ai_replies` asks the platform to resume the bot and, only if
that worked, closes the ticket with an "AI resumed" event; otherwise the
agent is told and nothing changes::

    from .handback import allow_ai_replies
    ok = await allow_ai_replies(self.app, self.hd, self.me, ticket_id)

Apart from the Conversations view so that the ticket screen, which the view
opens, does not import the view back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import App

from ..domain.errors import HelpdeskError
from ..domain.model import Agent
from ..domain.text import one_line

if TYPE_CHECKING:
    from ..bootstrap import Helpdesk


def say(target, message: str, **kwargs) -> None:
    """A notification of one cleaned line, never parsed as markup (it may quote a customer or the platform)."""
    target.notify(one_line(message, 500), markup=False, **kwargs)


async def allow_ai_replies(app: App, hd: "Helpdesk", me: Agent, ticket_id: int) -> bool:
    """"Allow AI replies" on a live-chat ticket: resume the bot, then close the ticket.

    Tells the agent what happened through ``app.notify``; returns True when
    the bot was resumed and the ticket closed. When the platform call fails,
    nothing changes locally and the error is shown.
    """
    try:
        ticket = await hd.conversations.allow_ai_replies(ticket_id, me)
    except HelpdeskError as exc:
        say(app, f"Nothing changed: {exc}", severity="error", title="Allow AI replies")
        return False
    say(app, f"#{ticket.id} handed back to the chatbot and closed.", title="AI resumed")
    return True
