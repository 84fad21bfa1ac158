"""Build the bytes of an outgoing reply, ready for the SMTP outbox.

Pure: the outbox stores what :func:`build_reply` returns and sends exactly
those bytes on every retry, so the Message-ID and everything else stay stable.
Replies thread in the customer's mail client (In-Reply-To, References, the
``[#123]`` tag chosen by the caller) and are recognisable when they come back
to one of our own mailboxes (``X-Helpdesk-Ticket``).
"""

from __future__ import annotations

import email.errors
import email.policy
import email.utils
import re
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Iterable, Sequence

from tui_helpdesk.domain.text import clean, one_line

__all__ = ["SIGNATURE_PLACEHOLDERS", "build_reply", "render_signature"]

_POLICY = email.policy.SMTP  # CRLF line ends, RFC 2047 for non-ASCII headers
_MSGID = re.compile(r"^<[^<>\s@]{1,400}@[^<>\s@]{1,253}>$")
_OUR_TICKET = re.compile(r"^<t([0-9]{1,18})\.o[0-9]{1,18}\.")
_AUTO_SUBMITTED = frozenset({"auto-replied", "auto-generated", "auto-notified"})
# RFC 5322 §3.6.4 lets References be trimmed; keep the root and the newest.
_MAX_REFERENCES = 20


def _address(addr: str, name: str | None = None, *, field: str) -> Address:
    addr = one_line(addr).strip().strip("<>")
    local, at, domain = addr.rpartition("@")
    if at and not domain.isascii():
        # Without SMTPUTF8 an internationalised domain travels as punycode.
        try:
            addr = f"{local}@{domain.encode('idna').decode('ascii')}"
        except UnicodeError as exc:
            raise ValueError(f"{field}: not a valid domain: {domain!r}") from exc
    try:
        return Address(display_name=one_line(name or ""), addr_spec=addr)
    except (ValueError, IndexError, TypeError, email.errors.HeaderParseError) as exc:
        raise ValueError(f"{field}: not a valid address: {addr!r}") from exc


def _addresses(values: str | Iterable[str] | None, *, field: str) -> list[Address]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    result: list[Address] = []
    seen: set[str] = set()
    for value in values:
        if not value or not value.strip():
            continue
        address = _address(value, field=field)
        key = address.addr_spec.lower()
        if key not in seen:
            seen.add(key)
            result.append(address)
    return result


def _msgid(value: str, *, field: str) -> str:
    value = one_line(value).strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    if not _MSGID.match(value):
        raise ValueError(f"{field}: not a Message-ID: {value!r}")
    return value


def _references(references: Sequence[str] | None, in_reply_to: str | None) -> list[str]:
    ids: list[str] = []
    for value in [*(references or ()), *([in_reply_to] if in_reply_to else [])]:
        try:
            msgid = _msgid(value, field="References")
        except ValueError:
            continue  # a customer's broken id must not stop our reply
        if msgid not in ids:
            ids.append(msgid)
    if len(ids) > _MAX_REFERENCES:
        ids = ids[:1] + ids[-(_MAX_REFERENCES - 1):]
    return ids


def _body_with_signature(body: str, signature: str | None) -> str:
    text = clean(body or "").rstrip()
    sig = clean(signature or "").strip("\n")
    if sig.strip():
        # "-- " on its own line lets mail clients recognise and fold the signature.
        if not sig.startswith("-- \n"):
            sig = "-- \n" + sig
        text = f"{text}\n\n{sig}" if text else sig
    return text + "\n"


def _transfer_encoding(text: str) -> str:
    if text.isascii() and all(len(line) <= 900 for line in text.split("\n")):
        return "7bit"
    # Quoted-printable keeps mostly-Latin text readable in the raw source and,
    # unlike 8bit, needs no 8BITMIME support from any server on the way.
    return "quoted-printable"


def build_reply(
    *,
    from_addr: str,
    from_name: str | None,
    to: str | Sequence[str],
    cc: Sequence[str] | None = None,
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None = None,
    references: Sequence[str] | None = None,
    signature: str | None = None,
    ticket_id: int | None = None,
    date: datetime | None = None,
    auto_submitted: str | None = None,
) -> bytes:
    """A complete RFC 5322 message (CRLF line ends) for one reply.

    *ticket_id* defaults to the one in our own *message_id*. Pass
    ``auto_submitted="auto-replied"`` for mail no person wrote (acknowledgements),
    so other systems' loop protection recognises it (RFC 3834 §5). Raises
    ``ValueError`` for an address or Message-ID that cannot be sent.
    """
    recipients = _addresses(to, field="To")
    if not recipients:
        raise ValueError("To: at least one recipient is needed")
    cc_list = [a for a in _addresses(cc, field="Cc")
               if a.addr_spec.lower() not in {r.addr_spec.lower() for r in recipients}]
    own_id = _msgid(message_id, field="Message-ID")
    if ticket_id is None:
        match = _OUR_TICKET.match(own_id)
        ticket_id = int(match.group(1)) if match else None

    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _address(from_addr, from_name, field="From")
    msg["To"] = recipients
    if cc_list:
        msg["Cc"] = cc_list
    msg["Subject"] = one_line(subject)
    when = date or datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = own_id
    parent = None
    if in_reply_to:
        try:
            parent = _msgid(in_reply_to, field="In-Reply-To")
        except ValueError:
            parent = None
    if parent:
        msg["In-Reply-To"] = parent
    refs = _references(references, parent)
    if refs:
        msg["References"] = " ".join(refs)
    if ticket_id is not None:
        msg["X-Helpdesk-Ticket"] = str(int(ticket_id))
    if auto_submitted:
        keyword = one_line(auto_submitted).lower()
        if keyword not in _AUTO_SUBMITTED:
            raise ValueError(f"Auto-Submitted: unknown keyword {keyword!r}")
        msg["Auto-Submitted"] = keyword
    # Ask Exchange-style servers not to answer us with out-of-office notes:
    # fewer machine replies for the loop protection to catch.
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"

    text = _body_with_signature(body, signature)
    msg.set_content(text, subtype="plain", charset="utf-8", cte=_transfer_encoding(text))
    return msg.as_bytes(policy=_POLICY)


# --------------------------------------------------------------------------

SIGNATURE_PLACEHOLDERS = ("agent_name", "agent_first_name", "agent_email", "desk_name")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,40})\s*\}\}|\{\s*([A-Za-z_][A-Za-z0-9_]{0,40})\s*\}")


def render_signature(template: str | None, agent_name: str | None, agent_email: str | None,
                     desk_name: str | None) -> str:
    """Fill ``{agent_name}``, ``{agent_first_name}``, ``{agent_email}`` and
    ``{desk_name}`` (``{{agent_name}}`` works too). Anything else in braces is
    left exactly as written; this never raises."""
    if not template:
        return ""
    name = one_line(agent_name or "")
    values = {
        "agent_name": name,
        "agent_first_name": name.split(" ", 1)[0] if name else "",
        "agent_email": one_line(agent_email or ""),
        "desk_name": one_line(desk_name or ""),
    }

    def fill(match: re.Match[str]) -> str:
        key = (match.group(1) or match.group(2)).lower()
        return values[key] if key in values else match.group(0)

    return clean(_PLACEHOLDER.sub(fill, str(template)))
