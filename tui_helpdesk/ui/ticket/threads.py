"""Fixing threading from the ticket screen: split the message under the cursor off, merge into another ticket.

:class:`TicketThreads` is mixed into :class:`~tui_helpdesk.ui.ticket.screen.TicketScreen`.
``X`` (``ticket.split``) splits the customer message under the cursor off into
a new ticket after a yes/no; ``M`` (``ticket.merge``) lists the requester's
other tickets and merges this one into the one picked (this one closes, with
a link). Both go through :class:`~tui_helpdesk.services.threads.ThreadService`;
the change feed brings every other terminal along.
"""

from __future__ import annotations

from rich.text import Text
from textual import work

from ...domain.errors import HelpdeskError
from ...domain.model import EntryKind
from ..dialogs import Choice, ConfirmDialog, Picker
from ..text import line


class TicketThreads:
    """Split and merge on the ticket screen (a mixin of the ticket screen)."""

    def action_split(self) -> None:
        entry = self.timeline.current_entry
        if entry is None or entry.kind is not EntryKind.MESSAGE:
            self._say("Put the cursor on a customer message to split it off (j/k move between entries)")
            return
        if isinstance(entry.meta, dict) and entry.meta.get("split_to"):
            self._say(f"This message was already split off into #{entry.meta['split_to']}")
            return
        self._split(entry)

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _split(self, entry) -> None:
        body = Text("From ", end="") + line(entry.author, 80) + Text(": ", end="") + line(entry.body, 120)
        body.append("\nIt becomes the first message of a new ticket; it stays here, marked, for the record.")
        if not await self.app.push_screen_wait(ConfirmDialog("Split this message off into a new ticket?", body,
                                                             "Split it off")):
            return
        try:
            new_id = await self.hd.threads.split(entry.id, actor=self.me)
        except HelpdeskError as exc:
            self._say(str(exc), "error")
            return
        await self._refresh_quietly()
        self._say(f"The message is ticket #{new_id} now")

    def action_merge(self) -> None:
        if self.ticket is not None:
            self._merge()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _merge(self) -> None:
        ticket = self.ticket
        others = [t for t in await self.hd.tickets.previous_tickets(ticket, limit=50)]
        if not others:
            self._say("The requester has no other ticket to merge this one into")
            return
        choices = [Choice(Text(f"#{t.id} ", style="bold", end="") + Text(f"{t.status.label:<12}", end="")
                          + line(t.subject, 80), t.id, f"{t.id} {t.subject}") for t in others]
        into = await self.app.push_screen_wait(Picker(f"Merge #{ticket.id} into…", choices, filterable=True))
        if into is None:
            return
        try:
            await self.hd.threads.merge(ticket.id, into, actor=self.me)
        except HelpdeskError as exc:
            self._say(str(exc), "error")
            return
        await self._refresh_quietly()
        self._say(f"#{ticket.id} was merged into #{into} and closed")
