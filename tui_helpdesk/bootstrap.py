"""Wire once: build the store and the services from settings.

The App, the CLI and the API server all receive a :class:`Helpdesk`; nothing
opens a database or a client at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from .adapters.mail.attachments import AttachmentStore
from .adapters.mail.attachments import default_root as attachments_root
from .adapters.store.repository import Store
from .services.agents import AgentService
from .services.assignment import AssignmentService
from .services.chat_outbox import ChatOutbox
from .services.conversations import ConversationService
from .services.feed import ChangeFeed
from .services.mail import MailService
from .services.outbox import OutboxService
from .services.tickets import TicketService
from .services.views import ViewService
from .settings import Settings


@dataclass
class Helpdesk:
    settings: Settings
    store: Store
    agents: AgentService
    tickets: TicketService
    views: ViewService
    feed: ChangeFeed
    assignment: AssignmentService
    # Chatbot conversations (poller, escalation, takeover, hand-back) and the chat outbox.
    conversations: ConversationService
    chat_outbox: ChatOutbox
    # Email: IMAP sync and threading, and the SMTP outbox worker.
    mail: MailService | None = None
    outbox: OutboxService | None = None

    async def close(self) -> None:
        await self.conversations.aclose()
        if self.mail is not None:
            await self.mail.close()  # stops the background sync and outbox worker first
        if self.outbox is not None:
            await self.outbox.close()
        await self.store.close()


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
    tickets = TicketService(store)
    assignment = AssignmentService(store, tickets, settings)
    tickets.created_hooks.append(assignment.route)
    conversations = ConversationService(store, tickets, settings)
    chat_outbox = ChatOutbox(store, conversations)
    conversations.outbox = chat_outbox
    tickets.reply_hooks.append(chat_outbox.queue)
    mail = MailService(store, tickets, settings, attachments=AttachmentStore(attachments_root(settings.database_url)))
    # A reply on an email ticket queues its outbox row in the reply's transaction.
    tickets.reply_hooks.append(mail.on_reply)

    async def route_mail_tickets(ticket_ids: list[int], desk) -> None:
        # Routing on a manual desk does nothing but costs a transaction per
        # ticket, which would dominate the first sync of a big mailbox.
        if desk.assignment != "manual":
            for ticket_id in ticket_ids:
                await assignment.route(ticket_id)

    mail.created_hooks.append(route_mail_tickets)
    outbox = OutboxService(store, tickets, settings)
    mail.notify_outbox = outbox.notify
    mail.outbox = outbox
    views = ViewService(store, list(settings.views))
    if conversations.configured:
        views.conversation_counter = conversations.count_waiting
    return Helpdesk(
        settings=settings,
        store=store,
        agents=AgentService(store),
        tickets=tickets,
        views=views,
        feed=ChangeFeed(store),
        assignment=assignment,
        conversations=conversations,
        chat_outbox=chat_outbox,
        mail=mail,
        outbox=outbox,
    )
