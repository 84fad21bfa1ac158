"""Tell people from machines, so mail never answers mail forever.

:func:`classify` sorts an inbound message into ``human``, ``auto_reply``,
``bounce`` or ``list`` from RFC 3834 and the common de-facto headers, and for
bounces digs out which of our messages failed and for whom, so the outbox can
mark that delivery failed instead of the desk answering the bounce.
:class:`ReplyRateLimiter` is the last line of defence for what slips through:
two auto-responders that do not mark their mail still stop after a few rounds.

Everything here is pure: no clock, no I/O; the caller passes ``now``.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.parser import BytesParser
import email.policy

from tui_helpdesk.domain.mail.charset import decode_bytes
from tui_helpdesk.domain.mail.headers import decode_header_value
from tui_helpdesk.domain.mail.message import ParsedMessage, parse_message
from tui_helpdesk.domain.text import one_line

__all__ = [
    "BounceRecipient",
    "Classification",
    "HUMAN",
    "AUTO_REPLY",
    "BOUNCE",
    "LIST",
    "ReplyRateLimiter",
    "classify",
]

HUMAN = "human"
AUTO_REPLY = "auto_reply"
BOUNCE = "bounce"
LIST = "list"


@dataclass(frozen=True)
class BounceRecipient:
    """One recipient a delivery report is about."""

    address: str
    action: str = "failed"  # failed | delayed | delivered | relayed | expanded (RFC 3464)
    status: str = ""  # enhanced status code such as "5.1.1", "" when unknown
    diagnostic: str = ""

    @property
    def failed(self) -> bool:
        """Delivery has been given up (the outbox should mark it failed)."""
        if self.action:
            return self.action == "failed"
        return self.status.startswith("5")

    @property
    def permanent(self) -> bool:
        """Failed for a reason that retrying will not fix."""
        return self.failed and not self.status.startswith("4")


@dataclass(frozen=True)
class Classification:
    kind: str
    reason: str
    original_message_id: str | None = None
    recipients: tuple[BounceRecipient, ...] = ()

    @property
    def is_human(self) -> bool:
        return self.kind == HUMAN

    @property
    def may_auto_reply(self) -> bool:
        """Only mail from a person may ever get an automatic answer (RFC 3834 §2)."""
        return self.kind == HUMAN

    @property
    def failed_recipients(self) -> tuple[BounceRecipient, ...]:
        return tuple(r for r in self.recipients if r.failed)


# --------------------------------------------------------------------------

_DAEMON_LOCALPARTS = frozenset({
    "mailer-daemon", "mailerdaemon", "mail-daemon", "maildaemon", "mail.daemon", "mdaemon",
})
# A postmaster is sometimes a person: only a bounce with other evidence.
_POSTMASTER_LOCALPARTS = frozenset({"postmaster"})
_NULL_PATH = re.compile(r"^\s*<\s*>\s*$")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status )?notification|delivery fail|delivery problem"
    r"|returned mail|failure notice|mail delivery failed|could not be delivered|non remis|nicht zustellbar"
    r"|unzustellbar|non recapitabile|no se puede entregar|delayed mail|delivery delayed",
    re.I,
)
_DELAY = re.compile(r"delay|still being retried|will be retried|will retry|warning|verzögert|retardé", re.I)
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?reply|autoreply|auto[ -]?response|out of (?:the )?office|abwesenheitsnotiz"
    r"|automatische antwort|réponse automatique|respuesta automática|risposta automatica|autosvar"
    r"|automatisch antwoord|automatická odpověď|odpowiedź automatyczna|автоответ)\b",
    re.I,
)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_ADDRESS = re.compile(r"[A-Za-z0-9._%+\-=]{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,63}")
_HEADER_MSGID = re.compile(r"^[ \t>]*(?:original-)?message-id[ \t]*:[ \t]*(<[^<>\s]{1,900}>)", re.I | re.M)
_EMBEDDED_TYPES = frozenset({
    "message/rfc822", "message/global", "text/rfc822-headers",
    "message/rfc822-headers", "message/global-headers",
})
_HEADERS_PARSER = BytesParser(policy=email.policy.compat32)


def _local_part(addr: str | None) -> str:
    if not addr:
        return ""
    addr = addr.strip().strip("<>").lower()
    return addr.rsplit("@", 1)[0] if "@" in addr else addr


def _as_parsed(message: ParsedMessage | Message | bytes | bytearray) -> ParsedMessage:
    if isinstance(message, ParsedMessage):
        return message
    if isinstance(message, bytes | bytearray | memoryview):
        return parse_message(bytes(message))
    if isinstance(message, Message):
        try:
            raw = message.as_bytes()
        except Exception:  # noqa: BLE001 - the generator can fail on broken trees
            try:
                raw = message.as_string().encode("utf-8", "surrogateescape")
            except Exception:  # noqa: BLE001
                raw = b""
        return parse_message(raw)
    raise TypeError(f"cannot classify {type(message).__name__}")


def _embedded_message_id(data: bytes) -> str | None:
    """Message-ID of an enclosed message or header block."""
    try:
        headers = _HEADERS_PARSER.parsebytes(data[:200_000], headersonly=True)
        for name, value in headers.raw_items():
            if name.lower() == "message-id":
                match = re.search(r"<[^<>\s]{1,900}>", decode_header_value(value))
                if match:
                    return one_line(match.group(0))
    except Exception:  # noqa: BLE001 - never let a broken enclosure stop classification
        return None
    return None


def _dsn_fields(data: bytes) -> list[dict[str, str]]:
    """The header-like blocks of a message/delivery-status body (RFC 3464)."""
    text = decode_bytes(data[:200_000], "utf-8").replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = None
    for line in text.split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t" and last is not None:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        last = name.strip().lower()
        current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _typed_address(value: str | None) -> str:
    """``rfc822; <a@b>`` to ``a@b``."""
    if not value:
        return ""
    kind, sep, rest = value.partition(";")
    addr = rest if sep else kind
    return one_line(addr).strip().strip("<>").strip().lower()


def _status_code(value: str | None) -> str:
    match = _STATUS.search(value or "")
    return ".".join(match.groups()) if match else ""


def _dsn_recipients(data: bytes) -> list[BounceRecipient]:
    result = []
    for block in _dsn_fields(data):
        addr = _typed_address(block.get("original-recipient")) or _typed_address(block.get("final-recipient"))
        if not addr:
            continue
        action = one_line(block.get("action", "")).lower().split(" ", 1)[0]
        result.append(BounceRecipient(
            address=addr,
            action=action,
            status=_status_code(block.get("status")),
            diagnostic=one_line(block.get("diagnostic-code", ""), 300),
        ))
    return result


def _bounce_details(parsed: ParsedMessage) -> tuple[str | None, tuple[BounceRecipient, ...]]:
    original: str | None = None
    recipients: list[BounceRecipient] = []
    for att in parsed.attachments:
        ctype = att.content_type.lower()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            recipients.extend(_dsn_recipients(att.data))
        elif ctype in _EMBEDDED_TYPES and original is None:
            original = _embedded_message_id(att.data)
    text = parsed.body_text + "\n" + parsed.quoted_text
    if original is None:
        original = parsed.in_reply_to or (parsed.references[-1] if parsed.references else None)
    if original is None:
        match = _HEADER_MSGID.search(text[:200_000])
        if match:
            original = one_line(match.group(1))

    if not recipients:
        head = text[:5000]
        status = _status_code(head)
        delayed = bool(_DELAY.search(parsed.subject)) or (not status.startswith("5") and bool(_DELAY.search(head[:1000])))
        action = "delayed" if delayed else "failed"
        addrs = [a.strip().lower() for a in (parsed.header("x-failed-recipients") or "").split(",") if "@" in a]
        if not addrs:
            # Plain-text bounces name the failed address near the top, before
            # the returned message; our own addresses there are not it.
            ours = {parsed.from_addr, *parsed.to, *parsed.cc}
            new_text = parsed.body_text[:2000]
            addrs = [a.lower() for a in _ADDRESS.findall(new_text) if a.lower() not in ours]
        seen: dict[str, None] = {}
        for addr in addrs:
            seen.setdefault(one_line(addr).strip("<>"), None)
        recipients = [BounceRecipient(address=a, action=action, status=status) for a in list(seen)[:20] if a]
    return original, tuple(recipients)


def _bounce(parsed: ParsedMessage, reason: str) -> Classification:
    original, recipients = _bounce_details(parsed)
    return Classification(BOUNCE, reason, original, recipients)


def classify(message: ParsedMessage | Message | bytes) -> Classification:
    """Classify one inbound message; never raises on message content."""
    parsed = _as_parsed(message)
    ctype = parsed.content_type.lower()
    report = (parsed.report_type or "").lower()
    h = parsed.header
    return_path = h("return-path")
    envelope_from = h("x-envelope-from")
    null_sender = any(v is not None and _NULL_PATH.match(v) for v in (return_path, envelope_from))
    senders = {_local_part(parsed.from_addr), _local_part(return_path)}
    # "MAILER-DAEMON <>": with no address, the display name is all that says who sent it.
    no_sender = "@" not in parsed.from_addr
    if no_sender:
        senders.add(_local_part(parsed.from_name))
    daemon = bool(senders & _DAEMON_LOCALPARTS)
    postmaster = bool(senders & _POSTMASTER_LOCALPARTS)

    # Bounces first: they often also carry Auto-Submitted, but only a bounce
    # tells the outbox that a delivery failed.
    if ctype == "multipart/report" and report == "delivery-status":
        return _bounce(parsed, "delivery status notification (multipart/report; report-type=delivery-status)")
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        return _bounce(parsed, "bare delivery-status report")
    if any(a.content_type in ("message/delivery-status", "message/global-delivery-status") for a in parsed.attachments):
        return _bounce(parsed, "contains a delivery-status report")
    if h("x-failed-recipients"):
        return _bounce(parsed, "X-Failed-Recipients header")
    if (daemon or postmaster) and (null_sender or _BOUNCE_SUBJECT.search(parsed.subject) or not parsed.subject):
        return _bounce(parsed, f"sent by {one_line(parsed.from_addr or return_path, 80)}")
    if null_sender and _BOUNCE_SUBJECT.search(parsed.subject):
        return _bounce(parsed, "null Return-Path and a delivery-failure subject")

    if ctype == "multipart/report" and report == "feedback-report":
        return Classification(AUTO_REPLY, "abuse complaint (ARF feedback report)", _report_original(parsed))
    if ctype == "multipart/report" and report == "disposition-notification":
        return Classification(AUTO_REPLY, "read receipt (disposition notification)", _report_original(parsed))
    if h("x-helpdesk-ticket"):
        return Classification(AUTO_REPLY, "our own outgoing message came back (X-Helpdesk-Ticket)")

    auto_submitted = h("auto-submitted")
    if auto_submitted is not None and _first_word(auto_submitted) != "no":
        return Classification(AUTO_REPLY, f"Auto-Submitted: {one_line(auto_submitted, 60)}")
    for name in ("x-autoreply", "x-autorespond", "x-auto-response-suppress", "x-autogenerated",
                 "x-autoreply-from", "x-mail-autoreply"):
        value = h(name)
        if value is not None:
            return Classification(AUTO_REPLY, f"{_title(name)} header")

    precedence = _first_word(h("precedence") or "")
    if precedence in ("auto_reply", "junk"):
        return Classification(AUTO_REPLY, f"Precedence: {precedence}")
    if precedence in ("bulk", "list"):
        return Classification(LIST, f"Precedence: {precedence}")
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if h(name) is not None:
            return Classification(LIST, f"{_title(name)} header")

    if daemon:
        return _bounce(parsed, f"sent by {one_line(parsed.from_addr or return_path, 80)}")
    if null_sender:
        return Classification(AUTO_REPLY, "null Return-Path <>: sent by a machine")
    if no_sender:
        # Nobody can be answered, and a ticket without a requester helps no one.
        return Classification(AUTO_REPLY, "no sender address: sent by a machine")
    if _AUTO_SUBJECT.search(parsed.subject):
        return Classification(AUTO_REPLY, "subject says it is an automatic reply")
    return Classification(HUMAN, "no sign of automatic mail")


def _first_word(value: str) -> str:
    """``"No (sent by a person)"`` to ``"no"``: comments and parameters ignored."""
    match = re.match(r"\s*([A-Za-z0-9_-]*)", value)
    return match.group(1).lower() if match else ""


def _report_original(parsed: ParsedMessage) -> str | None:
    for att in parsed.attachments:
        if att.content_type == "message/disposition-notification":
            for block in _dsn_fields(att.data):
                value = block.get("original-message-id")
                if value:
                    match = re.search(r"<[^<>\s]{1,900}>", value)
                    if match:
                        return one_line(match.group(0))
        if att.content_type in _EMBEDDED_TYPES:
            found = _embedded_message_id(att.data)
            if found:
                return found
    return parsed.in_reply_to


def _title(name: str) -> str:
    return "-".join(part.capitalize() if part not in ("id",) else "Id" for part in name.split("-"))


# --------------------------------------------------------------------------

class ReplyRateLimiter:
    """At most *max_per_hour* automatic replies per sender in any hour.

    Pure and deterministic: ``now`` is passed in (seconds since the epoch or an
    aware datetime), so a test can replay an hour of ping-pong in microseconds.
    Memory is bounded: senders idle for a whole window are forgotten first.
    """

    def __init__(self, max_per_hour: int, *, window_seconds: float = 3600.0, max_senders: int = 10_000) -> None:
        if max_per_hour < 0:
            raise ValueError("max_per_hour must be >= 0")
        self.max_per_hour = max_per_hour
        self.window = float(window_seconds)
        self.max_senders = max_senders
        self._sent: dict[str, deque[float]] = {}

    @staticmethod
    def _ts(now: float | datetime) -> float:
        return now.timestamp() if isinstance(now, datetime) else float(now)

    @staticmethod
    def _key(sender: str) -> str:
        return (sender or "").strip().strip("<>").lower()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._sent.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def remaining(self, sender: str, now: float | datetime) -> int:
        ts = self._ts(now)
        return max(0, self.max_per_hour - len(self._recent(self._key(sender), ts)))

    def allow(self, sender: str, now: float | datetime) -> bool:
        """True (and counted) if a reply to *sender* may go out at *now*."""
        ts = self._ts(now)
        key = self._key(sender)
        times = self._recent(key, ts)
        if len(times) >= self.max_per_hour:
            return False
        if key not in self._sent:
            self._prune(ts)
            self._sent[key] = times
        times.append(ts)
        return True

    def _prune(self, now: float) -> None:
        if len(self._sent) < self.max_senders:
            return
        for key in [k for k, v in self._sent.items() if not v or v[-1] <= now - self.window]:
            del self._sent[key]
        while len(self._sent) >= self.max_senders:
            # Still full of active senders: forget the one idle longest.
            oldest = min(self._sent, key=lambda k: self._sent[k][-1] if self._sent[k] else float("-inf"))
            del self._sent[oldest]
