"""Errors a user can act on. Each message is one clear line, never a traceback."""

from __future__ import annotations


class HelpdeskError(Exception):
    """Base class: the message is shown to the user as it is."""

    exit_code = 1


class UsageError(HelpdeskError):
    """The user asked for something malformed (bad status, bad query...)."""

    exit_code = 2


class NotFound(HelpdeskError):
    pass


class PermissionDenied(HelpdeskError):
    pass


class LimitReached(HelpdeskError):
    pass


class ConflictError(HelpdeskError):
    """A write lost an optimistic-concurrency race."""

    def __init__(self, ticket_id: int, changed_by: str | None):
        who = changed_by or "someone else"
        super().__init__(f"ticket #{ticket_id} was changed by {who} meanwhile; reload and try again")
        self.ticket_id = ticket_id
        self.changed_by = changed_by


class CannotDeliver(HelpdeskError):
    """A reply refused because the ticket's only channel to the customer cannot carry it.

    Nothing is written: the agent may keep the text as an internal note instead.
    """

    def __init__(self, ticket_id: int, reason: str):
        super().__init__(f"reply not sent on #{ticket_id}: {reason}")
        self.ticket_id = ticket_id
        self.reason = reason


class QueryError(UsageError):
    """A typed query could not be parsed; points at the bad token."""

    def __init__(self, message: str, query: str, start: int, end: int):
        self.query = query
        self.start = start
        self.end = end
        self.reason = message
        pointer = " " * start + "^" * max(1, end - start)
        super().__init__(f"{message} at column {start + 1}\n  {query}\n  {pointer}")


class UnsafeDatabase(HelpdeskError):
    """The database file or its directory is readable or writable by everyone."""


class ConfigError(HelpdeskError):
    pass
