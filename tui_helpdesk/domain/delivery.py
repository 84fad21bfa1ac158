"""How far a reply got to the customer, worked out from its channel's outbox rows.

A reply on an email ticket goes out through the mail outbox (one row per
sending, the later row winning when a reply was resent); a reply on a live-chat
ticket through the chat outbox, which keeps a row per part of a long reply and
is read only for the parts not delivered yet. :func:`ticket_deliveries` turns
those rows, with the ticket's timeline entries, into one :class:`Delivery` per
reply entry: the rule the TUI shows and the public API will report. Pure: the
rows are read by :mod:`tui_helpdesk.services.delivery`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .model import EntryKind, Ticket, TicketType, TimelineEntry
from .text import one_line

REASON_CHARS = 300  # a delivery's reason is one line of at most this many characters


@dataclass(frozen=True, slots=True)
class Delivery:
    """How far a reply got to the customer: by mail (the outbox) or into the chat thread."""

    state: str  # queued | sending | retrying | sent | failed | unknown | suppressed
    reason: str = ""
    outbox_id: int | None = None  # the mail outbox row (resend), None for chat replies
    recipients: tuple[str, ...] = ()
    channel: str = "email"  # "email" | "chat"

    PROBLEMS = ("failed", "unknown", "suppressed")

    @property
    def problem(self) -> bool:
        return self.state in self.PROBLEMS

    @property
    def pending(self) -> bool:
        return self.state in ("queued", "sending", "retrying")

    @property
    def resendable(self) -> bool:
        return self.outbox_id is not None and self.problem


class MailOutboxRow(Protocol):
    """What the rule reads of a mail outbox row."""

    id: int
    entry_id: int | None
    automatic: bool
    status: str
    attempts: int
    recipients: tuple[str, ...]
    results: Mapping
    last_error: str | None


class ChatOutboxRow(Protocol):
    """What the rule reads of a chat outbox row (one part of a reply)."""

    entry_id: int
    status: str
    attempts: int
    last_error: str | None


def mail_delivery(row: MailOutboxRow) -> Delivery:
    """The delivery of one mail outbox row; a queued row that was tried before is retrying."""
    state = row.status
    if state == "queued" and row.attempts:
        state = "retrying"
    # Per-recipient refusals say more than the row's last error.
    reason = "; ".join(
        f"{addr}: {' '.join(str(p) for p in (r.get('code'), r.get('text')) if p)}"
        for addr, r in row.results.items()
        if isinstance(r, dict) and r.get("state") not in (None, "sent")) or row.last_error or ""
    return Delivery(state, one_line(reason, REASON_CHARS), row.id, tuple(row.recipients), "email")


def chat_delivery(row: ChatOutboxRow) -> Delivery:
    """The delivery of one part of a chat reply that is not delivered yet."""
    if row.status == "failed":
        return Delivery("failed", one_line(row.last_error or "", REASON_CHARS), channel="chat")
    if row.attempts:
        return Delivery("retrying", one_line(row.last_error or "", REASON_CHARS), channel="chat")
    return Delivery("queued", channel="chat")


def ticket_deliveries(ticket: Ticket, entries: Iterable[TimelineEntry], *, mail_rows: Iterable[MailOutboxRow] = (),
                      chat_rows: Iterable[ChatOutboxRow] = ()) -> dict[int, Delivery]:
    """Reply entry id -> its delivery, for the replies among *entries*.

    *mail_rows* are the ticket's mail outbox rows by id (an email ticket);
    *chat_rows* the chat outbox rows not delivered yet (a live-chat ticket).
    Other tickets' replies have no delivery to show.
    """
    out: dict[int, Delivery] = {}
    if ticket.type is TicketType.EMAIL:
        for row in mail_rows:  # by id: a later row wins
            if row.entry_id is None or row.automatic:
                continue
            out[row.entry_id] = mail_delivery(row)
        # A reply the mail side could not even queue (no support address, no customer address).
        for entry in entries:
            meta = entry.meta if isinstance(entry.meta, dict) else {}
            if entry.kind is EntryKind.EVENT and meta.get("event") == "delivery_failed" \
                    and isinstance(meta.get("entry"), int) and meta["entry"] not in out:
                out[meta["entry"]] = Delivery("failed", one_line(str(meta.get("reason") or entry.body), REASON_CHARS))
    elif ticket.type is TicketType.LIVE_CHAT and ticket.conversation_id:
        waiting: dict[int, Delivery] = {}
        for row in chat_rows:
            d = chat_delivery(row)
            # A long reply goes in parts: show the worst.
            if row.entry_id not in waiting or d.problem:
                waiting[row.entry_id] = d
        for entry in entries:
            if entry.kind is EntryKind.REPLY:
                out[entry.id] = waiting.get(entry.id) or Delivery("sent", channel="chat")
    return out
