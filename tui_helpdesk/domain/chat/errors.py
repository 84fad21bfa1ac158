"""Errors raised by the chatbot platform client.

Every failure of a call to the platform surfaces as a :class:`ChatbotError`;
no ``KeyError``, ``TypeError``, JSON or httpx exception escapes the client.
Messages are one line, name the request (method and path, never the host's
credentials or the API key) and may be shown to the user as they are.

``transient`` tells a caller whether trying again later may help: the client
has already retried those a few times before raising.
"""

from __future__ import annotations

from tui_helpdesk.domain import errors as domain_errors


class ChatbotError(domain_errors.HelpdeskError):
    """Base class of everything the chatbot client raises."""

    transient = False

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class Unavailable(ChatbotError):
    """The platform could not be reached, timed out or answered 5xx."""

    transient = True


class RateLimited(ChatbotError):
    """The platform answered 429 and kept doing so (or asked for a long wait).

    ``retry_after`` is the wait in seconds the platform asked for, if it said.
    """

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429,
                 code: str | None = None):
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class BadResponse(ChatbotError):
    """The platform answered something that does not follow the contract."""


class Unauthorized(ChatbotError):
    """The API key is missing, wrong, revoked or not allowed to do this (401/403)."""


class NotFound(ChatbotError, domain_errors.NotFound):
    """The conversation does not exist (404)."""


class Rejected(ChatbotError):
    """The platform refused the request (400, 409, 422, ...); ``code`` says why."""


class InvalidCursor(Rejected):
    """The change-feed cursor is not (or no longer) valid: start again without one."""
