"""The signs that a message was sent by a machine, each with a weight, for :func:`loops.classify`.

No single rule recognises every robot: real bounces come without DSN
structure, in Japanese, from ``post_master@``; provider notifications are
JSON from ``no-reply@``; list servers send notices from ``-owner``
addresses. So each sign found adds :class:`Evidence` towards one kind
(``bounce``, ``auto_reply`` or ``list``) with a weight; a kind whose
weights reach 1 decides, and the signs found are the recorded reason.
Strong signs (a DSN report, ``Auto-Submitted``) weigh 1 or more on their
own; weak ones (a failure-sounding subject, a ``postmaster`` sender, an
enclosed message) need another sign beside them, so a person writing about
an undelivered mail is still a person.

Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = [
    "Evidence",
    "DELAY_WORDS",
    "FAILURE_PHRASES",
    "ProviderNotice",
    "abuse_subject",
    "failure_subject",
    "forwarded_subject",
    "list_notice_subject",
    "machine_body",
    "provider_notice",
    "role_of",
]


@dataclass(frozen=True, slots=True)
class Evidence:
    kind: str  # bounce | auto_reply | list
    weight: float
    why: str


# Delivery failure, in the languages mail servers write them in, as lowercase
# phrases (plain substring tests: this runs on every message). Words that are
# also ordinary business words ("Zwrot", "devuelto", "Возврат": a product
# return) are left out: a subject is weak evidence, but should not be wrong.
FAILURE_PHRASES = (
    # en
    "undeliver", "delivery status notification", "delivery notification", "delivery fail", "delivery has fail",
    "delivery problem", "returned mail", "returned to sender", "failure notice", "mail delivery failed",
    "could not be delivered", "non-delivery", "nondelivery", "non delivery", "not delivered", "delivery incomplete",
    "mail system error", "delayed mail", "delivery delayed", "message delivery error", "delivery report",
    # de
    "unzustellbar", "nicht zustellbar", "zustellung fehlgeschlagen", "fehler bei der zustellung", "nicht zugestellt",
    "zustellungsbenachrichtigung", "rückläufer",
    # fr
    "non remis", "non distribuable", "échec de la remise", "échec de remise", "échec de la distribution",
    "échec de distribution", "échec de livraison", "non délivré", "rapport de non-remise", "impossible de remettre",
    "impossible de distribuer",
    # es
    "no se puede entregar", "no se pudo entregar", "error de entrega", "no entregado",
    "notificación de estado de entrega", "entrega fallida", "imposible entregar",
    # it
    "non recapitabile", "mancato recapito", "impossibile recapitare", "errore di consegna", "consegna non riuscita",
    # pt
    "não é possível entregar", "não entregue", "falha na entrega", "não foi possível entregar",
    "notificação de status de entrega",
    # nl
    "onbestelbaar", "niet bezorgd", "bezorging mislukt", "kan niet worden bezorgd", "niet afgeleverd",
    "niet-afleverbaar",
    # ru / uk
    "недоставленн", "не доставлено", "не удалось доставить", "ошибка доставки", "не може бути доставлено",
    # ja
    "配信不能", "配送エラー", "配信エラー", "送信失敗", "未配達", "配信できません", "配送不能",
    # zh
    "退信", "无法投递", "投递失败", "未送达", "無法投遞", "投遞失敗", "發送失敗", "邮件投递失败",
    # pl
    "niedostarczon", "nie można dostarczyć", "błąd doręczenia", "niedoręczon", "nie została dostarczona",
    # sv, da, no, fi, cs, tr, hu, ko
    "olevererbar", "kunde inte levereras", "kunne ikke leveres", "ikke leveret", "toimitus epäonnistui",
    "nedoručiteln", "teslim edilemedi", "kézbesíthetetlen", "배달 실패", "전달 실패",
)


def failure_subject(subject: str) -> bool:
    """Whether *subject* reads like a delivery failure, in any of the languages above."""
    low = (subject or "").lower()
    return any(phrase in low for phrase in FAILURE_PHRASES)


# Phrases only mail servers write in a bounce's text (a person's "it bounced"
# rarely reads like this), and the SMTP reply code with its enhanced status.
MACHINE_BODY_PHRASES = (
    "this is the mail system", "permanent fatal errors", "delivery to the following recipient",
    "could not be delivered to one or more recipients", "user unknown", "recipient unknown", "mailbox unknown",
    "user unavailable", "mailbox unavailable", "user not found", "recipient not found", "mailbox not found",
    "no such user", "no such mailbox", "no such recipient", "recipient address rejected", "mailbox full",
    "mailbox is full", "over quota", "host or domain name not found", "message was not delivered",
    "delivery has failed to these recipients",
)
_SMTP_CODE = re.compile(r"\b[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b")


def machine_body(text: str) -> bool:
    """Whether the start of a message's text reads like a mail server's failure report."""
    head = text[:3000]
    low = head.lower()
    return any(phrase in low for phrase in MACHINE_BODY_PHRASES) or ("." in head and bool(_SMTP_CODE.search(head)))


DELAY_WORDS = re.compile(
    r"delay|still being retried|will be retried|will retry|warning|verzögert|retardé|retrasad|ritardat|atrasad"
    r"|vertraagd|задерж|遅延|延迟|opóźni",
    re.I,
)

# Notices of list servers (not the list's own mail, which carries List-* headers).
LIST_NOTICE_SUBJECT = re.compile(
    r"not a member|non-member|loop (?:alert|detected)|mail loop|awaiting moderat|needs? (?:moderator )?approval"
    r"|held for moderation|posting (?:to|rejected)|confirm (?:your )?subscription|subscription (?:request|confirm)"
    r"|mailing list membership|unsubscribe (?:request|confirm)|moderator request|list administrator",
    re.I,
)

ABUSE_SUBJECT = re.compile(r"\babuse\b|spam (?:complaint|report)|complaint about|\[spamcop|phishing report", re.I)

# "Fwd: Undelivered Mail": a person passing a bounce on, in the usual languages.
_FORWARDED = re.compile(r"^\s*(?:fwd?|fw|wg|tr|rv|enc|i|vs|doorst|pd|trs|转发|轉寄)\s*:", re.I)

_DAEMON = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "maildaemon", "mail.daemon", "mdaemon"})
_POSTMASTER = frozenset({"postmaster", "post_master", "post-master", "postmaster-noreply"})
_NO_REPLY = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|noreply|donotreply)(?:[-_.+].*)?$")
_BOUNCE_ROLE = re.compile(r"^bounces?(?:[-_.+].*)?$")
_LIST_ROLE = re.compile(r"^(?:.+-(?:owner|request|bounces?)|owner-.+|listserv|majordomo|mailman|sympa"
                        r"|ecartis|lyris|listproc|list-?master)$")
_ABUSE_ROLE = frozenset({"abuse", "spam", "report-abuse", "abuse-report", "fbl"})


def role_of(local_part: str) -> str | None:
    """What a sender's local part says about who sent it: daemon, postmaster, no_reply, bounce, list, abuse."""
    local = local_part.strip().lower()
    if not local:
        return None
    if local in _DAEMON:
        return "daemon"
    if local in _POSTMASTER:
        return "postmaster"
    if _NO_REPLY.match(local):
        return "no_reply"
    if _BOUNCE_ROLE.match(local):
        return "bounce"
    if _LIST_ROLE.match(local):
        return "list"
    if local in _ABUSE_ROLE:
        return "abuse"
    return None


