"""The delivery rule without I/O: a reply's state from its channel's outbox rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tui_helpdesk.domain.delivery import Delivery, ticket_deliveries
from tui_helpdesk.domain.model import Author, EntryKind, Requester, Status, Ticket, TicketType, TimelineEntry

AT = datetime(2026, 3, 2, 9, 0)


def ticket(type: TicketType, conversation_id: str | None = None) -> Ticket:
    return Ticket(id=7, desk_id=1, type=type, channel="email", subject="s", status=Status.ON_CUSTOMER,
                  requester=Requester(1, "Cy", "cy@example.com"), created_at=AT, updated_at=AT, last_message_at=AT,
                  last_message_by=Author.AGENT, version=1, conversation_id=conversation_id)


def entry(id: int, kind: EntryKind = EntryKind.REPLY, body: str = "hi", **meta) -> TimelineEntry:
    return TimelineEntry(id=id, ticket_id=7, kind=kind, body=body, created_at=AT, author="Ann", meta=meta)


@dataclass
class MailRow:
    id: int
    entry_id: int | None
    status: str = "sent"
    attempts: int = 0
    automatic: bool = False
    recipients: tuple[str, ...] = ("cy@example.com",)
    results: dict = field(default_factory=dict)
    last_error: str | None = None


@dataclass
class ChatRow:
    entry_id: int
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None


def test_mail_rows_give_each_reply_its_latest_state():
    rows = [MailRow(1, 10, "failed", 1, last_error="550 no such user"), MailRow(2, 10, "queued", 2),
            MailRow(3, 11, "failed", results={"cy@example.com": {"state": "failed", "code": 550, "text": "gone"}}),
            MailRow(4, 12, "sent", automatic=True), MailRow(5, None, "sent")]
    out = ticket_deliveries(ticket(TicketType.EMAIL), [entry(10), entry(11)], mail_rows=rows)
    assert out[10] == Delivery("retrying", "", 2, ("cy@example.com",), "email")
    assert out[11].reason == "cy@example.com: 550 gone" and out[11].resendable
    assert set(out) == {10, 11}  # automatic mail and rows without a reply are not shown


def test_a_reply_the_mail_side_could_not_queue_is_failed():
    event = entry(20, EntryKind.EVENT, "Reply not sent", event="delivery_failed", entry=19, reason="no address")
    out = ticket_deliveries(ticket(TicketType.EMAIL), [entry(19), event])
    assert out == {19: Delivery("failed", "no address")}
    assert not out[19].resendable


def test_chat_replies_show_the_worst_part_and_sent_otherwise():
    chat = ticket(TicketType.LIVE_CHAT, "conv-1")
    rows = [ChatRow(30), ChatRow(30, "failed", 3, "HTTP 500"), ChatRow(31, attempts=1, last_error="timeout")]
    out = ticket_deliveries(chat, [entry(30), entry(31), entry(32), entry(33, EntryKind.NOTE)], chat_rows=rows)
    assert out[30] == Delivery("failed", "HTTP 500", channel="chat")
    assert out[31] == Delivery("retrying", "timeout", channel="chat")
    assert out[32] == Delivery("sent", channel="chat")
    assert 33 not in out
    assert ticket_deliveries(ticket(TicketType.LIVE_CHAT), [entry(30)], chat_rows=rows) == {}


def test_pending_and_problem_states():
    assert Delivery("queued").pending and not Delivery("queued").problem
    assert Delivery("unknown", outbox_id=3).resendable
    assert not Delivery("failed", channel="chat").resendable
