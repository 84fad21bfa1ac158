"""What crosses the mail edges: the values and errors of reading (IMAP) and sending (SMTP).

The services talk to a mailbox through :class:`~tui_helpdesk.services.ports.MailReader`
and to a mail server through :class:`~tui_helpdesk.services.ports.MailSender`; the
data those ports take and give, and the errors they raise, are defined here so
neither the services nor the adapters own them. Plain values, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import HelpdeskError

if TYPE_CHECKING:
    from .loops import Classification
    from .message import ParsedMessage

__all__ = [
    "FAILED",
    "RETRY",
    "SENT",
    "UNKNOWN",
    "ConnectionLost",
    "Fetched",
    "ImapError",
    "Incoming",
    "MailboxStatus",
    "RecipientResult",
    "SmtpError",
]


# ------------------------------------------------------------------ reading


class ImapError(HelpdeskError):
    """The IMAP server refused something (login, a mailbox); retrying may help later."""


class ConnectionLost(ImapError):
    """The connection is gone (BYE, reset, timeout): reconnect with backoff."""


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    uidvalidity: int
    uidnext: int | None
    exists: int
    idle: bool
    move: bool


@dataclass(frozen=True, slots=True)
class Fetched:
    uid: int
    raw: bytes
    internaldate: datetime | None
    seen: bool = False  # flagged \\Seen on the server before we fetched it (read by someone)


@dataclass(slots=True)
class Incoming:
    """One fetched message, parsed and classified, ready for the database."""

    uid: int
    raw: bytes
    internaldate: datetime | None
    parsed: ParsedMessage
    kind: Classification
    sha256: str
    content_sha: str = ""  # see fingerprint.content_fingerprint: equal for copies of one message
    seen: bool = False  # read on the server before the desk fetched it
    # History: in the mailbox before the desk first synced it, or already read. Imported
    # quietly (no acknowledgement, no routing).
    history: bool = False


# ------------------------------------------------------------------ sending

# What became of one recipient of one message (see adapters.mail.smtp for when each applies).
SENT = "sent"
RETRY = "retry"
FAILED = "failed"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RecipientResult:
    address: str
    state: str
    code: int | None = None
    text: str = ""

    def as_dict(self) -> dict:
        return {"state": self.state, "code": self.code, "text": self.text}


class SmtpError(Exception):
    """A configuration problem that no retry will fix (no host, clear text to a remote host)."""
