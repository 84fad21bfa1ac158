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
from .domain.events import ReplyAdded, TicketCreated
from .domain.model import Ticket, TicketType
from .services.agents import AgentService
from .services.assignment import AssignmentService
from .services.events import EventBus
from .services.feed import ChangeFeed
from .services.tickets import TicketService
from .services.views import ViewService
from .settings import Settings

if TYPE_CHECKING:
    from .services.ai import AIService
    from .services.chat_outbox import ChatOutbox
    from .services.conversations import ConversationService
    from .services.mail import MailService
    from .services.outbox import OutboxService


@dataclass
class Helpdesk:
    settings: Settings
    store: Store
    agents: AgentService
    tickets: TicketService
    views: ViewService
    feed: ChangeFeed
    assignment: AssignmentService
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
        return AIService(self.store, self.settings, assistant_factory=assistant)

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

    async def close(self) -> None:
        if "conversations" in self._built:
            await self.conversations.aclose()
        if "mail" in self._built:
            await self.mail.close()  # stops the background sync and outbox worker first
        if "outbox" in self._built:
            await self.outbox.close()
        if "ai" in self._built:
            await self.ai.aclose()
        await self.store.close()


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
    events = EventBus()
    tickets = TicketService(store, events)
    assignment = AssignmentService(store, tickets, settings)
    events.after_commit(TicketCreated, assignment.on_ticket_created)
    hd = Helpdesk(
        settings=settings,
        store=store,
        agents=AgentService(store),
        tickets=tickets,
        views=ViewService(store, list(settings.views)),
        feed=ChangeFeed(store),
        assignment=assignment,
    )
    events.on_write(ReplyAdded, hd._queue_mail_reply)
    events.on_write(ReplyAdded, hd._queue_chat_reply)
    tickets.delivery_check = hd._can_deliver
    if chatbot_configured(settings):
        hd.views.conversation_counter = lambda: hd.conversations.count_waiting()
    return hd
