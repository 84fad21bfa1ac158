"""Wire once: build the store and the services from settings.

The App, the CLI and the API server all receive a :class:`Helpdesk`; nothing
opens a database or a client at import time. The channel services (mail, the
chatbot platform and their outboxes) are built on first use: a command such as
``helpdesk ticket list`` never pays for importing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from .adapters.store.repository import Store, Tx
from .domain.events import AssigneeChanged, CustomerMessageAdded, ReplyAdded, StatusChanged, TicketCreated
from .domain.model import Ticket, TicketType
from .services.agents import AgentService
from .services.assignment import AssignmentService
from .services.desk_settings import DeskSettingsService
from .services.events import EventBus
from .services.feed import ChangeFeed
from .services.tickets import TicketService
from .services.views import ViewService
from .settings import Settings

if TYPE_CHECKING:
    from .services.ai import AIService
    from .services.chat_outbox import ChatOutbox
    from .services.idempotency import Idempotency
    from .services.public_api import ApiAccess
    from .services.webhooks import Webhooks
    from .services.conversations import ConversationService
    from .services.mail import MailService
    from .services.outbox import OutboxService
    from .services.threads import ThreadService


@dataclass
class Helpdesk:
    settings: Settings
    store: Store
    agents: AgentService
    tickets: TicketService
    views: ViewService
    feed: ChangeFeed
    assignment: AssignmentService
    desk_settings: DeskSettingsService
    # What bootstrap did that the user should hear of (a one-time settings import).
    notes: list[str] = field(default_factory=list)
    _built: set[str] = field(default_factory=set, repr=False)

    # ------------------------------------------------------------ channels

    @cached_property
    def conversations(self) -> "ConversationService":
        """Chatbot conversations: poller, escalation, takeover, hand-back."""
        from .adapters.chatbot import ChatbotClient
        from .services.chat_outbox import ChatOutbox
        from .services.conversations import ConversationService

        def chat_platform(desk, api_key: str) -> ChatbotClient:
            return ChatbotClient(desk.chatbot.base_url, api_key)

        conversations = ConversationService(self.store, self.tickets, self.settings,
                                            chat_platform_factory=chat_platform)
        if self.settings.ai.active:
            from .domain.ai import Action

            conversations.assistant = self.ai.metered(Action.ESCALATION)
            conversations.prompts = self.ai.prompts
        conversations.outbox = ChatOutbox(self.store, conversations)
        self._built.add("conversations")
        return conversations

    @cached_property
    def ai(self) -> "AIService":
        """AI compose, summaries, translation; the OpenAI client is built on the first call."""
        from .services.ai import AIService

        def assistant():
            from .adapters.ai.client import OpenAIAssistant

            return OpenAIAssistant(self.settings.ai)

        self._built.add("ai")
        return AIService(self.store, self.settings, assistant_factory=assistant,
                         translation_lookup=self.desk_settings.translation)

    @property
    def chat_outbox(self) -> "ChatOutbox":
        """Replies on live-chat tickets, posted into the chat thread."""
        return self.conversations.outbox

    @cached_property
    def mail(self) -> "MailService":
        """Email: IMAP sync and threading; queues replies for the outbox."""
        from .adapters.mail.attachments import AttachmentStore, default_root
        from .adapters.mail.imap import ImapWorker, parse_remote
        from .services.mail import MailService
        from .services.mail_parsing import ParsePool

        mail = MailService(self.store, self.tickets, self.settings,
                           attachments=AttachmentStore(default_root(self.settings.database_url)),
                           mail_reader_factory=ImapWorker, parse_pool=ParsePool(parse_remote))
        mail.outbox = self.outbox
        mail.notify_outbox = self.outbox.notify
        self._built.add("mail")
        return mail

    @cached_property
    def threads(self) -> "ThreadService":
        """Fixing threading: split a message off into a new ticket, merge two tickets of one requester."""
        from .services.threads import ThreadService

        return ThreadService(self.store, self.tickets)

    @cached_property
    def outbox(self) -> "OutboxService":
        """The SMTP outbox worker."""
        from .adapters.mail.smtp import SmtpSender
        from .services.outbox import OutboxService

        def smtp_sender(email, *, timeout: float, data_timeout: float) -> SmtpSender:
            domain = email.address.rpartition("@")[2] or "localhost"
            return SmtpSender(email.smtp, timeout=timeout, data_timeout=data_timeout, local_hostname=domain,
                              label=email.address)

        self._built.add("outbox")
        return OutboxService(self.store, self.tickets, self.settings, sender_factory=smtp_sender)

    @cached_property
    def webhooks(self) -> "Webhooks":
        """Webhook subscriptions and their outbox (sent by ``api serve`` and ``sync``)."""
        from .adapters.webhooks import HttpPoster
        from .services.webhooks import Webhooks

        self._built.add("webhooks")
        return Webhooks(self.store, self.tickets, poster_factory=HttpPoster)

    @cached_property
    def api_access(self) -> "ApiAccess":
        """API tokens and what a token may read."""
        from .services.public_api import ApiAccess

        return ApiAccess(self.store)

    @cached_property
    def idempotency(self) -> "Idempotency":
        """Idempotency-Key bookkeeping of the public API."""
        from .services.idempotency import Idempotency

        return Idempotency(self.store)

    async def _queue_webhooks(self, tx: Tx, event) -> None:
        # The light half only: a command that writes one ticket never loads the sender.
        from .services.webhook_queue import queue_deliveries

        if await queue_deliveries(tx, event) and "webhooks" in self.__dict__:
            self.webhooks.wake_soon()

    async def _mark_idempotent(self, tx: Tx, event) -> None:
        if "idempotency" in self.__dict__:  # only the API server binds keys
            await self.idempotency.on_write(tx, event)

    # Reply queueing, per channel, inside the reply's transaction. The channel
    # services are built here on the first reply on their kind of ticket only.

    async def _queue_mail_reply(self, tx: Tx, event: ReplyAdded) -> None:
        if event.ticket.type is TicketType.EMAIL:
            await self.mail.on_reply(tx, event)

    async def _queue_chat_reply(self, tx: Tx, event: ReplyAdded) -> None:
        if event.ticket.type is TicketType.LIVE_CHAT:
            await self.chat_outbox.queue(tx, event.ticket, event.entry, event.actor)

    async def _can_deliver(self, tx: Tx, ticket: Ticket) -> str | None:
        """Asked before a reply is written: why the ticket's channel cannot carry it, if it cannot."""
        if ticket.type is TicketType.EMAIL:
            return await self.mail.can_deliver(tx, ticket)
        if ticket.type is TicketType.LIVE_CHAT:
            return await self.chat_outbox.can_deliver(tx, ticket)
        return None

    # ------------------------------------------------------------ settings screens

    async def test_mail_connection(self, address: str, timeout: float = 10.0) -> list[tuple[str, bool, str]]:
        """Log in to an address's IMAP and SMTP servers with this process's passwords: (what, ok, detail)."""
        import asyncio

        from .adapters.mail.imap import ImapConnection
        from .adapters.mail.smtp import SmtpSender

        email = next((e for d in self.settings.desks for e in d.emails if e.address == address.strip().lower()), None)
        if email is None:
            return [("address", False, f"{address} is not configured (save the settings first)")]
        out = []
        if not email.imap.host:
            out.append(("imap", False, "no IMAP host"))
        else:
            def login() -> bool:
                conn = ImapConnection(email.imap, timeout=timeout, connect_timeout=timeout, label="imap")
                try:
                    conn.open()
                    return bool(conn.client.folder_exists(email.mailbox))
                finally:
                    conn.close()

            try:
                found = await asyncio.to_thread(login)
                out.append(("imap", found, f"logged in at {email.imap.host}; mailbox {email.mailbox!r} "
                                           + ("found" if found else "not found")))
            except Exception as exc:  # noqa: BLE001 - refused, unreachable, TLS: shown as it is
                out.append(("imap", False, _one_line_error(exc)))
        if not email.smtp.host:
            out.append(("smtp", False, "no SMTP host"))
        else:
            sender = SmtpSender(email.smtp, timeout=timeout, label=email.address)
            try:
                await asyncio.wait_for(sender._connect(), timeout * 2)
                out.append(("smtp", True, f"connected to {email.smtp.host}"))
            except Exception as exc:  # noqa: BLE001
                out.append(("smtp", False, _one_line_error(exc)))
            finally:
                try:
                    await sender.close()
                except Exception:  # noqa: BLE001 - closing a failed connection
                    pass
        return out

    # ------------------------------------------------------------ live settings

    async def reload_settings(self) -> set[str]:
        """Re-read the desks' shared settings after a ``settings`` change in the feed.

        Returns the channels whose accounts changed ("mail", "chat"): those
        services are closed and rebuilt on next use with the new settings, so a
        mailbox reconnects and a chatbot poller restarts; the caller starts them again.
        """
        new, changed = await self.pending_settings()
        await self.apply_settings(new, changed)
        return changed

    async def pending_settings(self) -> tuple[Settings, set[str]]:
        """The desks' settings as stored now, and which channels they change (nothing is applied)."""
        new = await self.desk_settings.effective()
        changed = set()
        if _mail_key(new) != _mail_key(self.settings):
            changed.add("mail")
        if _chat_key(new) != _chat_key(self.settings):
            changed.add("chat")
        return new, changed

    async def apply_settings(self, new: Settings, changed: set[str]) -> None:
        """Use *new*; the channel services in *changed* are closed (stop their runs first) and rebuilt on use."""
        self.settings = new
        if "mail" in changed:
            for name in ("mail", "outbox"):
                if name in self._built:
                    await getattr(self, name).close()
                    self._built.discard(name)
                self.__dict__.pop(name, None)
        if "chat" in changed and "conversations" in self._built:
            await self.conversations.aclose()
            self._built.discard("conversations")
            self.__dict__.pop("conversations", None)
        if "chat" in changed:
            self.views.conversation_counter = (lambda: self.conversations.count_waiting()) \
                if chatbot_configured(new) else None

    async def close(self) -> None:
        if "conversations" in self._built:
            await self.conversations.aclose()
        if "mail" in self._built:
            await self.mail.close()  # stops the background sync and outbox worker first
        if "outbox" in self._built:
            await self.outbox.close()
        if "webhooks" in self._built:
            await self.webhooks.aclose()
        if "ai" in self._built:
            await self.ai.aclose()
        await self.store.close()


