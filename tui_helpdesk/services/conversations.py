"""Live chatbot conversations: the poller, escalation, takeover and handing back (SPEC §3, §7).

One :class:`ConversationService` serves every desk that has a chatbot
platform configured. What it does:

* **Poll.** Per desk, one process at a time (a lease in the database, like the
  mail sync) reads the platform's change feed from the stored cursor and
  records each conversation (state, customer, last message, a short
  transcript). The cursor is saved in the same transaction as the
  conversations, so a crash replays a page at most (the feed is
  at-least-once and everything here is idempotent). Errors and 429s back off.
* **Escalation.** A conversation the platform reports escalated becomes
  exactly one ``live_chat`` ticket: transcript read, AI paused on the
  platform, then — in one transaction — the ticket, its summary note with the
  transcript folded under it, and the link row whose primary key
  (desk, conversation, episode) lets only one of two racing pollers win.
  Assignment runs after the commit. A platform failure leaves nothing behind
  locally and is retried with backoff.
* **Takeover.** The same flow from the Conversations view: taken over on the
  platform, then the ticket is assigned to the agent in On you.
* **Following the chat.** While a person has the conversation, new customer
  messages arrive on the ticket as customer messages (moving its status,
  SPEC §2); platform notices and bot messages as events.
* **Handing back.** "Allow AI replies" resumes the bot on the platform first;
  only when that worked is the ticket closed with an "AI resumed" event.

Subjects and summaries are asked of the AI :class:`~.ports.Assistant`
(see chat_summary); without one the subject is the customer's first words
and the summary says "AI summary unavailable."
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..adapters.chatbot.errors import ChatbotError, InvalidCursor, RateLimited, Rejected, Unavailable
from ..adapters.chatbot.model import ChatMessage, Conversation, ConversationState, MessageRole
from ..adapters.store.chatstore import (
    ChatLine,
    ChatTx,
    ConversationInfo,
    LinkExists,
    PollStatus,
    naive,
)
from ..adapters.store.repository import Store, Tx
from ..domain.errors import ConfigError, HelpdeskError, NotFound, UsageError
from ..domain.events import TicketCreated
from ..domain.model import Agent, Author, EntryKind, Status, Ticket, TicketType
from ..domain.text import clean, one_line
from ..settings import DeskSettings, Settings
from .chat_summary import SUMMARY_UNAVAILABLE, Summary, summarise
from .ports import Assistant, ChatPlatform, ChatPlatformFactory
from .tickets import PREVIEW_CHARS, SYSTEM, TicketService

if TYPE_CHECKING:
    from .chat_outbox import ChatOutbox

log = logging.getLogger(__name__)

SUMMARY_AUTHOR = "Chat summary"
PAGE_LIMIT = 100
MAX_PAGES = 50  # per poll; the rest on the next one
TRANSCRIPT_LINES = 500  # messages written into the summary note
ENDED_SHOWN = timedelta(hours=24)  # ended conversations stay in the view this long
WORK_RETRY_BASE = 5.0
WORK_RETRY_CAP = 300.0
POLL_BACKOFF_CAP = 60.0
ENDED = "CONVERSATION_ENDED"

STATE_LABELS = {
    "ongoing": "ongoing",
    "escalated": "escalated",
    "taken_over": "taken over",
    "ended": "ended",
}


# ---------------------------------------------------------------- reporting


@dataclass
class PollReport:
    """What one poll of one desk did (for tests, logs and ``helpdesk sync``)."""

    changed: int = 0
    created: list[int] = field(default_factory=list)
    synced: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (conversation id, error)


@dataclass(frozen=True, slots=True)
class _Desk:
    slug: str
    id: int
    settings: DeskSettings


class ChatNotConfigured(ConfigError):
    """The desk has no chatbot platform (or no API key) configured."""


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _backoff(attempts: int, base: float, cap: float) -> float:
    return min(cap, base * (2 ** max(0, attempts - 1)))


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ------------------------------------------------------------------ service

class ConversationService:
    """Conversations of every desk with a chatbot platform; see the module docstring."""

    def __init__(
        self,
        store: Store,
        tickets: TicketService,
        settings: Settings,
        *,
        chat_platform_factory: ChatPlatformFactory,
        assistant: Assistant | None = None,
    ) -> None:
        self.store = store
        self.tickets = tickets
        self.assistant = assistant
        self.outbox: "ChatOutbox | None" = None
        self._settings = {d.slug: d for d in settings.desks if d.enabled and d.chatbot.base_url}
        self.chat_platform_factory = chat_platform_factory
        self._clients: dict[str, ChatPlatform] = {}
        self._desk_ids: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self.holder = f"{_holder()}:{id(self):x}"

    # ---------------------------------------------------------------- desks

    @property
    def configured(self) -> bool:
        """True when at least one desk has a chatbot platform."""
        return bool(self._settings)

    def desk_slugs(self) -> list[str]:
        return list(self._settings)

    async def _desk(self, key: str | int | None = None) -> _Desk:
        """A configured desk by slug or id (None: the first one)."""
        if not self._settings:
            raise ChatNotConfigured("no desk has a chatbot platform configured ([desks.chatbot] base_url)")
        if key is None:
            slug = next(iter(self._settings))
        elif isinstance(key, int) or str(key).isdigit():
            slug = next((s for s, i in self._desk_ids.items() if i == int(key)), None)
            if slug is None:
                async with self.store.read() as tx:
                    slug = (await tx.get_desk(int(key))).slug
        else:
            slug = str(key).lower()
        settings = self._settings.get(slug)
        if settings is None:
            raise ChatNotConfigured(f"desk '{slug}' has no chatbot platform configured")
        if slug not in self._desk_ids:
            async with self.store.read() as tx:
                self._desk_ids[slug] = (await tx.get_desk(slug)).id
        return _Desk(slug, self._desk_ids[slug], settings)

    async def desk_names(self) -> dict[int, str]:
        """Database id -> name of every desk with a chatbot platform (for a Desk column)."""
        return {(await self._desk(slug)).id: settings.name or slug for slug, settings in self._settings.items()}

    async def desk_for(self, desk_id: int) -> _Desk | None:
        """The configured desk with database id *desk_id*, or None."""
        try:
            return await self._desk(desk_id)
        except (ChatNotConfigured, NotFound):
            return None

    async def client(self, desk: _Desk) -> ChatPlatform:
        client = self._clients.get(desk.slug)
        if client is not None:
            return client
        key = await asyncio.to_thread(desk.settings.chatbot.api_key.get)
        if not key:
            source = desk.settings.chatbot.api_key
            where = f" (environment variable {source.env})" if source.env else ""
            raise ChatNotConfigured(f"desk '{desk.slug}': the chatbot API key is not set{where}")
        try:
            client = self.chat_platform_factory(desk.settings, key)
        except ValueError as exc:
            raise ChatNotConfigured(f"desk '{desk.slug}': chatbot settings: {exc}") from None
        self._clients[desk.slug] = client
        return client

    # -------------------------------------------------------------- reading

    async def lines(self, desk: str | int | None = None, *, limit: int = 500) -> list[ConversationInfo]:
        """Conversations for the Conversations view: escalated first, then newest first.

        Live ones, and ended ones for a day after they ended.
        """
        desk_id = (await self._desk(desk)).id if desk is not None else None
        async with self.store.read() as tx:
            since = tx.now() - ENDED_SHOWN
            return await ChatTx(tx).lines(desk_id, ended_since=since, limit=limit)

    async def get(self, conversation_id: str, desk: str | int | None = None) -> ConversationInfo | None:
        d = await self._desk(desk)
        async with self.store.read() as tx:
            return await ChatTx(tx).get(d.id, conversation_id)

    async def count_waiting(self) -> int:
        """Live conversations no person has yet: the Conversations count in the rail."""
        async with self.store.read() as tx:
            return await ChatTx(tx).count_waiting()

    async def poll_status(self, desk: str | int | None = None) -> PollStatus:
        d = await self._desk(desk)
        async with self.store.read() as tx:
            return await ChatTx(tx).poll_status(d.id)

    async def refresh_transcript(self, conversation_id: str, desk: str | int | None = None) -> ConversationInfo | None:
        """Read one conversation's whole transcript from the platform into the preview cache.

        The change feed carries only the newest message; the Conversations
        view asks for this when an agent looks at a conversation.
        """
        d = await self._desk(desk)
        conv = await (await self.client(d)).get_conversation(conversation_id)
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            await self._record(chat, d.id, conv)
            await chat.set_transcript(d.id, conv.id, [_line(m) for m in conv.messages or ()])
            return await chat.get(d.id, conv.id)

    # -------------------------------------------------------------- polling

    async def poll_once(self, desk: str | int | None = None) -> PollReport:
        """Read the change feed once (all pages), then do the work it brought.

        Raises the platform's error when the feed cannot be read (the caller
        backs off); failures on single conversations are recorded on them and
        retried later, and do not stop the others.
        """
        d = await self._desk(desk)
        client = await self.client(d)
        report = PollReport()
        async with self.store.read() as tx:
            cursor = (await ChatTx(tx).poll_status(d.id)).cursor
        restarted = False
        for _ in range(MAX_PAGES):
            try:
                convs, next_cursor, more = await client.changed_conversations(cursor, limit=PAGE_LIMIT)
            except InvalidCursor:
                if restarted:
                    raise
                log.warning("desk %s: the chatbot platform forgot our cursor; reading the feed from the start", d.slug)
                restarted, cursor = True, None
                continue
            async with self.store.write() as tx:
                chat = ChatTx(tx)
                for conv in convs:
                    await self._record(chat, d.id, conv)
                await chat.save_cursor(d.id, next_cursor)
                if convs:
                    await tx.record_change(None, "conversations", None)
            report.changed += len(convs)
            cursor = next_cursor
            if not more:
                break
        await self.work(d, report)
        return report

    async def _record(self, chat: ChatTx, desk_id: int, conv: Conversation) -> tuple[ConversationInfo | None, ConversationInfo]:
        last = conv.last_message
        return await chat.upsert(
            desk_id, id=conv.id, state=conv.state.value, channel=conv.channel, user_id=conv.user.id,
            user_name=conv.user.name, user_email=conv.user.email, language=conv.user.language,
            ai_paused=conv.ai_paused, escalation_reason=conv.escalation_reason, created_at=conv.created_at,
            updated_at=conv.updated_at,
            last=ChatLine(None, last.role.value, last.text, last.created_at) if last is not None else None,
        )

    async def work(self, d: _Desk, report: PollReport | None = None) -> PollReport:
        """Escalate, and bring tickets up to date, for every conversation that is due."""
        report = report or PollReport()
        async with self.store.read() as tx:
            due = await ChatTx(tx).work_due(d.id)
        for info in due:
            try:
                if info.handled:
                    await self._sync(d, info.id)
                    report.synced += 1
                else:
                    ticket_id, new = await self._hand_off(d, info.id, how="escalation")
                    if new:
                        report.created.append(ticket_id)
            except (ChatbotError, HelpdeskError) as exc:
                await self._failed(d, info.id, exc)
                report.failed.append((info.id, str(exc)))
                if isinstance(exc, (Unavailable, RateLimited)):
                    break  # the platform as a whole is in trouble: not now
            else:
                async with self.store.write() as tx:
                    await ChatTx(tx).succeed(d.id, info.id)
        return report

    async def _failed(self, d: _Desk, conversation_id: str, exc: Exception) -> None:
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            info = await chat.get(d.id, conversation_id, lock=True)
            attempts = (info.attempts if info else 0) + 1
            wait = _backoff(attempts, WORK_RETRY_BASE, WORK_RETRY_CAP)
            if isinstance(exc, RateLimited) and exc.retry_after:
                wait = max(wait, exc.retry_after)
            await chat.fail(d.id, conversation_id, one_line(str(exc), 400), tx.now() + timedelta(seconds=wait))
            await tx.record_change(None, "conversations", None)
        log.warning("desk %s: conversation %s: %s (retrying in %.0fs)", d.slug, conversation_id, exc, wait)

    # ------------------------------------------------------- hand-off flow

    async def takeover(self, conversation_id: str, me: Agent, desk: str | int | None = None) -> int:
        """Take a conversation over: a ticket assigned to *me* in On you; returns its id.

        A conversation a person already has returns its ticket. An ended one
        raises :class:`UsageError`; a platform failure raises its
        :class:`ChatbotError` and changes nothing here.
        """
        d = await self._desk(desk)
        async with self.store.read() as tx:
            info = await ChatTx(tx).get(d.id, conversation_id)
        if info is not None and info.handled and info.ticket_id:
            return info.ticket_id
        if info is not None and info.state == "ended":
            raise UsageError("this conversation has ended; it cannot be taken over")
        ticket_id, _ = await self._hand_off(d, conversation_id, how="takeover", me=me)
        assert ticket_id is not None
        return ticket_id

    async def _hand_off(
        self, d: _Desk, conversation_id: str, *, how: str, me: Agent | None = None,
    ) -> tuple[int | None, bool]:
        """Platform first (takeover or pause, transcript), then one transaction for the ticket.

        Returns the ticket id (None when the conversation is no longer
        escalated) and whether this call created the ticket.
        """
        client = await self.client(d)
        if how == "takeover":
            try:
                await client.take_over(conversation_id)
            except Rejected as exc:
                if exc.code == ENDED:
                    await self._mark_ended(d, conversation_id)
                    raise UsageError("this conversation has ended; it cannot be taken over") from None
                raise
        conv = await client.get_conversation(conversation_id)
        if how == "escalation":
            if conv.state is not ConversationState.ESCALATED:
                # Ended or handed back meanwhile: record that, nothing to open.
                async with self.store.write() as tx:
                    await self._record(ChatTx(tx), d.id, conv)
                    await tx.record_change(None, "conversations", None)
                return None, False
            if not conv.ai_paused:
                await client.pause_ai(conversation_id)
        summary = await summarise(self.assistant, conv)
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
        await self._record(chat, d.id, conv)
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

    async def _mark_ended(self, d: _Desk, conversation_id: str) -> None:
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            if await chat.get(d.id, conversation_id, lock=True) is not None:
                await chat.set_state(d.id, conversation_id, state="ended")
                await tx.record_change(None, "conversations", None)

    # ------------------------------------------------- following the chat

    async def _sync(self, d: _Desk, conversation_id: str) -> None:
        """Copy what happened in a handled conversation onto its ticket."""
        client = await self.client(d)
        conv = await client.get_conversation(conversation_id)
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            await self._record(chat, d.id, conv)
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

    # ------------------------------------------------------------ hand back

    async def allow_ai_replies(self, ticket_id: int, me: Agent) -> Ticket:
        """Let the bot answer again: resume it on the platform, then close the ticket.

        The platform is asked first; when that fails its error is raised and
        nothing changes here.
        """
        ticket = await self.tickets.get(ticket_id)
        if ticket.type is not TicketType.LIVE_CHAT or not ticket.conversation_id:
            raise UsageError(f"#{ticket_id} is not a live chat; only live-chat tickets can be handed to the chatbot")
        d = await self.desk_for(ticket.desk_id)
        if d is None:
            raise ChatNotConfigured("this ticket's desk has no chatbot platform configured")
        client = await self.client(d)
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
            await self._record(chat, d.id, conv)
            info = await chat.get(d.id, conv.id, lock=True)
            if info is not None and info.ticket_id in (ticket_id, None):
                await chat.set_state(d.id, conv.id, handled=False, ticket_id=ticket_id,
                                     synced_updated_at=conv.updated_at, synced_entry_id=await tx.last_entry_id(ticket_id))
            await tx.record_change(ticket_id, "status", me.id)
            await tx.record_change(None, "conversations", None)
            return await tx.get_ticket(ticket_id)

    async def forget(self, desk: str | int | None = None) -> None:
        """Start afresh with a new platform behind a desk (the demo's simulator restarts empty).

        The desk's conversations, links and cursor are dropped; tickets stay.
        """
        d = await self._desk(desk)
        async with self.store.write() as tx:
            await ChatTx(tx).forget(d.id, "the chat platform was replaced")
            await tx.record_change(None, "conversations", None)

    # --------------------------------------------------------- background

    def start(self) -> None:
        """Run the poller (and the chat outbox) of every configured desk in the background.

        Every process may call this: a lease lets one of them work per desk
        at a time; the others wait and take over when it stops renewing.
        Idempotent; :meth:`aclose` stops it.
        """
        loop = asyncio.get_running_loop()
        for slug in self._settings:
            task = self._tasks.get(slug)
            if task is None or task.done():
                self._wake[slug] = asyncio.Event()
                self._tasks[slug] = loop.create_task(self._run(slug), name=f"chatbot poller {slug}")

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks.values())

    def wake(self, desk_id: int | None = None) -> None:
        """Ask the pollers to look at the outbox (and the feed) soon."""
        for slug, event in self._wake.items():
            if desk_id is None or self._desk_ids.get(slug) in (desk_id, None):
                event.set()

    async def aclose(self) -> None:
        """Stop the background work, give up the leases and close the HTTP clients."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for client in list(self._clients.values()):
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()

    def _lease_name(self, slug: str) -> str:
        return f"chatbot:{slug}"

    async def hold_lease(self, desk: str | int | None = None) -> bool:
        """Take or renew this process's lease on a desk's chatbot work."""
        d = await self._desk(desk)
        ttl = timedelta(seconds=max(20.0, 5 * d.settings.chatbot.poll_seconds))
        async with self.store.write() as tx:
            return await tx.acquire_lease(self._lease_name(d.slug), self.holder, ttl)

    async def release_lease(self, desk: str | int | None = None) -> None:
        d = await self._desk(desk)
        async with self.store.write() as tx:
            await tx.release_lease(self._lease_name(d.slug), self.holder)

    async def _run(self, slug: str) -> None:
        interval = max(0.2, float(self._settings[slug].chatbot.poll_seconds or 3.0))
        failures = 0
        holding = False
        try:
            while True:
                wait = interval
                try:
                    holding = await self.hold_lease(slug)
                    if holding:
                        ok, wait = await self._cycle(slug, interval, failures)
                        failures = 0 if ok else failures + 1
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a lost database must not end the poller
                    log.exception("desk %s: chatbot poller", slug)
                    failures += 1
                    wait = _backoff(failures, interval, POLL_BACKOFF_CAP)
                event = self._wake[slug]
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await event.wait()
                event.clear()
        finally:
            if holding:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.release_lease(slug))

    async def _cycle(self, slug: str, interval: float, failures: int) -> tuple[bool, float]:
        """One round for a desk this process holds: outbox, then feed. Returns (ok, wait before the next)."""
        d = await self._desk(slug)
        if self.outbox is not None:
            try:
                await self.outbox.send_due(d.id)
            except ChatNotConfigured:
                pass  # said below, by the poll
            except Exception:  # noqa: BLE001 - replies wait for the next round
                log.exception("desk %s: chat outbox", slug)
        try:
            await self.poll_once(slug)
        except ChatNotConfigured as exc:
            await self._poll_failed(d, str(exc), None)
            return False, max(interval, 30.0)
        except ChatbotError as exc:
            wait = _backoff(failures + 1, max(interval, 1.0), POLL_BACKOFF_CAP)
            if isinstance(exc, RateLimited) and exc.retry_after:
                wait = max(wait, exc.retry_after)
            await self._poll_failed(d, str(exc), naive(self.store.clock()) + timedelta(seconds=wait))
            log.warning("desk %s: chatbot poll failed: %s (retrying in %.0fs)", slug, exc, wait)
            return False, wait
        return True, interval

    async def _poll_failed(self, d: _Desk, error: str, retry_at: datetime | None) -> None:
        async with self.store.write() as tx:
            await ChatTx(tx).poll_failed(d.id, one_line(error, 400), retry_at)
            await tx.record_change(None, "conversations", None)


