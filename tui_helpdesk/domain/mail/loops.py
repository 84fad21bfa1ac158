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
from tui_helpdesk.domain.mail.evidence import (
    DELAY_WORDS,
    Evidence,
    ProviderNotice,
    abuse_subject,
    failure_subject,
    forwarded_subject,
    list_notice_subject,
    machine_body,
    provider_notice,
    role_of,
)
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
    "answerable",
    "classify",
    "evidence",
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
    evidence: tuple[str, ...] = ()  # every sign that decided, strongest first

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

_NULL_PATH = re.compile(r"^\s*<\s*>\s*$")
_DELAY = DELAY_WORDS
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


def _bounce(parsed: ParsedMessage, reason: str, notice: ProviderNotice | None = None,
            signs: tuple[str, ...] = ()) -> Classification:
    if notice is not None and notice.recipients:
        recipients = tuple(BounceRecipient(a, action or "failed", _status_code(status) or status, diagnostic)
                           for a, action, status, diagnostic in notice.recipients)
        return Classification(BOUNCE, reason, notice.message_id, recipients, evidence=signs)
    original, recipients = _bounce_details(parsed)
    return Classification(BOUNCE, reason, original or (notice.message_id if notice else None), recipients,
                          evidence=signs)


_VENDOR_AUTO = ("x-autoreply", "x-autorespond", "x-auto-response-suppress", "x-autogenerated", "x-autoreply-from",
                "x-mail-autoreply", "x-autoresponder", "x-autoresponse", "x-vacation",
                "x-ms-exchange-generated-message-source", "x-ms-exchange-inbox-rules-loop", "x-cron-env")
_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post", "list-help", "list-owner", "list-subscribe",
                 "list-archive", "mailing-list", "x-mailing-list", "x-beenthere", "x-mailman-version", "x-ml-name")
_ROLE_WHY = {
    "daemon": "sent by a mailer daemon", "postmaster": "sent by a postmaster", "no_reply": "sent from a no-reply address",
    "bounce": "sent from a bounce address", "list": "sent by a list server", "abuse": "sent by an abuse desk",
}
# (bounce, auto_reply) weight of each sender role, from From (Return-Path counts half)
_ROLE_WEIGHTS = {"daemon": (1.0, 1.0), "postmaster": (0.5, 0.5), "no_reply": (0.0, 1.0), "bounce": (0.5, 1.0),
                 "list": (0.0, 1.0), "abuse": (0.0, 0.6)}


