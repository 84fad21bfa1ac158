"""Queueing webhooks: the in-transaction half, kept light because every write runs it.

:func:`queue_deliveries` is what the ``on_write`` handlers of ``TicketCreated``,
``StatusChanged``, ``AssigneeChanged``, ``CustomerMessageAdded`` and
``ReplyAdded`` do: one small query for the subscriptions, and when some want
the event, the payload — built from the ticket as it is in this transaction —
written once per subscription as a ``webhook_delivery`` row. Sending is
:mod:`.webhooks`, loaded only where webhooks are sent or managed.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from ..adapters.store.apistore import ApiTx
from ..adapters.store.repository import Tx
from ..domain import api as rules
from ..domain.events import AssigneeChanged, CustomerMessageAdded, ReplyAdded, StatusChanged, TicketCreated
from ..domain.model import Ticket, TimelineEntry

_EVENT_NAMES = {
    TicketCreated: rules.TICKET_CREATED, StatusChanged: rules.STATUS_CHANGED,
    AssigneeChanged: rules.ASSIGNEE_CHANGED, CustomerMessageAdded: rules.CUSTOMER_MESSAGE,
    ReplyAdded: rules.AGENT_REPLY,
}
WEBHOOK_EVENTS = tuple(_EVENT_NAMES)


def iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") + "Z" if at else None


def new_uid() -> str:
    """A delivery id: what receivers dedupe on."""
    return f"whd_{secrets.token_hex(12)}"


def ticket_payload(t: Ticket) -> dict:
    """What a webhook says about a ticket: no internal fields."""
    return {
        "id": t.id, "subject": t.subject, "status": t.status.value, "channel": t.channel, "type": t.type.value,
        "tags": list(t.tags), "assignee": t.assignee.login if t.assignee else None,
        "requester": {"name": t.requester.name, "email": t.requester.email},
        "createdAt": iso(t.created_at), "updatedAt": iso(t.updated_at),
    }


def entry_payload(e: TimelineEntry) -> dict:
    return {"id": e.id, "kind": e.kind.value, "author": e.author, "body": e.body, "createdAt": iso(e.created_at)}


async def queue_deliveries(tx: Tx, event) -> int:
    """In the change's transaction: a delivery for each subscription that wants *event*; returns how many."""
    name = _EVENT_NAMES.get(type(event))
    if name is None:
        return 0
    api = ApiTx(tx)
    wanted = [s for s in await api.subscriptions() if name in s.events]
    if not wanted:
        return 0  # the usual case: one small query and nothing else
    ticket_id = event.ticket.id if isinstance(event, ReplyAdded) else event.ticket_id
    if isinstance(event, ReplyAdded):
        desk_id = event.ticket.desk_id
    elif isinstance(event, TicketCreated):
        desk_id = event.desk_id
    else:
        desk_id = (await tx.get_ticket(ticket_id)).desk_id
    subs = [s for s in wanted if s.desk_id == desk_id]
    if not subs:
        return 0
    ticket = await tx.get_ticket(ticket_id)  # as it is now, in this transaction
    data: dict = {"ticket": ticket_payload(ticket)}
    if isinstance(event, StatusChanged):
        data["ticket"]["status"] = event.new.value  # the row may be updated after the event is recorded
        data["change"] = {"from": event.old.value, "to": event.new.value, "by": await _login(tx, event.actor_id)}
    elif isinstance(event, AssigneeChanged):
        data["change"] = {"from": await _login(tx, event.old), "to": await _login(tx, event.new),
                          "by": await _login(tx, event.actor_id)}
    elif isinstance(event, CustomerMessageAdded):
        entry = await api.entry(event.entry_id)
        data["message"] = entry_payload(entry) if entry else None
    elif isinstance(event, ReplyAdded):
        data["reply"] = entry_payload(event.entry)
    elif isinstance(event, TicketCreated):
        data["source"] = event.source
    desk = await tx.get_desk(desk_id)
    envelope = {"id": f"evt_{secrets.token_hex(12)}", "type": name, "createdAt": iso(tx.now()),
                "desk": desk.slug, "data": data}
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    for sub in subs:
        await api.insert_delivery(uid=new_uid(), subscription_id=sub.id, event=name, ticket_id=ticket_id, body=body)
    return len(subs)


async def _login(tx: Tx, agent_id: int | None) -> str | None:
    if agent_id is None:
        return None
    agent = await tx.get_agent(agent_id)
    return agent.login if agent else None
