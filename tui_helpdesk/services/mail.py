"""Email for the desk: the service behind the IMAP sync, inbound threading and the reply hook.

MailService is the one object the rest of the app holds: it knows the
configured support addresses, starts the syncers (mail_sync) and the outbox
worker, writes fetched mail into tickets (mail_ingest) and queues replies.

The message-ID HMAC key is generated once and kept in the database
(``mail_key``) so every process, and every host on PostgreSQL, signs alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone

from ..domain.mail import msgid
from ..domain.mail.compose import build_reply, render_signature
from ..adapters.store import mailstore as ms
from ..adapters.store.repository import Store, Tx
from ..domain.errors import HelpdeskError
from ..domain.events import ReplyAdded
from ..domain.mail.transport import Incoming
from ..domain.model import Agent, Ticket, TicketType, TimelineEntry
from ..domain.text import one_line
from ..settings import DeskSettings, EmailSettings, Settings
from .mail_aside import SetAsideService
from .mail_ingest import MailIngest
from .mail_plan import MAX_REFS
from .mail_parsing import ParsePool
from .mail_sync import BatchResult, MailboxSyncer, ProgressCallback, SyncProgress, SyncReport
from .ports import AttachmentStorage, MailReaderFactory
from .tickets import TicketService

log = logging.getLogger(__name__)

# ``sync --status`` lists the newest few set-aside messages; ``helpdesk mail set-aside`` pages through all.
STATUS_SET_ASIDE = 20

# --------------------------------------------------------------------- service


@dataclass(frozen=True, slots=True)
class MailAddress:
    """One configured support address and the desk it belongs to."""

    desk: DeskSettings
    email: EmailSettings

    @property
    def address(self) -> str:
        return self.email.address.strip().lower()


class MailService:
    """Inbound mail for every configured address, and the reply hook for outbound."""

    def __init__(self, store: Store, tickets: TicketService, settings: Settings, *,
                 attachments: AttachmentStorage, mail_reader_factory: MailReaderFactory, parse_pool: ParsePool):
        self.store = store
        self.tickets = tickets
        self.settings = settings
        self.attachments = attachments
        self.addresses: list[MailAddress] = [
            MailAddress(desk, email) for desk in settings.desks for email in desk.emails if email.address
        ]
        self.own_addresses = frozenset(a.address for a in self.addresses)
        # A desk switched off fetches no new mail; replies already written on its tickets still go out.
        # A process without a mailbox's password (a teammate's terminal) leaves it to one that has it:
        # trying would take the mailbox's lease and hold it through failed logins.
        # (An address with no IMAP server only sends, as the demo's does: nothing to receive.)
        self.receiving: list[MailAddress] = [
            a for a in self.addresses if a.desk.enabled and a.email.imap.host and a.email.imap.password.configured
        ]
        self.no_password: list[str] = [
            a.address for a in self.addresses
            if a.desk.enabled and a.email.imap.host and not a.email.imap.password.configured
        ]
        self._secret: bytes | None = None
        self._desk_ids: dict[str, int] = {}
        self._desks_by_id: dict[int, DeskSettings] = {}
        self._crashes: dict[str, int] = {}
        self.mail_reader_factory = mail_reader_factory
        self.parse_pool = parse_pool
        self.ingester = MailIngest(store, tickets, attachments, own_addresses=self.own_addresses, secret=self.secret,
                                   desk_id=self._desk_id, desks_by_id=self._desks_by_id, notify=self._notify)
        self.set_aside = SetAsideService(store, attachments, self.ingester, self.address, lambda: self.addresses)
        # Set by bootstrap: wakes this process's outbox worker when mail is queued.
        self.notify_outbox: Callable[[], None] | None = None
        # Set by bootstrap: the outbox worker that start() runs beside the syncers.
        self.outbox = None
        # The newest progress of each (address, mailbox), for a status line.
        self.progress: dict[tuple[str, str], SyncProgress] = {}
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []

    def start(self, progress: ProgressCallback | None = None) -> None:
        """Sync every mailbox and send the outbox in the background (for the app).

        Every process may call this: leases let one process work per mailbox
        and per address at a time; the others wait and take over when it stops.
        Idempotent; :meth:`close` stops it.
        """
        if self._tasks or not self.addresses:
            return

        def note(p: SyncProgress) -> None:
            self.progress[(p.account, p.mailbox)] = p
            if progress is not None:
                progress(p)

        self._stop = asyncio.Event()
        self._tasks.append(asyncio.create_task(self.run(self._stop, note), name="mail-sync"))
        if self.outbox is not None:
            self._tasks.append(asyncio.create_task(self.outbox.run(self._stop), name="mail-outbox"))

    async def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, 15)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:  # noqa: BLE001 - stopping: the error was logged where it happened
                log.debug("mail task ended with an error", exc_info=True)
        self._tasks.clear()
        self.parse_pool.close()

    # ------------------------------------------------------------ basics

    async def secret(self, tx: Tx | None = None) -> bytes:
        """The Message-ID signing key; pass *tx* when called inside a write transaction."""
        if self._secret is not None:
            return self._secret
        if tx is not None:
            key, committed = await ms.message_id_secret(tx)
            if committed:  # a key made in a transaction that may still roll back is not kept
                self._secret = key
            return key
        async with self.store.write() as wtx:
            key, _ = await ms.message_id_secret(wtx)
        self._secret = key
        return key

    def address(self, address: str) -> MailAddress:
        for item in self.addresses:
            if item.address == address.strip().lower():
                return item
        raise HelpdeskError(f"no support address {address!r} is configured")

    async def _desk_id(self, tx: Tx, desk: DeskSettings) -> int:
        if desk.slug not in self._desk_ids:
            row = await tx.get_desk(desk.slug)
            self._desk_ids[desk.slug] = row.id
            self._desks_by_id[row.id] = desk
        return self._desk_ids[desk.slug]

    async def _desk_settings(self, tx: Tx, desk_id: int) -> DeskSettings | None:
        if desk_id not in self._desks_by_id:
            row = await tx.get_desk(desk_id)
            for desk in self.settings.desks:
                if desk.slug == row.slug:
                    self._desks_by_id[desk_id] = desk
                    self._desk_ids[desk.slug] = desk_id
        return self._desks_by_id.get(desk_id)

    # ------------------------------------------------------------ outbound

    async def on_reply(self, tx: Tx, event: ReplyAdded) -> None:
        """In-transaction handler of ReplyAdded: queue an email ticket's reply in the outbox."""
        if event.ticket.type is not TicketType.EMAIL:
            return
        await self.queue_reply(tx, event.ticket, event.entry, event.actor)
        self._notify()

    def _notify(self) -> None:
        if self.notify_outbox is not None:
            self.notify_outbox()

    def _accounts(self, desk: DeskSettings | None) -> list[MailAddress]:
        return [a for a in self.addresses if a.desk.slug == desk.slug] if desk is not None else []

    @staticmethod
    def _cannot(accounts: list[MailAddress], to: str | None) -> str | None:
        """Why a reply cannot be queued at all: the one rule for the check and the queueing."""
        if not accounts:
            return "no support address is configured for this desk"
        return None if to else "the requester has no address"

    async def _route(self, tx: Tx, ticket: Ticket):
        """(desk, parent message, the address to send from, the customer's address, why it cannot go)."""
        desk = await self._desk_settings(tx, ticket.desk_id)
        accounts = self._accounts(desk)
        to = ticket.requester.email
        why = self._cannot(accounts, to)
        if why:
            return desk, None, None, to, why
        parent = await ms.reply_parent(tx, ticket.id)
        account = parent.account if parent else None
        via = next((a for a in accounts if a.address == account), accounts[0])
        return desk, parent, via, to, None

    async def recipients(self, ticket_id: int) -> tuple[str | None, list[str]]:
        """Who a reply on *ticket_id* goes to: (To, Cc), for the composer to show and change."""
        async with self.store.read() as tx:
            ticket = await tx.get_ticket(ticket_id)
            if ticket.type is not TicketType.EMAIL:
                return None, []
            to = ticket.requester.email
            return to, [addr for addr, _name, role in await ms.ticket_participants(tx, ticket_id)
                        if role == "cc" and addr != to and addr not in self.own_addresses]

    async def can_deliver(self, tx: Tx, ticket: Ticket) -> str | None:
        """Why a reply on email ticket *ticket* could not even be queued, or None when it can.

        Asked before the reply is written, so it reads no more than it must
        (the desk's settings are cached): which address sends is decided later.
        """
        if ticket.type is not TicketType.EMAIL:
            return None
        return self._cannot(self._accounts(await self._desk_settings(tx, ticket.desk_id)), ticket.requester.email)

    async def queue_reply(self, tx: Tx, ticket: Ticket, entry: TimelineEntry, actor: Agent | None,
                          *, automatic: bool = False) -> int | None:
        desk, parent, via, to, why = await self._route(tx, ticket)
        if why:
            await self.tickets.event(tx, ticket.id, f"Reply not sent by email: {why}",
                                     {"event": "delivery_failed", "entry": entry.id, "reason": why})
            return None
        chosen = (entry.meta or {}).get("cc")
        if chosen is not None:  # the agent set the Cc of this reply: it stays for the next ones
            await ms.set_cc(tx, ticket.id, [a for a in chosen if a != to], tx.now())
        cc = [addr for addr, _name, role in await ms.ticket_participants(tx, ticket.id)
              if role == "cc" and addr != to and addr not in self.own_addresses]
        outbox_id = await ms.insert_outbox(tx, ticket_id=ticket.id, entry_id=entry.id, account=via.address,
                                           mail_from=via.address, recipients=[to, *cc], automatic=automatic)
        secret = await self.secret(tx)
        message_id = msgid.make_message_id(ticket.id, outbox_id, secret, via.address.rpartition("@")[2] or "localhost")
        fixed = via.email.display_name
        if automatic or actor is None:
            from_name = desk.name if fixed == "auto" else fixed
        else:
            from_name = actor.name if fixed == "auto" else fixed
        signature = "" if automatic else render_signature(
            via.email.signature, actor.name if actor else "", actor.email if actor else "", desk.name)
        refs = list(parent.refs) + ([parent.message_id] if parent and parent.message_id else []) if parent else []
        try:
            raw = build_reply(
                from_addr=via.address, from_name=from_name, to=to, cc=cc,
                subject=msgid.reply_subject(ticket.subject, ticket.id), body=entry.body, message_id=message_id,
                in_reply_to=parent.message_id if parent else None, references=refs[-MAX_REFS:],
                signature=signature, ticket_id=ticket.id, date=tx.now().replace(tzinfo=timezone.utc),
            )
        except ValueError as exc:
            # An address that cannot be sent to: fail now, visibly, not in the worker.
            await ms.update_outbox(tx, [{"id": outbox_id, "status": "failed", "pending": [], "message_id": message_id,
                                         "last_error": one_line(str(exc), 300)}])
            await self.tickets.event(tx, ticket.id, f"Reply not sent by email: {one_line(str(exc), 200)}",
                                     {"event": "delivery_failed", "outbox": outbox_id, "entry": entry.id})
            return outbox_id
        await ms.set_outbox_messages(tx, [(outbox_id, message_id, raw)])
        if not via.email.smtp.host:
            await self.tickets.event(
                tx, ticket.id, f"Reply queued, but {via.address} has no SMTP server configured: it waits until one is",
                {"event": "delivery_waiting", "outbox": outbox_id, "entry": entry.id})
        return outbox_id

    # ------------------------------------------------------------- inbound

    async def ingest(self, address: MailAddress, mailbox: str, uidvalidity: int, items: list[Incoming], *,
                     lease: tuple[str, str, timedelta] | None = None, rematch: bool = False) -> BatchResult:
        """Write one fetched batch into tickets, in one transaction (see mail_ingest)."""
        return await self.ingester.ingest(address, mailbox, uidvalidity, items, lease=lease, rematch=rematch)

    async def set_aside_unreadable(self, address: MailAddress, mailbox: str, uidvalidity: int, uid: int,
                                   reason: str, lease: tuple[str, str, timedelta] | None = None) -> None:
        """Record that message *uid* could not be fetched, so the sync can go past it."""
        await self.ingester.set_aside_unreadable(address, mailbox, uidvalidity, uid, reason, lease)

    def syncer(self, address: MailAddress | str, **tuning) -> "MailboxSyncer":
        if isinstance(address, str):
            address = self.address(address)
        return MailboxSyncer(self, address, **tuning)

    async def sync_once(self, progress: ProgressCallback | None = None, **tuning) -> list[SyncReport]:
        reports = []
        for address in self.receiving:
            reports.append(await self.syncer(address, **tuning).sync_once(progress))
        return reports

    async def run(self, stop: asyncio.Event, progress: ProgressCallback | None = None, **tuning) -> None:
        syncers = [self.syncer(a, **tuning) for a in self.receiving]
        await asyncio.gather(*(s.run(stop, progress) for s in syncers))

    # ---------------------------------------------------------------- admin

    async def status(self) -> dict:
        async with self.store.read() as tx:
            states = await ms.all_sync_states(tx)
            aside = await ms.set_aside(tx, STATUS_SET_ASIDE, released=False)
            total_aside = await ms.count_set_aside(tx, released=False)
            outbox = await ms.outbox_counts(tx)
        return {"mailboxes": states, "set_aside": aside, "set_aside_total": total_aside, "outbox": outbox}


__all__ = ["MailAddress", "MailService"]
