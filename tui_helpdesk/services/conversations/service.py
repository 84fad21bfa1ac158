"""The conversation service: the one object the app holds for chatbot conversations.

It knows the desks that have a chatbot platform, builds (through the factory
bootstrap gives it) and keeps one platform client per desk, reads
conversations for the Conversations view, and records what the platform says
about a conversation. The work itself is done by its parts: the poller
(:mod:`.poller`), escalation (:mod:`.escalation`) and following the chat
(:mod:`.following`); their public entry points are methods here.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ...domain.chat.model import Conversation
from ...adapters.store.chatstore import ChatLine, ChatTx, ConversationInfo, PollStatus
from ...adapters.store.repository import Store
from ...domain.errors import NotFound
from ...domain.model import Agent, Ticket
from ...settings import Settings
from ..ports import Assistant, ChatPlatform, ChatPlatformFactory
from ..tickets import TicketService
from .common import ENDED_SHOWN, ChatNotConfigured, PollReport, _Desk, _line
from .escalation import Escalation
from .following import Following
from .poller import ChatPoller

if TYPE_CHECKING:
    from ..chat_outbox import ChatOutbox


class ConversationService:
    """Conversations of every desk with a chatbot platform; see the package docstring."""

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
        self.prompts = None  # the team's prompt files (services.ai.prompts.Prompts); None: the packaged ones
        self.outbox: "ChatOutbox | None" = None
        self._settings = {d.slug: d for d in settings.desks if d.enabled and d.chatbot.base_url}
        self.chat_platform_factory = chat_platform_factory
        self._clients: dict[str, ChatPlatform] = {}
        self._desk_ids: dict[str, int] = {}
        self.poller = ChatPoller(self, store)
        self.escalation = Escalation(self, store, tickets)
        self.following = Following(self, store, tickets)

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

    async def _record(self, chat: ChatTx, desk_id: int, conv: Conversation) -> tuple[ConversationInfo | None, ConversationInfo]:
        last = conv.last_message
        return await chat.upsert(
            desk_id, id=conv.id, state=conv.state.value, channel=conv.channel, user_id=conv.user.id,
            user_name=conv.user.name, user_email=conv.user.email, language=conv.user.language,
            ai_paused=conv.ai_paused, escalation_reason=conv.escalation_reason, created_at=conv.created_at,
            updated_at=conv.updated_at,
            last=ChatLine(None, last.role.value, last.text, last.created_at) if last is not None else None,
        )

    async def forget(self, desk: str | int | None = None) -> None:
        """Start afresh with a new platform behind a desk (the demo's simulator restarts empty).

        The desk's conversations, links and cursor are dropped; tickets stay.
        """
        d = await self._desk(desk)
        async with self.store.write() as tx:
            await ChatTx(tx).forget(d.id, "the chat platform was replaced")
            await tx.record_change(None, "conversations", None)

    # ------------------------------------------------------------ the parts

    async def poll_once(self, desk: str | int | None = None) -> PollReport:
        """Read the change feed once (all pages), then do the work it brought; see :meth:`ChatPoller.poll_once`."""
        return await self.poller.poll_once(desk)

    async def work(self, d: _Desk, report: PollReport | None = None) -> PollReport:
        """Escalate, and bring tickets up to date, for every conversation that is due."""
        return await self.poller.work(d, report)

    async def takeover(self, conversation_id: str, me: Agent, desk: str | int | None = None) -> int:
        """Take a conversation over: a ticket assigned to *me* in On you; returns its id."""
        return await self.following.takeover(conversation_id, me, desk)

    async def allow_ai_replies(self, ticket_id: int, me: Agent) -> Ticket:
        """Let the bot answer again: resume it on the platform, then close the ticket."""
        return await self.following.allow_ai_replies(ticket_id, me)

    def start(self) -> None:
        """Run the poller (and the chat outbox) of every configured desk in the background."""
        self.poller.start()

    @property
    def running(self) -> bool:
        return self.poller.running

    @property
    def holder(self) -> str:
        """Who this process is when it holds a desk's lease."""
        return self.poller.holder

    def wake(self, desk_id: int | None = None) -> None:
        """Ask the pollers to look at the outbox (and the feed) soon."""
        self.poller.wake(desk_id)

    async def hold_lease(self, desk: str | int | None = None) -> bool:
        """Take or renew this process's lease on a desk's chatbot work."""
        return await self.poller.hold_lease(desk)

    async def release_lease(self, desk: str | int | None = None) -> None:
        await self.poller.release_lease(desk)

    async def aclose(self) -> None:
        """Stop the background work, give up the leases and close the HTTP clients."""
        await self.poller.stop()
        for client in list(self._clients.values()):
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()