def _one_line_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _mail_key(settings: Settings) -> tuple:
    return tuple((d.slug, d.name, d.enabled, d.emails) for d in settings.desks)


def _chat_key(settings: Settings) -> tuple:
    return tuple((d.slug, d.name, d.enabled, d.chatbot) for d in settings.desks)


def chatbot_configured(settings: Settings) -> bool:
    return any(desk.enabled and desk.chatbot.base_url for desk in settings.desks)


async def bootstrap(settings: Settings, *, create: bool = True, upgrade: bool = False, clock=None) -> Helpdesk:
    kwargs = {"clock": clock} if clock else {}
    store = await Store.open(settings.database_url, create=create, upgrade=upgrade, **kwargs)
    try:
        async with store.write() as tx:
            for desk in settings.desks:
                await tx.ensure_desk(desk.slug, desk.name, desk.reopen_days)
    except BaseException:
        await store.close()
        raise
    desk_settings = DeskSettingsService(store, settings)
    try:
        notes = await desk_settings.import_once()
        # The desks' shared settings come from the database, joined with this process's secrets.
        settings = await desk_settings.effective()
    except BaseException:
        await store.close()
        raise
    events = EventBus()
    tickets = TicketService(store, events)
    assignment = AssignmentService(store, tickets, desk_settings)
    events.after_commit(TicketCreated, assignment.on_ticket_created)
    events.after_commit(CustomerMessageAdded, assignment.on_customer_message)
    hd = Helpdesk(
        settings=settings,
        store=store,
        agents=AgentService(store),
        tickets=tickets,
        views=ViewService(store, list(settings.views)),
        feed=ChangeFeed(store),
        assignment=assignment,
        desk_settings=desk_settings,
        notes=notes,
    )
    events.on_write(ReplyAdded, hd._queue_mail_reply)
    events.on_write(ReplyAdded, hd._queue_chat_reply)
    for kind in (TicketCreated, StatusChanged, AssigneeChanged, CustomerMessageAdded, ReplyAdded):
        events.on_write(kind, hd._queue_webhooks)  # the webhook outbox, in the change's transaction
    for kind in (TicketCreated, CustomerMessageAdded):
        events.on_write(kind, hd._mark_idempotent)
    tickets.delivery_check = hd._can_deliver
    if chatbot_configured(settings):
        hd.views.conversation_counter = lambda: hd.conversations.count_waiting()
    return hd
