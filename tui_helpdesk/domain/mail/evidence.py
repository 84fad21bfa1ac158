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
    "FAILURE_SUBJECT",
    "DELAY_WORDS",
    "ProviderNotice",
    "abuse_subject",
    "forwarded_subject",
    "list_notice_subject",
    "provider_notice",
    "role_of",
]


@dataclass(frozen=True, slots=True)
class Evidence:
    kind: str  # bounce | auto_reply | list
    weight: float
    why: str


# Delivery failure, in the languages mail servers write them in. Words that are
# also ordinary business words ("Zwrot", "devuelto", "Возврат": a product return)
# are left out: a subject is weak evidence, but it should not be wrong evidence.
FAILURE_SUBJECT = re.compile(
    "|".join([
        # en
        r"undeliver", r"delivery (?:status )?notification", r"delivery (?:has )?fail", r"delivery problem",
        r"returned mail", r"returned to sender", r"failure notice", r"mail delivery failed", r"could not be delivered",
        r"non[- ]?delivery", r"not delivered", r"delivery incomplete", r"mail system error", r"delayed mail",
        r"delivery delayed", r"message delivery error", r"delivery report",
        # de
        r"unzustellbar", r"nicht zustellbar", r"zustellung fehlgeschlagen", r"fehler bei der zustellung",
        r"nicht zugestellt", r"zustellungsbenachrichtigung", r"rückläufer",
        # fr
        r"non remis", r"non distribuable", r"échec de (?:la )?(?:remise|distribution|livraison)",
        r"non délivré", r"rapport de non-remise", r"impossible de (?:remettre|distribuer)",
        # es
        r"no se puede entregar", r"no se pudo entregar", r"error de entrega", r"no entregado",
        r"notificación de estado de entrega", r"entrega fallida", r"imposible entregar",
        # it
        r"non recapitabile", r"mancato recapito", r"impossibile recapitare", r"errore di consegna",
        r"consegna non riuscita",
        # pt
        r"não é possível entregar", r"não entregue", r"falha na entrega", r"não foi possível entregar",
        r"notificação de status de entrega",
        # nl
        r"onbestelbaar", r"niet bezorgd", r"bezorging mislukt", r"kan niet worden bezorgd", r"niet afgeleverd",
        r"niet-afleverbaar",
        # ru / uk
        r"недоставленн", r"не доставлено", r"не удалось доставить", r"ошибка доставки", r"не може бути доставлено",
        # ja
        r"配信不能", r"配送エラー", r"配信エラー", r"送信失敗", r"未配達", r"配信できません", r"配送不能",
        # zh
        r"退信", r"无法投递", r"投递失败", r"未送达", r"無法投遞", r"投遞失敗", r"發送失敗", r"邮件投递失败",
        # pl
        r"niedostarczon", r"nie można dostarczyć", r"błąd doręczenia", r"niedoręczon", r"nie została dostarczona",
        # sv, da, no, fi, cs, tr, hu, ko
        r"olevererbar", r"kunde inte levereras", r"kunne ikke leveres", r"ikke leveret", r"toimitus epäonnistui",
        r"nedoručiteln", r"teslim edilemedi", r"kézbesíthetetlen", r"배달 실패", r"전달 실패",
    ]),
    re.I,
)

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