def evidence(parsed: ParsedMessage) -> tuple[list[Evidence], ProviderNotice | None]:
    """Every sign of a machine in *parsed* (see :mod:`.evidence`), and a provider's JSON notice if there is one."""
    out: list[Evidence] = []
    add = lambda kind, weight, why: out.append(Evidence(kind, weight, why))  # noqa: E731
    ctype = parsed.content_type.lower()
    report = (parsed.report_type or "").lower()
    h = parsed.loop_headers.get  # names here are lowercase already
    part_types = {a.content_type.lower() for a in parsed.attachments}

    # ---- structure
    if ctype == "multipart/report" and report == "delivery-status":
        add(BOUNCE, 3, "delivery status notification (multipart/report; report-type=delivery-status)")
    elif ctype in ("message/delivery-status", "message/global-delivery-status"):
        add(BOUNCE, 3, "bare delivery-status report")
    elif part_types & {"message/delivery-status", "message/global-delivery-status"}:
        add(BOUNCE, 3, "contains a delivery-status report")
    if ctype == "multipart/report" and report == "feedback-report" or "message/feedback-report" in part_types:
        add(AUTO_REPLY, 3, "abuse complaint (ARF feedback report)")
    if ctype == "multipart/report" and report == "disposition-notification":
        add(AUTO_REPLY, 3, "read receipt (disposition notification)")
    forwarded = forwarded_subject(parsed.subject)
    if part_types & _EMBEDDED_TYPES and not forwarded:
        add(BOUNCE, 0.4, "encloses a returned message")
        add(AUTO_REPLY, 0.4, "encloses another message")
    notice = provider_notice(parsed.body_text) if parsed.body_text.lstrip()[:1] == "{" else None
    if notice is not None:
        if notice.type in ("bounce", "delay"):
            add(BOUNCE, 2, f"provider {notice.type} notification (JSON)")
        else:
            add(AUTO_REPLY, 2, f"provider {notice.type} notification (JSON)")

    # ---- headers
    if h("x-failed-recipients"):
        add(BOUNCE, 2, "X-Failed-Recipients header")
    if h("x-helpdesk-ticket"):
        add(AUTO_REPLY, 3, "our own outgoing message came back (X-Helpdesk-Ticket)")
    auto_submitted = h("auto-submitted")
    if auto_submitted is not None and _first_word(auto_submitted) != "no":
        add(AUTO_REPLY, 2, f"Auto-Submitted: {one_line(auto_submitted, 60)}")
    for name in _VENDOR_AUTO:
        if h(name) is not None:
            add(AUTO_REPLY, 2, f"{_title(name)} header")
    if h("x-loop") is not None:
        add(AUTO_REPLY, 0.5, "X-Loop header")
    precedence = _first_word(h("precedence") or "")
    if precedence in ("auto_reply", "junk"):
        add(AUTO_REPLY, 2, f"Precedence: {precedence}")
    elif precedence in ("bulk", "list"):
        add(LIST, 2, f"Precedence: {precedence}")
    for name in _LIST_HEADERS:
        if h(name) is not None:
            add(LIST, 2, f"{_title(name)} header")
            break

    # ---- who sent it
    return_path = h("return-path")
    envelope_from = h("x-envelope-from")
    if any(v is not None and _NULL_PATH.match(v) for v in (return_path, envelope_from)):
        add(AUTO_REPLY, 1, "null Return-Path <>: sent by a machine")
        add(BOUNCE, 0.5, "null Return-Path <>")
    no_sender = "@" not in parsed.from_addr
    if no_sender:
        # "MAILER-DAEMON <>": with no address, the display name is all that says who sent it.
        add(AUTO_REPLY, 1, "no sender address: sent by a machine")
    from_role = role_of(_local_part(parsed.from_addr) or (_local_part(parsed.from_name) if no_sender else ""))
    path_role = role_of(_local_part(return_path))
    for role, scale, where in ((from_role, 1.0, "From"), (path_role, 0.5, "Return-Path")):
        if role is None or (where == "Return-Path" and role == from_role):
            continue
        bounce_w, auto_w = _ROLE_WEIGHTS[role]
        who = one_line(parsed.from_addr or parsed.from_name, 80) if where == "From" else one_line(return_path, 80)
        if bounce_w:
            add(BOUNCE, bounce_w * scale, f"{_ROLE_WHY[role]} ({who})")
        if auto_w:
            add(AUTO_REPLY, auto_w * scale, f"{_ROLE_WHY[role]} ({who})")

    # ---- words
    if not forwarded:
        if failure_subject(parsed.subject):
            add(BOUNCE, 0.6, "delivery-failure subject")
        if machine_body(parsed.body_text):
            add(BOUNCE, 0.4, "text of a mail server's failure report")
        if list_notice_subject(parsed.subject):
            add(AUTO_REPLY, 0.6, "subject of a list server's notice")
        if abuse_subject(parsed.subject):
            add(AUTO_REPLY, 0.6, "subject of an abuse complaint")
    if _AUTO_SUBJECT.search(parsed.subject):
        add(AUTO_REPLY, 1, "subject says it is an automatic reply")
    return out, notice


def classify(message: ParsedMessage | Message | bytes) -> Classification:
    """Classify one inbound message by weighing :func:`evidence`; never raises on message content.

    A bounce wins over the rest (only a bounce tells the outbox a delivery
    failed), then an automatic message, then list mail. The reason lists the
    signs that decided, strongest first; a person's mail keeps the weak signs
    that were not enough.
    """
    parsed = _as_parsed(message)
    found, notice = evidence(parsed)
    score = {BOUNCE: 0.0, AUTO_REPLY: 0.0, LIST: 0.0}
    for e in found:
        score[e.kind] += e.weight
    for kind in (BOUNCE, AUTO_REPLY, LIST):
        if score[kind] >= 1.0 - 1e-9:
            signs = tuple(dict.fromkeys(e.why for e in sorted(found, key=lambda e: -e.weight) if e.kind == kind))
            reason = "; ".join(signs)
            if kind == BOUNCE:
                return _bounce(parsed, reason, notice, signs)
            original = _report_original(parsed) if notice is None else notice.message_id
            return Classification(kind, reason, original if kind == AUTO_REPLY else None, evidence=signs)
    weak = tuple(dict.fromkeys(e.why for e in found))
    return Classification(HUMAN, "no sign of automatic mail" + (f" (weak signs only: {'; '.join(weak)})" if weak else ""),
                          evidence=weak)


def answerable(parsed: ParsedMessage, kind: Classification) -> bool:
    """Whether an automatic answer (an acknowledgement) may go to *parsed*'s sender.

    Only a person's mail, from a real address (a domain with a dot) that is
    no role of a machine or a postmaster.
    """
    addr = parsed.from_addr
    if kind.kind != HUMAN or "@" not in addr or len(addr) > 320:
        return False
    local, _, domain = addr.rpartition("@")
    return bool(local) and "." in domain.strip(".") and role_of(local) is None


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
