"""Why a message joined its ticket, in words (SPEC §6 "threading you can see and fix").

The planner records a short code in the entry's ``meta.mail.threaded_by``;
the ticket screen and ``helpdesk ticket show`` say it with :func:`joined_label`.
"""

from __future__ import annotations

__all__ = ["JOINED", "joined_label"]

JOINED = {
    "signed": "our signed Message-ID in its references",
    "references": "a known Message-ID in its references, from a participant",
    "tag": "the [#ticket] tag in its subject, from a participant",
    "new": "a new ticket (nothing tied it to an existing one)",
    "split": "split off from another ticket by an agent",
}


def joined_label(meta: object) -> str | None:
    """The reason a message entry with *meta* is on its ticket, or None when it does not say."""
    if not isinstance(meta, dict):
        return None
    mail = meta.get("mail")
    code = mail.get("threaded_by") if isinstance(mail, dict) else None
    if not isinstance(code, str):
        return None
    label = JOINED.get(code, code)
    split = meta.get("split_from")
    if code == "split" and isinstance(split, dict) and isinstance(split.get("ticket"), int):
        label = f"split off from #{split['ticket']} by an agent"
    if isinstance(mail, dict) and mail.get("released_by"):
        label += "; released from set-aside mail"
    if isinstance(mail, dict) and mail.get("history"):
        label += "; imported as history"
    return label
