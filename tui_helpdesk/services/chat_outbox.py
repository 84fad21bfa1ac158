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
attempts) — never silently dropped. The retrying and settling is the shared
outbox mechanism of :mod:`.outbox_engine`; this module is its chat channel.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..domain.chat.errors import (
    BadResponse,
    ChatbotError,
    NotFound as ChatNotFound,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
)
from ..adapters.store.chatstore import ChatTx
from ..adapters.store.repository import Store, Tx
from ..domain.outbox import ChatOutboxItem
from ..domain.model import Agent, Ticket, TicketType, TimelineEntry
from ..domain.text import one_line
from .outbox_engine import (
    FAILED,
    QUEUED,
    RETRY,
    SENT,
    Answer,
    Attempt,
    DrainReport,
    Note,
    OutboxEngine,
    Progress,
    RetryPolicy,
    Settled,
)
from .ports import ChatPlatform

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
        self.engine = OutboxEngine(store, conversations.tickets)

    # -------------------------------------------------------------- queueing

    async def can_deliver(self, tx: Tx, ticket: Ticket) -> str | None:
        """Why a reply on live-chat ticket *ticket* cannot reach the chat, or None when it may.

        Only what the help desk already knows: a conversation the poller saw
        end takes no more replies. One that ended unseen fails when posted.
        """
        if ticket.type is not TicketType.LIVE_CHAT or not ticket.conversation_id:
            return None
        info = await ChatTx(tx).get(ticket.desk_id, ticket.conversation_id)
        if info is not None and info.state == "ended":
            return "the customer's chat has ended"
        return None

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
            await self.conversations.tickets.event(tx, ticket.id, f"Reply not sent to the chat: {problem}",
                                                   {"event": "chat_delivery", "entry": entry.id, "ok": False,
                                                    "final": True})
        else:
            self.conversations.wake(ticket.desk_id)

    # --------------------------------------------------------------- sending

    async def send_due(self, desk_id: int, *, limit: int = 20) -> int:
        """Post the replies of *desk_id* whose time has come; returns how many were delivered."""
        desk = await self.conversations.desk_for(desk_id)
        if desk is None:
            return 0
        async with self.store.read() as tx:
            due = await ChatTx(tx).due_replies(desk_id, limit=1)
        if not due:
            return 0  # without asking for a client: that can be slow or not configured
        client = await self.conversations.client(desk)
        report = DrainReport()
        # The desk's poller holds the desk's lease: no lease of its own here.
        await self.engine.drain(_ChatChannel(desk_id, client), report, limit=limit, once=True)
        return report.sent

    async def send_due_once(self, desk: str, *, limit: int = 1000) -> int | None:
        """One pass for ``helpdesk sync --once``: take the desk's lease, post what is due, give the lease back.

        Returns how many were delivered, or None when another process holds
        the desk (its poller posts them).
        """
        conversations = self.conversations
        if not await conversations.hold_lease(desk):
            return None
        try:
            d = await conversations._desk(desk)
            return await self.send_due(d.id, limit=limit)
        finally:
            await conversations.release_lease(desk)

    async def pending(self, ticket_id: int) -> list[ChatOutboxItem]:
        """The chat replies of a ticket not delivered yet (pending or failed)."""
        async with self.store.read() as tx:
            return [r for r in await ChatTx(tx).replies(ticket_id=ticket_id) if r.status != "sent"]


# ----------------------------------------------------------------- channel

ONE = "chat"  # the one recipient of a chat reply: the conversation


class _ChatChannel:
    """The pending chat replies of one desk, posted with ``post_reply`` (a channel of :mod:`.outbox_engine`)."""

    claims = False  # the desk's lease is enough: rows stay "pending" while they are posted
    connections = 1
    policy = RetryPolicy(RETRY_BASE, RETRY_CAP, MAX_ATTEMPTS)

    def __init__(self, desk_id: int, client: ChatPlatform):
        self.desk_id = desk_id
        self.client = client

    async def claim(self, tx: Tx, limit: int) -> list[ChatOutboxItem]:
        return await ChatTx(tx).due_replies(self.desk_id, limit=limit)

    async def stranded(self, tx: Tx) -> list[Settled]:
        return []

    def progress(self, item: ChatOutboxItem) -> Progress:
        return Progress(item.attempts, [ONE], reported=item.reported)

    async def send(self, item: ChatOutboxItem, connection: int) -> Attempt:
        try:
            message = await self.client.post_reply(item.conversation_id, item.text, item.agent_name,
                                                   item.idempotency_key)
        except ChatbotError as exc:
            permanent = isinstance(exc, (Rejected, ChatNotFound)) or not isinstance(exc, TRANSIENT)
            return Attempt(
                {ONE: Answer(FAILED if permanent else RETRY, one_line(str(exc), 300))},
                stop=isinstance(exc, (Unavailable, RateLimited)),  # the platform is in trouble: the rest wait too
                retry_after=exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else None,
                detail=exc,
            )
        return Attempt({ONE: Answer(SENT)}, detail=message.id)

    async def current(self, tx: Tx, item: ChatOutboxItem, attempt: Attempt) -> ChatOutboxItem | None:
        current = await ChatTx(tx).reply(item.id)
        if current is None or current.status == "sent":
            return None
        if attempt.results[ONE].state != SENT and current.status != "pending":
            return None
        return current

    async def store(self, tx: Tx, settled: list[Settled]) -> None:
        chat = ChatTx(tx)
        for s in settled:
            item = s.item
            if s.status == SENT:
                await chat.update_reply(item.id, status="sent", message_id=s.attempt.detail, sent_at=tx.now(),
                                        attempts=s.attempts, last_error=None)
            elif s.status == FAILED:
                await chat.update_reply(item.id, status="failed", attempts=s.attempts, last_error=s.problem)
                log.warning("chat reply %s failed: %s", item.idempotency_key, s.problem)
            elif s.status == QUEUED:
                values: dict = {"attempts": s.attempts, "last_error": s.problem, "next_attempt_at": s.next_attempt_at}
                if s.first_failure:
                    values["reported"] = True
                await chat.update_reply(item.id, **values)
                log.info("chat reply %s: %s; retry in %.0fs", item.idempotency_key, s.problem,
                         (s.next_attempt_at - tx.now()).total_seconds())

    def notes(self, s: Settled) -> list[Note]:
        item = s.item
        if s.status == SENT and s.late:
            return [Note(item.ticket_id, f"Reply delivered to the chat after {s.attempts} attempts",
                         {"event": "chat_delivery", "entry": item.entry_id, "ok": True})]
        if s.status == FAILED:
            exc, reason = s.attempt.detail, s.problem
            if isinstance(exc, Rejected) and exc.code == "CONVERSATION_ENDED":
                why = "the customer's chat has ended"
            elif isinstance(exc, ChatNotFound):
                why = "the chat platform does not know this conversation"
            elif not s.gave_up:
                why = f"the chat platform refused it ({reason})"
            else:
                why = f"gave up after {s.attempts} attempts ({reason})"
            return [Note(item.ticket_id, f"Reply not delivered to the chat: {why}",
                         {"event": "chat_delivery", "entry": item.entry_id, "ok": False, "final": True,
                          "error": reason})]
        if s.status == QUEUED and s.first_failure:
            return [Note(item.ticket_id, f"Reply not delivered to the chat yet ({s.problem}); retrying",
                         {"event": "chat_delivery", "entry": item.entry_id, "ok": False, "final": False,
                          "error": s.problem})]
        return []

