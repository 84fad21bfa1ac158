"""Escalation: a conversation handed over becomes exactly one ``live_chat`` ticket.

The platform first (taken over or AI paused, transcript read, a summary asked
of the assistant), then one transaction for the ticket, its summary note with
the transcript folded under it, and the link row whose primary key (desk,
conversation, episode) lets only one of two racing pollers win. A live ticket
of the same conversation is reused; a closed one gets a follow-up. Routing
runs after the commit (a TicketCreated event). A platform failure leaves
nothing behind locally.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...domain.chat.errors import Rejected
from ...domain.chat.model import ChatMessage, Conversation, ConversationState, MessageRole
from ...adapters.store.chatstore import ChatTx, LinkExists, naive
from ...adapters.store.repository import Store, Tx
from ...domain.errors import HelpdeskError, UsageError
from ...domain.events import TicketCreated
from ...domain.model import Agent, Author, EntryKind, Status, TicketType
from ...domain.text import one_line
from ..tickets import PREVIEW_CHARS, SYSTEM, TicketService
from .common import ENDED, _Desk, _line, transcript_text
from .summary import SUMMARY_UNAVAILABLE, Summary, summarise

if TYPE_CHECKING:
    from .service import ConversationService

log = logging.getLogger("tui_helpdesk.services.conversations")

SUMMARY_AUTHOR = "Chat summary"


class Escalation:
    """Opens (or reuses) the ticket of a handed-over conversation; part of :class:`ConversationService`."""

    def __init__(self, service: ConversationService, store: Store, tickets: TicketService) -> None:
        self.service = service
        self.store = store
        self.tickets = tickets

    async def hand_off(
        self, d: _Desk, conversation_id: str, *, how: str, me: Agent | None = None,
    ) -> tuple[int | None, bool]:
        """Platform first (takeover or pause, transcript), then one transaction for the ticket.

        Returns the ticket id (None when the conversation is no longer
        escalated) and whether this call created the ticket.
        """
        client = await self.service.client(d)
        if how == "takeover":
            try:
                await client.take_over(conversation_id)
            except Rejected as exc:
                if exc.code == ENDED:
                    await self.service.following.mark_ended(d, conversation_id)
                    raise UsageError("this conversation has ended; it cannot be taken over") from None
                raise
        conv = await client.get_conversation(conversation_id)
        if how == "escalation":
            if conv.state is not ConversationState.ESCALATED:
                # Ended or handed back meanwhile: record that, nothing to open.
                async with self.store.write() as tx:
                    await self.service._record(ChatTx(tx), d.id, conv)
                    await tx.record_change(None, "conversations", None)
                return None, False
            if not conv.ai_paused:
                await client.pause_ai(conversation_id)
        summary = await summarise(self.service.assistant, conv, self.service.prompts)
        new_ticket = False
        try:
            async with self.store.write() as tx:
                ticket_id, new_ticket = await self._open_ticket(tx, d, conv, summary, how=how, me=me)
                created = TicketCreated(ticket_id, d.id, how)
                if new_ticket:
                    await self.tickets.events.record(tx, created)
        except LinkExists:
            async with self.store.read() as tx:
                info = await ChatTx(tx).get(d.id, conversation_id)
            if info is None or info.ticket_id is None:
                raise HelpdeskError(f"conversation {conversation_id} was linked elsewhere; try again") from None
            ticket_id = info.ticket_id
        if how == "takeover" and me is not None and not new_ticket:
            await self._claim(ticket_id, me)
        if new_ticket:
            try:
                await self.tickets.events.publish(created)
            except Exception:  # noqa: BLE001 - the ticket stands; routing can be done by hand
                log.exception("after creating ticket #%s", ticket_id)
        return ticket_id, new_ticket

    async def _claim(self, ticket_id: int, me: Agent) -> None:
        """A takeover that found the ticket already made: give it to *me*, On you."""
        ticket = await self.tickets.get(ticket_id)
        if ticket.assignee is None or ticket.assignee.id != me.id:
            await self.tickets.assign(ticket_id, me.login, actor=me, reason="took over the conversation")
        if ticket.status in (Status.NEW, Status.ON_CUSTOMER, Status.ON_HOLD):
            await self.tickets.set_status(ticket_id, Status.ON_YOU, actor=me, reason="took over the conversation")

    async def _open_ticket(
        self, tx: Tx, d: _Desk, conv: Conversation, summary: Summary | None, *, how: str, me: Agent | None,
    ) -> tuple[int, bool]:
        """Inside one transaction: the ticket (or the open one reused), its entries and the link."""
        chat = ChatTx(tx)
        await self.service._record(chat, d.id, conv)
        info = await chat.get(d.id, conv.id, lock=True)
        assert info is not None
        if info.handled and info.ticket_id:
            return info.ticket_id, False
        episode = info.episode + 1
        existing = await chat.linked_ticket(d.id, conv.id, episode)
        if existing is not None:
            return existing, False
        messages = conv.messages or ()
        actor_name = me.name if me else SYSTEM
        previous = await tx.get_ticket(info.ticket_id) if info.ticket_id else None
        reuse = previous is not None and previous.status.is_active
        if reuse:
            assert previous is not None
            ticket_id = previous.id
            what = (f"Taken over from the chatbot by {me.name}" if how == "takeover" and me
                    else f"Escalated again by the chatbot: {one_line(conv.escalation_reason or 'no reason given', 300)}")
            await self.tickets.event(tx, ticket_id, what, {"event": how, "conversation": conv.id, "by": me.login if me else None})
            values: dict = {"ai_replies_allowed": False, "updated_at": tx.now()}
            if how == "takeover" and me:
                values["assignee_id"] = me.id
                if previous.assignee is None or previous.assignee.id != me.id:
                    await self.tickets.event(tx, ticket_id, f"Assigned to {me.name} by {me.name} (took over the conversation)", {
                        "event": "assign", "to": me.login, "from": previous.assignee.login if previous.assignee else None,
                        "by": me.login, "reason": "takeover"})
                if previous.status is not Status.ON_YOU:
                    values["status"] = Status.ON_YOU
                    await self.tickets.status_event(tx, previous, Status.ON_YOU, me, "took over the conversation")
            await tx.update_ticket(ticket_id, expected_version=None, actor=actor_name, **values)
        else:
            ticket_id = await self._create(tx, d, conv, summary, how=how, me=me,
                                           follow_up_of=previous.id if previous else None)
        await self.tickets.event(tx, ticket_id, "AI paused on the chat platform", {"event": "ai_paused", "conversation": conv.id})
        await chat.link(d.id, conv.id, episode, ticket_id, how)
        last = messages[-1] if messages else None
        await chat.set_state(
            d.id, conv.id, ticket_id=ticket_id, handled=True, episode=episode, ai_paused=True,
            synced_message_id=last.id if last else None, synced_updated_at=conv.updated_at,
            synced_entry_id=await tx.last_entry_id(ticket_id), attempts=0, next_attempt_at=None, last_error=None,
        )
        await chat.set_transcript(d.id, conv.id, [_line(m) for m in messages])
        await tx.record_change(ticket_id, "message" if reuse else "created", me.id if me else None)
        await tx.record_change(None, "conversations", None)
        return ticket_id, not reuse

    async def _create(
        self, tx: Tx, d: _Desk, conv: Conversation, summary: Summary | None, *, how: str, me: Agent | None,
        follow_up_of: int | None,
    ) -> int:
        user = conv.user
        messages = conv.messages or ()
        customer = [m for m in messages if m.role is MessageRole.USER and m.text.strip()]
        subject = summary.subject if summary else _fallback_subject(conv, customer)
        requester = await tx.find_or_create_requester(
            email=user.email, name=one_line(user.name, 300), language=user.language[:16] or None,
            chatbot_user_id=user.id,
        )
        takeover = how == "takeover" and me is not None
        summary_text = summary.text if summary else SUMMARY_UNAVAILABLE
        ticket_id = await tx.insert_ticket(
            desk_id=d.id, type=TicketType.LIVE_CHAT, channel=(one_line(conv.channel, 32) or "chat").lower(),
            subject=subject, requester_id=requester.id, status=Status.ON_YOU if takeover else Status.NEW,
            assignee_id=me.id if takeover else None, conversation_id=conv.id,
            language=user.language[:16] or None, summary=summary_text, ai_replies_allowed=False,
            follow_up_of=follow_up_of, actor=me.name if me else requester.display,
        )
        transcript, shown = transcript_text(messages, requester.display)
        body = summary_text
        if conv.escalation_reason:
            body += f"\n\nReason given by the chatbot: {conv.escalation_reason}"
        await tx.insert_entry(
            ticket_id=ticket_id, kind=EntryKind.NOTE, body=body, author_name=SUMMARY_AUTHOR,
            meta={"chat": "summary", "conversation": conv.id, "summary": "ai" if summary else "unavailable",
                  "quoted": transcript, "quoted_label": "chat transcript", "messages": len(messages),
                  "shown": shown},
            search_extra=f"{subject}\n{transcript}",
        )
        if follow_up_of:
            await self.tickets.event(tx, ticket_id, f"Follow-up of #{follow_up_of}", {"event": "follow_up", "of": follow_up_of})
        if takeover:
            assert me is not None
            await self.tickets.event(tx, ticket_id, f"Taken over from the chatbot by {me.name}",
                              {"event": "takeover", "conversation": conv.id, "by": me.login})
            await self.tickets.event(tx, ticket_id, f"Assigned to {me.name} by {me.name} (took over the conversation)",
                              {"event": "assign", "to": me.login, "from": None, "by": me.login, "reason": "takeover"})
        else:
            reason = one_line(conv.escalation_reason or "no reason given", 300)
            await self.tickets.event(tx, ticket_id, f"Escalated by the chatbot: {reason}",
                              {"event": "escalation", "conversation": conv.id})
        last_customer = customer[-1] if customer else None
        values: dict = {"updated_at": tx.now()}
        if last_customer is not None:
            values.update(preview=one_line(last_customer.text, PREVIEW_CHARS), last_message_by=Author.CUSTOMER,
                          last_message_at=naive(last_customer.created_at))
        await tx.update_ticket(ticket_id, expected_version=None, actor=me.name if me else requester.display, **values)
        return ticket_id


def _fallback_subject(conv: Conversation, customer: Sequence[ChatMessage]) -> str:
    """Without a summary: the customer's first words, else the bot's reason, else who it is."""
    for m in customer:
        text = one_line(m.text, 80)
        if text:
            return text
    if conv.escalation_reason and one_line(conv.escalation_reason):
        return one_line(conv.escalation_reason, 80)
    who = one_line(conv.user.name, 60) or "a customer"
    return f"Live chat with {who}"