def forwarded_subject(subject: str) -> bool:
    return bool(_FORWARDED.match(subject or ""))


# ------------------------------------------------------- provider notifications


@dataclass(frozen=True, slots=True)
class ProviderNotice:
    """A JSON delivery notification of a sending service (the SES/SNS form and its look-alikes)."""

    type: str  # bounce | complaint | delivery | delay | reject | other
    message_id: str | None
    recipients: tuple[tuple[str, str, str, str], ...]  # (address, action, status, diagnostic)


_JSON_TYPES = {"bounce": "bounce", "complaint": "complaint", "delivery": "delivery", "deliverydelay": "delay",
               "reject": "reject", "renderingfailure": "reject"}


def provider_notice(body: str) -> ProviderNotice | None:
    """The notification in a body that is a JSON document such as ``{"notificationType": "Bounce", ...}``."""
    start = body.find("{")
    if start < 0 or start > 200 or len(body) > 1_000_000:
        return None
    end = body.rfind("}")
    try:
        data = json.loads(body[start:end + 1])
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("Message"), str) and data.get("Type") == "Notification":
        try:  # wrapped once more by a notification service
            data = json.loads(data["Message"])
        except (ValueError, RecursionError):
            return None
    if not isinstance(data, dict):
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "").replace(" ", "").lower()
    if kind not in _JSON_TYPES:
        kind = next((k for k in ("bounce", "complaint") if isinstance(data.get(k), dict)), "")
        if not kind:
            return None
    kind = _JSON_TYPES[kind]
    mail = data.get("mail") if isinstance(data.get("mail"), dict) else {}
    message_id = None
    for header in mail.get("headers") or ():
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            message_id = str(header.get("value") or "") or None
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    message_id = message_id or (str(common["messageId"]) if common.get("messageId") else None)
    if message_id and not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    recipients: list[tuple[str, str, str, str]] = []
    detail = data.get(kind) if isinstance(data.get(kind), dict) else {}
    listed = detail.get("bouncedRecipients") or detail.get("complainedRecipients") or detail.get("recipients") or ()
    for r in listed if isinstance(listed, list) else ():
        addr = r.get("emailAddress") if isinstance(r, dict) else r if isinstance(r, str) else None
        if not isinstance(addr, str) or "@" not in addr:
            continue
        action = str(r.get("action") or ("failed" if kind == "bounce" else "")) if isinstance(r, dict) else ""
        status = str(r.get("status") or "") if isinstance(r, dict) else ""
        diagnostic = str(r.get("diagnosticCode") or "") if isinstance(r, dict) else ""
        recipients.append((addr.strip().strip("<>").lower()[:320], action.lower()[:20], status[:20], diagnostic[:300]))
    if kind == "bounce" and str(detail.get("bounceType", "")).lower() == "transient":
        recipients = [(a, "delayed", s, d) for a, _act, s, d in recipients]
    return ProviderNotice(kind, message_id, tuple(recipients[:50]))


def list_notice_subject(subject: str) -> bool:
    return bool(LIST_NOTICE_SUBJECT.search(subject or ""))


def abuse_subject(subject: str) -> bool:
    return bool(ABUSE_SUBJECT.search(subject or ""))
