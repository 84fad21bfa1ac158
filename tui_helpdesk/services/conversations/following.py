"""Following a handled conversation: takeover, the chat copied onto its ticket, handing back.

While a person has the conversation, new customer messages arrive on the
ticket as customer messages (moving its status, SPEC §2); platform notices
and bot messages as events. "Allow AI replies" resumes the bot on the
platform first; only when that worked is the ticket closed with an
"AI resumed" event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...domain.chat.model import ConversationState, MessageRole
from ...adapters.store.chatstore import ChatTx, naive
from ...adapters.store.repository import Store
from ...domain.errors import UsageError
from ...domain.model import Agent, EntryKind, Status, Ticket, TicketType
from ..tickets import SYSTEM, TicketService
from .common import ChatNotConfigured, _Desk, _event_text, _line

if TYPE_CHECKING:
    from .service import ConversationService


class Following:
    """Takeover, sync and hand-back of handled conversations; part of :class:`ConversationService`."""

    def __init__(self, service: ConversationService, store: Store, tickets: TicketService) -> None:
        self.service = service
        self.store = store
        self.tickets = tickets

    async def takeover(self, conversation_id: str, me: Agent, desk: str | int | None = None) -> int:
        """Take a conversation over: a ticket assigned to *me* in On you; returns its id.

        A conversation a person already has returns its ticket. An ended one
        raises :class:`UsageError`; a platform failure raises its
        :class:`ChatbotError` and changes nothing here.
        """
        d = await self.service._desk(desk)
        async with self.store.read() as tx:
            info = await ChatTx(tx).get(d.id, conversation_id)
        if info is not None and info.handled and info.ticket_id:
            return info.ticket_id
        if info is not None and info.state == "ended":
            raise UsageError("this conversation has ended; it cannot be taken over")
        ticket_id, _ = await self.service.escalation.hand_off(d, conversation_id, how="takeover", me=me)
        assert ticket_id is not None
        return ticket_id

    async def sync(self, d: _Desk, conversation_id: str) -> None:
        """Copy what happened in a handled conversation onto its ticket."""
        client = await self.service.client(d)
        conv = await client.get_conversation(conversation_id)
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            await self.service._record(chat, d.id, conv)
            info = await chat.get(d.id, conversation_id, lock=True)
            await chat.set_transcript(d.id, conversation_id, [_line(m) for m in conv.messages or ()])
            if info is None or not info.handled or info.ticket_id is None:
                return
            replies = await chat.replies(conversation_id=conversation_id, desk_id=d.id)
            ours = {r.message_id for r in replies if r.message_id}
            sent = {(r.agent_name, r.text) for r in replies}
            known = {e.meta.get("chat_message") for e in
                     await tx.entries_since(info.ticket_id, info.synced_entry_id, (EntryKind.MESSAGE, EntryKind.EVENT))
                     if isinstance(e.meta, dict)}
        messages = list(conv.messages or ())
        start = 0
        if info.synced_message_id is not None:
            ids = [m.id for m in messages]
            if info.synced_message_id in ids:
                start = ids.index(info.synced_message_id) + 1
            elif info.synced_updated_at is not None:
                start = next((i for i, m in enumerate(messages) if naive(m.created_at) > info.synced_updated_at),
                             len(messages))
        ticket_id = info.ticket_id
        for m in messages[start:]:
            if m.id in known:
                continue
            if m.role is MessageRole.USER:
                if not m.text.strip():
                    continue
                try:
                    result = await self.tickets.add_customer_message(
                        ticket_id, m.text, at=naive(m.created_at), meta={"chat_message": m.id, "channel": conv.channel})
                except UsageError as exc:  # e.g. too long: say so rather than retry it forever
                    await self.tickets.add_event(ticket_id, f"A chat message could not be added: {exc}",
                                                 {"event": "chat", "chat_message": m.id, "role": m.role.value})
                    continue
                if result.follow_up:
                    ticket_id = result.ticket.id
                    async with self.store.write() as tx:
                        await ChatTx(tx).set_state(d.id, conversation_id, ticket_id=ticket_id, synced_entry_id=0)
            elif m.role is MessageRole.HUMAN_AGENT and (m.id in ours or (m.author_name, m.text) in sent):
                continue
            else:
                await self.tickets.add_event(ticket_id, _event_text(m), {"event": "chat", "chat_message": m.id,
                                                                         "role": m.role.value})
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            values: dict = {"synced_updated_at": conv.updated_at, "ticket_id": ticket_id}
            if messages:
                values["synced_message_id"] = messages[-1].id
            values["synced_entry_id"] = await tx.last_entry_id(ticket_id)
            if conv.state is ConversationState.ONGOING and not conv.ai_paused:
                # Handed back to the bot outside the help desk.
                values["handled"] = False
                await self.tickets.event(tx, ticket_id, "The chatbot answers this conversation again (resumed on the platform)",
                                  {"event": "ai_resumed", "conversation": conversation_id, "by": None})
                await tx.update_ticket(ticket_id, expected_version=None, actor=SYSTEM, ai_replies_allowed=True,
                                       updated_at=tx.now())
                await tx.record_change(ticket_id, "event", None)
            await chat.set_state(d.id, conversation_id, **values)
            await tx.record_change(None, "conversations", None)

    async def allow_ai_replies(self, ticket_id: int, me: Agent) -> Ticket:
        """Let the bot answer again: resume it on the platform, then close the ticket.

        The platform is asked first; when that fails its error is raised and
        nothing changes here.
        """
        ticket = await self.tickets.get(ticket_id)
        if ticket.type is not TicketType.LIVE_CHAT or not ticket.conversation_id:
            raise UsageError(f"#{ticket_id} is not a live chat; only live-chat tickets can be handed to the chatbot")
        d = await self.service.desk_for(ticket.desk_id)
        if d is None:
            raise ChatNotConfigured("this ticket's desk has no chatbot platform configured")
        client = await self.service.client(d)
        conv = await client.resume_ai(ticket.conversation_id)
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            current = await tx.get_ticket(ticket_id, for_update=True)
            values: dict = {"ai_replies_allowed": True, "updated_at": tx.now()}
            if current.status.is_active:
                values["status"] = Status.CLOSED
                values["closed_at"] = tx.now()
                await self.tickets.status_event(tx, current, Status.CLOSED, me, "AI resumed")
            await tx.update_ticket(ticket_id, expected_version=None, actor=me.name, **values)
            await self.tickets.event(tx, ticket_id, f"AI resumed by {me.name}: the chatbot answers this conversation again",
                              {"event": "ai_resumed", "conversation": conv.id, "by": me.login})
            await self.service._record(chat, d.id, conv)
            info = await chat.get(d.id, conv.id, lock=True)
            if info is not None and info.ticket_id in (ticket_id, None):
                await chat.set_state(d.id, conv.id, handled=False, ticket_id=ticket_id,
                                     synced_updated_at=conv.updated_at, synced_entry_id=await tx.last_entry_id(ticket_id))
            await tx.record_change(ticket_id, "status", me.id)
            await tx.record_change(None, "conversations", None)
            return await tx.get_ticket(ticket_id)

    async def mark_ended(self, d: _Desk, conversation_id: str) -> None:
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            if await chat.get(d.id, conversation_id, lock=True) is not None:
                await chat.set_state(d.id, conversation_id, state="ended")
                await tx.record_change(None, "conversations", None)
