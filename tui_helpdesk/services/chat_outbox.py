"""Replies on live-chat tickets go into the customer's chat thread, through an outbox.

:meth:`ChatOutbox.queue` is a reply hook of :class:`~.tickets.TicketService`:
it runs inside the reply's transaction, so the timeline entry and its outbox
row are committed together (or not at all). The desk's poller (one process
per desk, see :mod:`.conversations`) calls :meth:`ChatOutbox.send_due`, which
posts each pending reply with ``post_reply``; the idempotency key is derived
from the timeline entry, so a retry after a lost answer never posts twice.

Failures are retried with backoff and shown on the ticket as events: the
first failure ("not delivered yet, retrying"), the delivery after it, and a
final failure (the platform refused, the conversation ended, or too many
attempts) — never silently dropped.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from ..adapters.store.chatstore import ChatTx
from ..adapters.store.repository import Store, Tx
from ..domain.chat.errors import (
    BadResponse,
    ChatbotError,
    NotFound as ChatNotFound,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
)
from ..domain.model import Agent, EntryKind, Ticket, TicketType, TimelineEntry
from ..domain.outbox import ChatOutboxItem
from ..domain.text import one_line
from .tickets import SYSTEM

if TYPE_CHECKING:
    from .conversations import ConversationService

log = logging.getLogger(__name__)

MAX_TEXT = 20_000  # what the platform takes in one message
MAX_ATTEMPTS = 10
RETRY_BASE = 5.0
RETRY_CAP = 600.0
TRANSIENT = (Unavailable, RateLimited, BadResponse, Unauthorized)


def idempotency_key(entry_id: int, part: int = 1) -> str:
    """The key a reply is posted with: stable for its timeline entry (and part)."""
    return f"helpdesk-entry-{entry_id}" + (f"-part-{part}" if part > 1 else "")


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """*text* in parts the platform accepts, cut at line breaks where possible."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest.strip() or not parts:
        parts.append(rest)
    return parts


class ChatOutbox:
    def __init__(self, store: Store, conversations: "ConversationService"):
        self.store = store
        self.conversations = conversations

    # -------------------------------------------------------------- queueing

    async def queue(self, tx: Tx, ticket: Ticket, entry: TimelineEntry, actor: Agent) -> None:
        """Reply hook: queue *entry* for the chat thread if *ticket* is a live chat."""
        if ticket.type is not TicketType.LIVE_CHAT or not ticket.conversation_id:
            return
        chat = ChatTx(tx)
        agent_name = one_line(actor.name, 200) or actor.login
        desk = await tx.get_desk(ticket.desk_id)
        configured = desk.slug in self.conversations.desk_slugs()
        problem = None if configured else "this desk has no chatbot platform configured"
        for part, text in enumerate(split_text(entry.body), start=1):
            await chat.queue_reply(
                desk_id=ticket.desk_id, ticket_id=ticket.id, entry_id=entry.id, part=part,
                conversation_id=ticket.conversation_id, text=text, agent_name=agent_name,
                idempotency_key=idempotency_key(entry.id, part),
                status="failed" if problem else "pending", last_error=problem,
            )
        if problem:
            await _event(tx, ticket.id, f"Reply not sent to the chat: {problem}",
                         {"event": "chat_delivery", "entry": entry.id, "ok": False, "final": True})
        else:
            self.conversations.wake(ticket.desk_id)

    # --------------------------------------------------------------- sending

    async def send_due(self, desk_id: int, *, limit: int = 20) -> int:
        """Post the replies of *desk_id* whose time has come; returns how many were delivered."""
        desk = await self.conversations.desk_for(desk_id)
        if desk is None:
            return 0
        async with self.store.read() as tx:
            due = await ChatTx(tx).due_replies(desk_id, limit=limit)
        if not due:
            return 0
        client = await self.conversations.client(desk)
        delivered = 0
        for item in due:
            try:
                message = await client.post_reply(item.conversation_id, item.text, item.agent_name,
                                                   item.idempotency_key)
            except ChatbotError as exc:
                await self._failed(item, exc)
                if isinstance(exc, (Unavailable, RateLimited)):
                    break  # the platform is in trouble: the rest wait too
                continue
            await self._sent(item, message.id)
            delivered += 1
        return delivered

    async def pending(self, ticket_id: int) -> list[ChatOutboxItem]:
        """The chat replies of a ticket not delivered yet (pending or failed)."""
        async with self.store.read() as tx:
            return [r for r in await ChatTx(tx).replies(ticket_id=ticket_id) if r.status != "sent"]

    async def _sent(self, item: ChatOutboxItem, message_id: str) -> None:
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            current = await chat.reply(item.id)
            if current is None or current.status == "sent":
                return
            await chat.update_reply(item.id, status="sent", message_id=message_id, sent_at=tx.now(),
                                    attempts=current.attempts + 1, last_error=None)
            if current.reported:
                tries = current.attempts + 1
                await _event(tx, item.ticket_id, f"Reply delivered to the chat after {tries} attempts",
                             {"event": "chat_delivery", "entry": item.entry_id, "ok": True})
                await tx.record_change(item.ticket_id, "event", None)

    async def _failed(self, item: ChatOutboxItem, exc: ChatbotError) -> None:
        reason = one_line(str(exc), 300)
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            current = await chat.reply(item.id)
            if current is None or current.status != "pending":
                return
            attempts = current.attempts + 1
            permanent = isinstance(exc, (Rejected, ChatNotFound)) or not isinstance(exc, TRANSIENT)
            if permanent or attempts >= MAX_ATTEMPTS:
                if isinstance(exc, Rejected) and exc.code == "CONVERSATION_ENDED":
                    why = "the customer's chat has ended"
                elif isinstance(exc, ChatNotFound):
                    why = "the chat platform does not know this conversation"
                elif permanent:
                    why = f"the chat platform refused it ({reason})"
                else:
                    why = f"gave up after {attempts} attempts ({reason})"
                await chat.update_reply(item.id, status="failed", attempts=attempts, last_error=reason)
                await _event(tx, item.ticket_id, f"Reply not delivered to the chat: {why}",
                             {"event": "chat_delivery", "entry": item.entry_id, "ok": False, "final": True,
                              "error": reason})
                await tx.record_change(item.ticket_id, "event", None)
                log.warning("chat reply %s failed: %s", item.idempotency_key, reason)
                return
            wait = min(RETRY_CAP, RETRY_BASE * 2 ** (attempts - 1))
            if isinstance(exc, RateLimited) and exc.retry_after:
                wait = max(wait, exc.retry_after)
            values: dict = {"attempts": attempts, "last_error": reason,
                            "next_attempt_at": tx.now() + timedelta(seconds=wait)}
            if not current.reported:
                values["reported"] = True
                await _event(tx, item.ticket_id, f"Reply not delivered to the chat yet ({reason}); retrying",
                             {"event": "chat_delivery", "entry": item.entry_id, "ok": False, "final": False,
                              "error": reason})
                await tx.record_change(item.ticket_id, "event", None)
            await chat.update_reply(item.id, **values)
            log.info("chat reply %s: %s; retry in %.0fs", item.idempotency_key, reason, wait)


async def _event(tx: Tx, ticket_id: int, text: str, meta: dict) -> None:
    await tx.insert_entry(ticket_id=ticket_id, kind=EntryKind.EVENT, body=text, author_name=SYSTEM, meta=meta)
