"""Signed Message-IDs and subject tags: how a reply finds its ticket safely.

Our outgoing Message-IDs carry the ticket and outbox ids plus an HMAC over both,
so a reply whose In-Reply-To/References contains one of them can be threaded
without trusting anything else in it: a stranger cannot forge an id for a
ticket they have never received mail from. The ``[#123]`` subject tag is only a
hint, for replies from clients that drop those headers; the caller must check
that the sender is a known participant before using it (SPEC §6).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Iterable, NamedTuple

from tui_helpdesk.domain.text import one_line

__all__ = [
    "MessageIdInfo",
    "find_subject_tag",
    "make_message_id",
    "parse_message_id",
    "reply_subject",
    "subject_tag",
    "ticket_from_headers",
    "verify_message_id",
]

_MAC_LEN = 10
_MAX_ID = 10**18  # ids are database integers; longer digit strings are noise
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?$")
# Canonical numbers only (no leading zeros), so one id has exactly one spelling.
_OUR_ID = re.compile(
    r"^<?t(0|[1-9][0-9]{0,17})\.o(0|[1-9][0-9]{0,17})\.([a-z2-7]{%d})@([^<>@\s]{1,253})>?$" % _MAC_LEN,
    re.IGNORECASE,
)
_TAG = re.compile(r"\[#([1-9][0-9]{0,17})\]")
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|antwort|rif|odp|atb|res|回复|答复|返信)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)


class MessageIdInfo(NamedTuple):
    ticket_id: int
    outbox_id: int


def _mac(ticket_id: int, outbox_id: int, secret: bytes) -> str:
    digest = hmac.new(secret, f"t{ticket_id}.o{outbox_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:_MAC_LEN]


def _check_id(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_ID:
        raise ValueError(f"{name} must be an integer between 0 and 10**18, got {value!r}")
    return value


def make_message_id(ticket_id: int, outbox_id: int, secret: bytes, domain: str) -> str:
    """``<t123.o456.<mac>@domain>``; the same arguments always give the same id,
    so a retried send keeps its Message-ID."""
    _check_id(ticket_id, "ticket_id")
    _check_id(outbox_id, "outbox_id")
    if not isinstance(secret, bytes | bytearray) or not secret:
        raise ValueError("secret must be non-empty bytes (32 random bytes recommended)")
    if isinstance(domain, str) and not domain.isascii():
        # A desk address on an internationalised domain: ids must be ASCII.
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"not a usable Message-ID domain: {domain!r}") from exc
    if not isinstance(domain, str) or not _DOMAIN.match(domain):
        raise ValueError(f"not a usable Message-ID domain: {domain!r}")
    return f"<t{ticket_id}.o{outbox_id}.{_mac(ticket_id, outbox_id, bytes(secret))}@{domain.lower()}>"


def parse_message_id(msgid: object, secret: bytes) -> MessageIdInfo | None:
    """Ticket and outbox id of one of our own Message-IDs, None unless the HMAC
    matches. Never raises."""
    if not isinstance(msgid, str) or not isinstance(secret, bytes | bytearray) or not secret:
        return None
    match = _OUR_ID.match(msgid.strip())
    if match is None:
        return None
    ticket_id, outbox_id = int(match.group(1)), int(match.group(2))
    expected = _mac(ticket_id, outbox_id, bytes(secret))
    if not hmac.compare_digest(expected.encode(), match.group(3).lower().encode()):
        return None
    return MessageIdInfo(ticket_id, outbox_id)


def verify_message_id(msgid: object, secret: bytes) -> int | None:
    """The ticket id of one of our own Message-IDs, or None if it is not
    ours or has been tampered with."""
    info = parse_message_id(msgid, secret)
    return info.ticket_id if info else None


def ticket_from_headers(in_reply_to: str | None, references: Iterable[str], secret: bytes) -> int | None:
    """First verified ticket id from In-Reply-To, then References newest first."""
    candidates = [in_reply_to] if in_reply_to else []
    candidates.extend(reversed(list(references)))
    for msgid in candidates:
        ticket_id = verify_message_id(msgid, secret)
        if ticket_id is not None:
            return ticket_id
    return None


def subject_tag(ticket_id: int) -> str:
    return f"[#{_check_id(ticket_id, 'ticket_id')}]"


def find_subject_tag(subject: object) -> int | None:
    """The ticket number of the first ``[#123]`` tag in *subject*, or None.

    Only a hint: never thread on it without checking who sent the mail.
    """
    if not isinstance(subject, str):
        return None
    match = _TAG.search(subject)
    return int(match.group(1)) if match else None


def reply_subject(subject: str | None, ticket_id: int) -> str:
    """``Re: <subject> [#123]``: one "Re: " however many the thread piled up
    (including localised ones such as "AW:" and "SV:"), and the tag once."""
    tag = subject_tag(ticket_id)
    text = one_line(subject or "")
    text = _REPLY_PREFIX.sub("", text).strip()
    if tag not in text:
        text = f"{text} {tag}" if text else tag
    return f"Re: {text}"