# ------------------------------------------------------------------ helpers


def _line(m: ChatMessage) -> ChatLine:
    return ChatLine(m.id, m.role.value, m.text, naive(m.created_at), m.author_name)


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


def _event_text(m: ChatMessage) -> str:
    text = one_line(m.text, 300)
    if m.role is MessageRole.ASSISTANT:
        return f"Chatbot said: {text}"
    if m.role is MessageRole.HUMAN_AGENT:
        return f"{one_line(m.author_name or 'A teammate', 60)} wrote on the chat platform: {text}"
    return f"Chat: {text}"


def transcript_text(messages: Sequence[ChatMessage], customer: str) -> tuple[str, int]:
    """The transcript as plain text for the folded part of the summary note; (text, messages shown).

    Times are UTC; the date is written on the first line and when it changes.
    """
    shown = list(messages)[-TRANSCRIPT_LINES:]
    lines: list[str] = []
    if len(messages) > len(shown):
        lines.append(f"({len(messages) - len(shown)} earlier messages not shown)")
    day = None
    for m in shown:
        at = _utc(m.created_at)
        stamp = at.strftime("%H:%M") if at else "--:--"
        if at and at.date() != day:
            day = at.date()
            lines.append(f"— {day.isoformat()} (UTC) —")
        if m.role is MessageRole.USER:
            who = one_line(customer, 60) or "Customer"
        elif m.role is MessageRole.ASSISTANT:
            who = "Chatbot"
        elif m.role is MessageRole.HUMAN_AGENT:
            who = f"{one_line(m.author_name or 'Teammate', 60)} (teammate)"
        else:
            who = "Platform"
        body = clean(m.text).strip("\n").split("\n") or [""]
        lines.append(f"{stamp} {who}: {body[0]}")
        lines.extend(f"      {rest}" for rest in body[1:])
    return "\n".join(lines), len(shown)


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)

