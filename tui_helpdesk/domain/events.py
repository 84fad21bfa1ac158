"""Domain events: what happened to a ticket, told to whoever cares beyond the use case.

A use case (a reply, a new ticket from mail, an escalated chat) records these;
handlers registered once at start-up carry the effects that cross use cases:
queueing a reply in its channel's outbox, routing a new ticket to an agent.
Plain frozen values, no I/O; the bus that delivers them is
:class:`tui_helpdesk.services.events.EventBus`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Agent, Status, Ticket, TimelineEntry

__all__ = [
    "AssigneeChanged",
    "CustomerMessageAdded",
    "DomainEvent",
    "ReplyAdded",
    "StatusChanged",
    "TicketCreated",
]


@dataclass(frozen=True, slots=True)
class TicketCreated:
    """A ticket was opened.

    *source* says how: ``create`` (by hand, the API, the CLI), ``follow_up``
    (a customer wrote after the reopen window), ``mail``, ``escalation`` (the
    chatbot handed over) or ``takeover`` (an agent took a chat over, so the
    ticket is theirs already).
    """

    ticket_id: int
    desk_id: int
    source: str


@dataclass(frozen=True, slots=True)
class CustomerMessageAdded:
    """A customer's message landed on an existing ticket."""

    ticket_id: int
    entry_id: int


@dataclass(frozen=True, slots=True)
class ReplyAdded:
    """An agent replied to the customer; *ticket* is as it was before the reply."""

    ticket: Ticket
    entry: TimelineEntry
    actor: Agent


@dataclass(frozen=True, slots=True)
class StatusChanged:
    ticket_id: int
    old: Status
    new: Status
    actor_id: int | None  # None: the system (a customer message, the lifecycle)


@dataclass(frozen=True, slots=True)
class AssigneeChanged:
    ticket_id: int
    old: int | None  # agent ids; None: unassigned
    new: int | None
    actor_id: int | None  # None: automatic routing


DomainEvent = TicketCreated | CustomerMessageAdded | ReplyAdded | StatusChanged | AssigneeChanged
