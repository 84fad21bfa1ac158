"""The deliveries of a ticket's replies: its channel's outbox rows read, the domain rule applied.

:class:`DeliveryService` asks the mail outbox (email tickets) or the chat
outbox (live-chat tickets) for the ticket's rows through their public read
methods and hands them to :func:`tui_helpdesk.domain.delivery.ticket_deliveries`.
It is given the help desk's services (a :class:`~tui_helpdesk.bootstrap.Helpdesk`
will do) and touches a channel's outbox only when a ticket of that channel
asks, so opening an email ticket never builds the chat side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ..domain.delivery import Delivery, ticket_deliveries
from ..domain.model import Ticket, TicketType, TimelineEntry

if TYPE_CHECKING:
    from .chat_outbox import ChatOutbox
    from .outbox import OutboxService
    from .tickets import TicketService


class Channels(Protocol):
    """The services a delivery is read from (attributes, so they can be built on first use)."""

    @property
    def outbox(self) -> "OutboxService": ...

    @property
    def chat_outbox(self) -> "ChatOutbox": ...

    @property
    def tickets(self) -> "TicketService": ...


class DeliveryService:
    def __init__(self, channels: Channels):
        self.channels = channels

    async def for_ticket(self, ticket: Ticket,
                         entries: Sequence[TimelineEntry] | None = None) -> dict[int, Delivery]:
        """Reply entry id -> its delivery, for the replies among *entries* (default: the whole timeline).

        A screen that shows part of a long timeline passes the entries it
        shows, and is spared reading the rest.
        """
        if entries is None:
            entries = await self.channels.tickets.timeline(ticket.id)
        if ticket.type is TicketType.EMAIL:
            rows = await self.channels.outbox.for_ticket(ticket.id)
            return ticket_deliveries(ticket, entries, mail_rows=rows)
        if ticket.type is TicketType.LIVE_CHAT and ticket.conversation_id:
            rows = await self.channels.chat_outbox.pending(ticket.id)
            return ticket_deliveries(ticket, entries, chat_rows=rows)
        return {}

    async def of_reply(self, ticket: Ticket, entry: TimelineEntry) -> Delivery | None:
        """How far reply *entry* got; None on a ticket with no channel to the customer."""
        return (await self.for_ticket(ticket, [entry])).get(entry.id)
