"""Ticket lifecycle (SPEC §2): how status moves on its own and by hand.

Pure functions over statuses and times; the services call them inside the
write transaction so the decision is made on the row as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .model import ACTIVE_STATUSES, CLOSED_STATUSES, Status

DEFAULT_REOPEN_DAYS = 7


@dataclass(frozen=True, slots=True)
class CustomerMessageOutcome:
    """What a customer message does to a ticket.

    Either the ticket's status moves to ``new_status`` (``None`` = unchanged),
    or — past the reopen window of a closed ticket — a linked follow-up ticket
    must be created instead (``follow_up=True``).
    """

    new_status: Status | None
    follow_up: bool = False
    reopened: bool = False


def after_agent_reply(status: Status) -> Status | None:
    """An agent reply moves New / On you to On customer; nothing else moves."""
    if status in (Status.NEW, Status.ON_YOU):
        return Status.ON_CUSTOMER
    return None


def after_customer_message(
    status: Status,
    *,
    closed_at: datetime | None,
    now: datetime,
    reopen_days: int = DEFAULT_REOPEN_DAYS,
) -> CustomerMessageOutcome:
    """A customer message moves On customer / On hold / New to On you.

    On a Closed or Cancelled ticket it reopens the ticket as On you within the
    reopen window; after the window it asks for a follow-up ticket.
    """
    if status in CLOSED_STATUSES:
        closed = closed_at or now
        if now - closed <= timedelta(days=reopen_days):
            return CustomerMessageOutcome(Status.ON_YOU, reopened=True)
        return CustomerMessageOutcome(None, follow_up=True)
    if status in (Status.ON_CUSTOMER, Status.ON_HOLD, Status.NEW):
        return CustomerMessageOutcome(Status.ON_YOU)
    return CustomerMessageOutcome(None)


def after_note(status: Status) -> Status | None:
    """Notes never change status."""
    return None


def status_event_text(old: Status, new: Status, *, by: str | None, reason: str | None) -> str:
    """The one-line timeline event for a status change, saying who and why."""
    who = f"by {by}" if by else "automatically"
    why = f" ({reason})" if reason else ""
    return f"Status {old.label} → {new.label} {who}{why}"


def is_active(status: Status) -> bool:
    return status in ACTIVE_STATUSES
