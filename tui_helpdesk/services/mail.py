"""Email in: IMAP sync, threading into tickets, loop protection; and the reply hook.

Inbound, per fetch batch (SPEC §6, RELIABILITY "Mail sync"):

1. fetch ``BODY.PEEK[]`` (nothing is flagged yet), parse and classify each
   message on the IMAP worker thread;
2. in ONE write transaction: the message keys (account, mailbox, UIDVALIDITY,
   UID), the tickets and timeline entries they produce, participants, bounce
   results, set-aside messages, the change feed and the mailbox's new high
   UID. A crash before the commit leaves nothing, after it everything, so a
   re-run never duplicates and never loses a message;
3. only then flag ``\\Seen`` or move the messages, and record that they were.

Threading, in order: one of our HMAC-signed Message-IDs in In-Reply-To or
References (unforgeable); then In-Reply-To/References matching a stored
Message-ID, and then a ``[#123]`` subject tag — both only when the sender is
already a participant of that ticket, so a stranger's forged header can never
post into someone else's ticket; otherwise a new ticket. Whoever sent it, an
entry is authored by its real sender, never "as" the requester.

Auto-replies, list mail and bounces never trigger anything automatic; a
bounce marks the outbound message failed and shows an event on its ticket;
our own outgoing mail coming back is never a customer message.

One syncer per mailbox across processes: a lease in the database, renewed
while the syncer runs and inside each batch's transaction (a syncer that lost
its lease cannot commit).

The message-ID HMAC key is generated once and kept in the database
(``mail_key``) so every process, and every host on PostgreSQL, signs alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from ..adapters.mail import loops, msgid
from ..adapters.mail.attachments import AttachmentStore
from ..adapters.mail.compose import build_reply, render_signature
from ..adapters.mail.imap import (
    ConnectionLost,
    Fetched,
    ImapError,
    ImapWorker,
    Incoming,
    MailboxStatus,
    parse_remote,
    prepare,
)
from ..adapters.mail.parse import ParsedMessage
from ..adapters.store import mailstore as ms
from ..adapters.store.repository import Store, Tx, _naive
from ..domain import lifecycle
from ..domain.errors import HelpdeskError
from ..domain.model import Agent, Author, EntryKind, Status, Ticket, TicketType, TimelineEntry
from ..domain.text import one_line
from ..settings import DeskSettings, EmailSettings, Settings
from .tickets import MAX_BODY, PREVIEW_CHARS, SYSTEM, TicketService

log = logging.getLogger(__name__)

# Hooks run after a batch committed, with the new tickets of one desk.
MailCreatedHook = Callable[[list[int], DeskSettings], Awaitable[None]]

CRASH_ENV = "HELPDESK_TEST_MAIL_CRASH"  # test hook: "after_fetch", "after_commit[:n]", "after_mark[:n]"
MAX_REFS = 20


class LeaseLost(HelpdeskError):
    """Another process took over this mailbox: stop without committing."""


# ------------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """What a syncer is doing, for the app's status line and ``helpdesk sync``."""

    account: str
    mailbox: str
    phase: str  # connecting | syncing | idle | reconnecting | done | busy | warning
    done: int = 0
    total: int = 0
    rate: float = 0.0  # messages per second in this pass
    message: str = ""

    def line(self) -> str:
        where = f"{self.account} {self.mailbox}"
        if self.phase == "syncing":
            return f"{where}: {self.done:,}/{self.total:,} messages, {self.rate:,.0f} msg/s"
        if self.phase == "done":
            extra = f" ({self.rate:,.0f} msg/s)" if self.done else ""
            return f"{where}: up to date, {self.done:,} new{extra}"
        return f"{where}: {self.phase}" + (f": {self.message}" if self.message else "")


ProgressCallback = Callable[[SyncProgress], None]


@dataclass(slots=True)
class BatchResult:
    created: list[int] = field(default_factory=list)
    entries: int = 0
    duplicates: int = 0
    set_aside: int = 0
    bounces: int = 0
    auto: int = 0
    own: int = 0
    skipped: int = 0  # already ingested (a re-run after a crash)

    def merge(self, other: "BatchResult") -> "BatchResult":
        return BatchResult(
            self.created + other.created, self.entries + other.entries, self.duplicates + other.duplicates,
            self.set_aside + other.set_aside, self.bounces + other.bounces, self.auto + other.auto,
            self.own + other.own, self.skipped + other.skipped,
        )


@dataclass(slots=True)
class SyncReport:
    account: str
    mailbox: str
    fetched: int = 0
    created: int = 0
    entries: int = 0
    duplicates: int = 0
    set_aside: int = 0
    bounces: int = 0
    auto: int = 0
    own: int = 0
    seconds: float = 0.0
    busy: str | None = None  # holder of the lease when another process syncs
    warning: str | None = None
    error: str | None = None

    def add(self, batch: BatchResult) -> None:
        self.created += len(batch.created)
        self.entries += batch.entries
        self.duplicates += batch.duplicates
        self.set_aside += batch.set_aside
        self.bounces += batch.bounces
        self.auto += batch.auto
        self.own += batch.own


# ------------------------------------------------------------------- helpers


class ParsePool:
    """Worker processes that parse big batches (a first sync) beside the database work.

    Parsing is pure Python and the slowest step; in threads it would fight
    the event loop and the database thread for the GIL. Small batches (new
    mail while idling) are parsed on the IMAP thread: no process is started
    for them. ``forkserver`` because this process has threads (aiosqlite,
    IMAP) that a plain fork would copy mid-lock.
    """

    # Starting the workers costs about a second: worth it for a big backlog only.
    MIN_BACKLOG = 1000
    MIN_BATCH = 64

    def __init__(self, workers: int | None = None):
        cpus = os.cpu_count() or 1
        self.workers = cpus if workers is None else workers
        self._pool = None

    @property
    def enabled(self) -> bool:
        return self.workers > 1

    def _executor(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("forkserver")
            # The fork server loads the parser once; workers fork from it.
            context.set_forkserver_preload(["tui_helpdesk.adapters.mail.imap"])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool

    def warm(self) -> None:
        """Start the workers now, while the first batch is being fetched."""
        executor = self._executor()
        for _ in range(self.workers):
            executor.submit(parse_remote, [])

    async def prepare(self, fetched: list[Fetched]) -> list[Incoming]:
        loop = asyncio.get_running_loop()
        chunks = max(1, min(self.workers, len(fetched) // 32))
        size = -(-len(fetched) // chunks)
        parts = [fetched[i:i + size] for i in range(0, len(fetched), size)]
        futures = [loop.run_in_executor(self._executor(), parse_remote, [f.raw for f in part]) for part in parts]
        out: list[Incoming] = []
        for part, future in zip(parts, futures):
            for item, (parsed, kind, sha) in zip(part, await future):
                parsed = dataclasses.replace(parsed, loop_headers=MappingProxyType(parsed.loop_headers))
                out.append(Incoming(item.uid, item.raw, item.internaldate, parsed, kind, sha))
        return out

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _crash_point(name: str, counter: dict[str, int]) -> None:
    """Kill this process at a named point when the test hook asks for it."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    counter[name] = counter.get(name, 0) + 1
    if counter[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _holder_alive(holder: str) -> bool:
    """False only when *holder* is a process on this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Backoff:
    """Exponential backoff with jitter: never a busy loop, never a thundering herd."""

    def __init__(self, base: float = 1.0, maximum: float = 300.0):
        self.base = base
        self.maximum = maximum
        self.failures = 0

    def next(self) -> float:
        delay = min(self.maximum, self.base * (2 ** self.failures))
        self.failures += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to *seconds*; True when *stop* was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
        return True
    except asyncio.TimeoutError:
        return False


# ------------------------------------------------------------ batch planning


class _Deferred:
    """A value known only after the tickets are inserted (a follow-up's id)."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn


def _resolve(value: Any) -> Any:
    return value.fn() if isinstance(value, _Deferred) else value


@dataclass(eq=False, slots=True)
class _Req:
    email: str | None
    name: str
    id: int | None = None

    @property
    def display(self) -> str:
        return self.name or self.email or f"requester {self.id}"


@dataclass(eq=False, slots=True)
class _Ticket:
    """A ticket touched by the batch: existing (id set) or new (id after insert)."""

    id: int | None
    desk_id: int
    subject: str
    status: Status
    closed_at: datetime | None
    requester: _Req
    type: str = TicketType.EMAIL.value
    channel: str = "email"
    language: str | None = None
    new: bool = False
    follow_up_of: int | None = None
    created_at: datetime | None = None
    # end state, written once per batch
    preview: str | None = None
    last_message_at: datetime | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    messages: int = 0
    entries: int = 0

    def ref(self) -> int:
        assert self.id is not None
        return self.id


@dataclass(eq=False, slots=True)
class _Entry:
    ticket: _Ticket
    kind: str
    body: Any
    author_name: str
    author_requester: _Req | None = None
    meta: Any = None
    search_extra: str | None = None
    id: int | None = None


class _Plan:
    def __init__(self, now: datetime):
        self.now = now
        self.requesters: dict[str, _Req] = {}
        self.tickets: dict[int, _Ticket] = {}  # existing, by id
        self.new_tickets: list[_Ticket] = []
        self.entries: list[_Entry] = []
        self.keys: list[dict] = []
        self.participants: list[tuple[_Ticket, str, str, str]] = []
        self.set_aside: list[dict] = []
        self.changes: list[tuple[_Ticket, str]] = []
        self.outbox_updates: dict[int, dict] = {}
        self.acks: list[tuple[_Ticket, str, str | None, str, list[str]]] = []
        self.req_names: dict[int, str] = {}


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
                 attachments: AttachmentStore, parse_workers: int | None = None):
        self.store = store
        self.tickets = tickets
        self.settings = settings
        self.attachments = attachments
        self.addresses: list[MailAddress] = [
            MailAddress(desk, email) for desk in settings.desks for email in desk.emails if email.address
        ]
        self.own_addresses = frozenset(a.address for a in self.addresses)
        self.created_hooks: list[MailCreatedHook] = []
        self._secret: bytes | None = None
        self._desk_ids: dict[str, int] = {}
        self._desks_by_id: dict[int, DeskSettings] = {}
        self._crashes: dict[str, int] = {}
        self.parse_pool = ParsePool(parse_workers)
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

    async def on_reply(self, tx: Tx, ticket: Ticket, entry: TimelineEntry, actor: Agent) -> None:
        """Reply hook: queue the reply in the outbox, in the reply's transaction."""
        if ticket.type is not TicketType.EMAIL:
            return
        await self.queue_reply(tx, ticket, entry, actor)
        self._notify()

    def _notify(self) -> None:
        if self.notify_outbox is not None:
            self.notify_outbox()

    async def queue_reply(self, tx: Tx, ticket: Ticket, entry: TimelineEntry, actor: Agent | None,
                          *, automatic: bool = False) -> int | None:
        desk = await self._desk_settings(tx, ticket.desk_id)
        parent = await ms.reply_parent(tx, ticket.id)
        account = parent.account if parent else None
        via = None
        if desk is not None:
            candidates = [a for a in self.addresses if a.desk.slug == desk.slug]
            via = next((a for a in candidates if a.address == account), candidates[0] if candidates else None)
        to = ticket.requester.email
        if via is None or not to:
            why = "no support address is configured for this desk" if via is None else "the requester has no address"
            await self.tickets._event(tx, ticket.id, f"Reply not sent by email: {why}",
                                      {"event": "delivery_failed", "entry": entry.id, "reason": why})
            return None
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
            await self.tickets._event(tx, ticket.id, f"Reply not sent by email: {one_line(str(exc), 200)}",
                                      {"event": "delivery_failed", "outbox": outbox_id, "entry": entry.id})
            return outbox_id
        await ms.set_outbox_messages(tx, [(outbox_id, message_id, raw)])
        if not via.email.smtp.host:
            await self.tickets._event(
                tx, ticket.id, f"Reply queued, but {via.address} has no SMTP server configured: it waits until one is",
                {"event": "delivery_waiting", "outbox": outbox_id, "entry": entry.id})
        return outbox_id

    # ------------------------------------------------------------- inbound

    def syncer(self, address: MailAddress | str, **tuning) -> "MailboxSyncer":
        if isinstance(address, str):
            address = self.address(address)
        return MailboxSyncer(self, address, **tuning)

    async def sync_once(self, progress: ProgressCallback | None = None, **tuning) -> list[SyncReport]:
        reports = []
        for address in self.addresses:
            if not address.email.imap.host:
                continue
            reports.append(await self.syncer(address, **tuning).sync_once(progress))
        return reports

    async def run(self, stop: asyncio.Event, progress: ProgressCallback | None = None, **tuning) -> None:
        syncers = [self.syncer(a, **tuning) for a in self.addresses if a.email.imap.host]
        await asyncio.gather(*(s.run(stop, progress) for s in syncers))

    async def ingest(self, address: MailAddress, mailbox: str, uidvalidity: int, items: list[Incoming], *,
                     lease: tuple[str, str, timedelta] | None = None, rematch: bool = False) -> BatchResult:
        """Write one batch in one transaction (see the module docstring).

        A batch that cannot be written for a reason other than the database
        being unavailable is split in halves until the message that breaks it
        is found; that one is set aside with the error, so one bad message can
        never hold up the mailbox.
        """
        try:
            return await self._ingest_batch(address, mailbox, uidvalidity, items, lease, rematch)
        except (LeaseLost, OperationalError, InterfaceError):
            raise  # another syncer, or the database is away: retry later, as a whole
        except Exception as exc:  # noqa: BLE001 - see the docstring
            if len(items) > 1:
                half = len(items) // 2
                first = await self.ingest(address, mailbox, uidvalidity, items[:half], lease=lease, rematch=rematch)
                second = await self.ingest(address, mailbox, uidvalidity, items[half:], lease=lease, rematch=rematch)
                return first.merge(second)
            log.exception("mail %s %s UID %s could not be stored", address.address, mailbox, items[0].uid)
            await self._unstorable(address, mailbox, uidvalidity, items[0], exc, lease)
            return BatchResult(set_aside=1)

    async def _unstorable(self, address: MailAddress, mailbox: str, uidvalidity: int, item: Incoming,
                          exc: Exception, lease: tuple[str, str, timedelta] | None) -> None:
        reason = one_line(f"could not be stored: {type(exc).__name__}: {exc}", 500)
        async with self.store.write() as tx:
            if lease is not None and not await tx.acquire_lease(*lease):
                raise LeaseLost(f"{address.address} {mailbox}: another process took over the sync")
            if await ms.existing_uids(tx, address.address, mailbox, uidvalidity, [item.uid]):
                return
            plan = _Plan(tx.now())
            key = {
                "account": address.address, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": item.uid,
                "message_id": (item.parsed.message_id or "")[:998] or None, "from_addr": item.parsed.from_addr[:320],
                "raw_sha256": item.sha256, "kind": "set_aside", "ticket_id": None, "entry_id": None, "refs": [],
                "marked": False, "received_at": plan.now,
            }
            self._aside(plan, dict(key), item, reason)
            await ms.insert_keys(tx, [key])
            await ms.insert_set_aside(tx, plan.set_aside)
            await ms.save_sync_state(tx, address.address, mailbox, uidvalidity=uidvalidity, last_uid=item.uid,
                                     last_sync_at=plan.now, add_messages=1)

    async def set_aside_unreadable(self, address: MailAddress, mailbox: str, uidvalidity: int, uid: int,
                                   reason: str, lease: tuple[str, str, timedelta] | None = None) -> None:
        """Record that message *uid* could not be fetched, so the sync can go past it.

        Nothing of it is known but its UID; it stays on the server untouched
        (never flagged or moved), listed with the reason by ``helpdesk sync --status``.
        """
        async with self.store.write() as tx:
            if lease is not None and not await tx.acquire_lease(*lease):
                raise LeaseLost(f"{address.address} {mailbox}: another process took over the sync")
            if await ms.existing_uids(tx, address.address, mailbox, uidvalidity, [uid]):
                return
            now = tx.now()
            await ms.insert_keys(tx, [{
                "account": address.address, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": uid,
                "message_id": None, "from_addr": "", "raw_sha256": "", "kind": "set_aside", "ticket_id": None,
                "entry_id": None, "refs": [], "marked": True, "received_at": now,
            }])
            await ms.insert_set_aside(tx, [{
                "account": address.address, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": uid,
                "message_id": None, "from_addr": "", "subject": "",
                "reason": one_line(f"could not be fetched: {reason}", 500), "raw_sha256": "", "size": 0,
                "ticket_id": None, "created_at": now,
            }])
            await ms.save_sync_state(tx, address.address, mailbox, uidvalidity=uidvalidity, last_uid=uid,
                                     last_sync_at=now, add_messages=1)

    async def _ingest_batch(self, address: MailAddress, mailbox: str, uidvalidity: int, items: list[Incoming],
                            lease: tuple[str, str, timedelta] | None, rematch: bool) -> BatchResult:
        result = BatchResult()
        if not items:
            return result
        new_desk_tickets: list[int] = []
        async with self.store.write() as tx:
            if lease is not None and not await tx.acquire_lease(*lease):
                raise LeaseLost(f"{address.address} {mailbox}: another process took over the sync")
            queued = await self._ingest_in(tx, address, mailbox, uidvalidity, items, result, rematch)
            new_desk_tickets = list(result.created)
        if queued:
            self._notify()
        if new_desk_tickets:
            for hook in self.created_hooks:
                try:
                    await hook(new_desk_tickets, address.desk)
                except Exception:  # noqa: BLE001 - a routing failure must not undo the committed mail
                    log.exception("after-create hook failed for %d mail tickets", len(new_desk_tickets))
        return result

    async def _ingest_in(self, tx: Tx, address: MailAddress, mailbox: str, uidvalidity: int,
                         items: list[Incoming], result: BatchResult, rematch: bool) -> bool:
        """Plan and write the batch; True when it queued outgoing mail."""
        account = address.address
        secret = await self.secret(tx)
        desk_id = await self._desk_id(tx, address.desk)
        done = await ms.existing_uids(tx, account, mailbox, uidvalidity, [i.uid for i in items])
        todo = [i for i in items if i.uid not in done]
        result.skipped = len(items) - len(todo)
        if not todo:
            await ms.save_sync_state(tx, account, mailbox, uidvalidity=uidvalidity,
                                     last_uid=max(i.uid for i in items), last_sync_at=tx.now())
            return False
        plan = _Plan(tx.now())

        # ---- one round of look-ups for the whole batch
        own_ids = [i.parsed.message_id for i in todo if i.parsed.message_id]
        parent_ids: list[str] = []
        bounce_ids: list[str] = []
        for i in todo:
            p = i.parsed
            parent_ids.extend(([p.in_reply_to] if p.in_reply_to else []) + list(p.references[-MAX_REFS:]))
            if i.kind.kind == loops.BOUNCE and i.kind.original_message_id:
                bounce_ids.append(i.kind.original_message_id)
        known = await ms.known_messages(tx, message_ids=own_ids + parent_ids,
                                        shas=[i.sha256 for i in todo] if rematch else ())
        by_msgid: dict[str, list[ms.KnownMessage]] = {}
        by_sha: dict[str, ms.KnownMessage] = {}
        for k in known:
            if k.message_id:
                by_msgid.setdefault(k.message_id, []).append(k)
            by_sha.setdefault(k.raw_sha256, k)
        sent = await ms.outbox_by_message_ids(tx, parent_ids + bounce_ids)

        candidate_tickets: set[int] = set()
        for i in todo:
            p = i.parsed
            signed = msgid.ticket_from_headers(p.in_reply_to, p.references, secret)
            if signed:
                candidate_tickets.add(signed)
            tag = msgid.find_subject_tag(p.subject)
            if tag:
                candidate_tickets.add(tag)
        for k in known:
            if k.ticket_id:
                candidate_tickets.add(k.ticket_id)
        candidate_tickets.update(t for _o, t in sent.values())
        states = await ms.ticket_states(tx, candidate_tickets)
        people = await ms.participants(tx, states)
        msgid_ticket: dict[str, _Ticket] = {}
        for k in known:
            if k.message_id and k.ticket_id in states and k.kind in ("message", "duplicate", "rematched"):
                msgid_ticket.setdefault(k.message_id, self._existing(plan, states[k.ticket_id]))
        for mid, (_oid, tid) in sent.items():
            if tid in states:
                msgid_ticket.setdefault(mid, self._existing(plan, states[tid]))
        requesters = await ms.find_requesters(tx, {i.parsed.from_addr for i in todo if i.parsed.from_addr})
        for email_addr, (rid, name) in requesters.items():
            plan.requesters[email_addr] = _Req(email_addr, name, rid)
        participants: dict[int, dict[str, str]] = {t: dict(v) for t, v in people.items()}
        new_participants: dict[int, dict[str, str]] = {}  # id(_Ticket) → {address: role}
        seen_in_batch: dict[tuple[str, str], dict] = {}  # (Message-ID, sender) → its key

        def is_participant(ticket: _Ticket, addr: str) -> bool:
            if not addr:
                return False
            if ticket.id is not None and addr in participants.get(ticket.id, {}):
                return True
            return addr in new_participants.get(id(ticket), {})

        def add_people(ticket: _Ticket, p: ParsedMessage, sender_role: str) -> None:
            entries = [(p.from_addr, p.from_name, sender_role)] if p.from_addr else []
            entries += [(a, "", "cc") for a in (*p.cc, *p.to)]
            for addr, name, role in entries:
                if (not addr or "@" not in addr or len(addr) > 320 or addr in self.own_addresses
                        or is_participant(ticket, addr)):
                    continue
                new_participants.setdefault(id(ticket), {})[addr] = role
                plan.participants.append((ticket, addr, one_line(name, 300), role))

        for item in todo:
            p = item.parsed
            cls = item.kind
            key = {
                "account": account, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": item.uid,
                "message_id": (p.message_id or "")[:998] or None, "from_addr": p.from_addr[:320],
                "raw_sha256": item.sha256,
                "kind": "message", "ticket": None, "entry": None, "refs": [], "marked": False,
                "received_at": plan.now,
            }
            plan.keys.append(key)

            # ---- seen before? (a re-delivery, a second address of the desk, a new
            # UIDVALIDITY): the same Message-ID from the same sender is handled once.
            prior = None
            if p.message_id:
                sender_key = (key["message_id"], key["from_addr"])
                matches = [k for k in by_msgid.get(p.message_id, ()) if k.from_addr == key["from_addr"]]
                prior = next((k for k in matches if k.entry_id is not None), matches[0] if matches else None)
                if prior is None and sender_key in seen_in_batch:
                    first = seen_in_batch[sender_key]
                    key.update(kind="duplicate", ticket=first["ticket"], entry=first["entry"], refs=first["refs"])
                    result.duplicates += 1
                    continue
                seen_in_batch[sender_key] = key
            if prior is None and rematch and item.sha256 in by_sha:
                prior = by_sha[item.sha256]
            if prior is not None:
                key.update(kind="rematched" if rematch else "duplicate", refs=list(prior.refs))
                key["ticket_id"], key["entry_id"] = prior.ticket_id, prior.entry_id
                result.duplicates += 1
                continue

            reason = p.set_aside_reason
            if reason:
                self._aside(plan, key, item, reason)
                result.set_aside += 1
                continue

            # ---- our own mail coming back (a Bcc to ourselves, a forwarding loop)
            if msgid.parse_message_id(p.message_id, secret) or p.header("x-helpdesk-ticket"):
                key["kind"] = "own"
                result.own += 1
                continue
            if p.from_addr in self.own_addresses:
                self._aside(plan, key, item, "sent from one of our own support addresses")
                result.set_aside += 1
                continue

            if cls.kind == loops.BOUNCE:
                if self._bounce(plan, key, item, secret, sent, states):
                    result.bounces += 1
                else:
                    self._aside(plan, key, item, f"bounce for a message we cannot match ({cls.reason})")
                    result.set_aside += 1
                continue

            # ---- threading
            ticket, how = self._thread(plan, p, secret, states, msgid_ticket, is_participant)
            if cls.kind == loops.AUTO_REPLY:
                if ticket is None:
                    self._aside(plan, key, item, f"automatic reply not about a ticket ({cls.reason})")
                    result.set_aside += 1
                    continue
                text = one_line(f"Automatic reply from {p.from_name or p.from_addr}: {p.subject}", 300)
                plan.entries.append(_Entry(ticket, EntryKind.EVENT.value, text, SYSTEM, meta={
                    "event": "auto_reply", "reason": cls.reason, "from": p.from_addr,
                    "text": p.body_text[:4000], "message_id": p.message_id}))
                plan.changes.append((ticket, "event"))
                key.update(kind="auto_reply", ticket=ticket)
                result.auto += 1
                continue

            body = _entry_body(p)
            meta = self._meta(item, address, how, cls)
            sender = self._requester(plan, p)
            if ticket is None:
                subject = one_line(p.subject, 998) or "(no subject)"
                ticket = _Ticket(None, desk_id, subject, Status.NEW, None, sender, new=True, created_at=plan.now)
                plan.new_tickets.append(ticket)
                entry = _Entry(ticket, EntryKind.MESSAGE.value, body, sender.display, sender, meta,
                               search_extra=subject)
                plan.entries.append(entry)
                self._touch(ticket, body, sender, plan.now)
                plan.changes.append((ticket, "created"))
                add_people(ticket, p, "requester")
                if cls.kind == loops.HUMAN and address.email.acknowledge.strip() and p.from_addr:
                    plan.acks.append((ticket, p.from_addr, p.message_id, subject, list(p.references)))
            else:
                ticket, entry = self._customer_message(plan, ticket, body, sender, meta)
                add_people(ticket, p, "cc")
            if p.message_id:
                msgid_ticket[p.message_id] = ticket
            key.update(kind="message", ticket=ticket, entry=entry,
                       refs=list(p.references[-(MAX_REFS - 1):]) if p.references else [])
            result.entries += 1

        await self._execute(tx, plan, address)
        result.created = [t.ref() for t in plan.new_tickets]
        await ms.save_sync_state(tx, account, mailbox, uidvalidity=uidvalidity, last_uid=max(i.uid for i in items),
                                 last_sync_at=plan.now, last_error=None, add_messages=len(todo))
        return bool(plan.acks)

    # ---- planning helpers

    def _existing(self, plan: _Plan, state: ms.TicketState) -> _Ticket:
        ticket = plan.tickets.get(state.id)
        if ticket is None:
            requester = _Req(state.requester_email, state.requester_name, state.requester_id)
            ticket = _Ticket(state.id, state.desk_id, state.subject, Status(state.status), state.closed_at, requester,
                             type=state.type, channel=state.channel, language=state.language)
            plan.tickets[state.id] = ticket
        return ticket

    def _thread(self, plan: _Plan, p: ParsedMessage, secret: bytes, states: dict[int, ms.TicketState],
                msgid_ticket: dict[str, _Ticket], is_participant) -> tuple[_Ticket | None, str | None]:
        signed = msgid.ticket_from_headers(p.in_reply_to, p.references, secret)
        if signed and signed in states:
            return self._existing(plan, states[signed]), "signed"
        for mid in ([p.in_reply_to] if p.in_reply_to else []) + list(reversed(p.references[-MAX_REFS:])):
            ticket = msgid_ticket.get(mid)
            if ticket is not None:
                if is_participant(ticket, p.from_addr):
                    return ticket, "references"
                break  # a stranger quoting someone's Message-ID: no
        tag = msgid.find_subject_tag(p.subject)
        if tag and tag in states:
            ticket = self._existing(plan, states[tag])
            if is_participant(ticket, p.from_addr):
                return ticket, "tag"
        return None, None

    def _requester(self, plan: _Plan, p: ParsedMessage) -> _Req:
        addr = p.from_addr if p.from_addr and "@" in p.from_addr and len(p.from_addr) <= 320 else None
        name = one_line(p.from_name, 300)
        if addr is None:
            return _Req(None, name or "(unknown sender)")
        req = plan.requesters.get(addr)
        if req is None:
            req = plan.requesters[addr] = _Req(addr, name)
        elif name and not req.name:
            req.name = name
            if req.id is not None:
                plan.req_names[req.id] = name
        return req

    @staticmethod
    def _touch(ticket: _Ticket, body: str, sender: _Req, now: datetime) -> None:
        ticket.preview = _preview(body)
        ticket.last_message_at = now
        ticket.updated_at = now
        ticket.updated_by = sender.display
        ticket.messages += 1

    def _customer_message(self, plan: _Plan, ticket: _Ticket, body: str, sender: _Req,
                          meta: dict) -> tuple[_Ticket, _Entry]:
        """TicketService.add_customer_message, for a ticket inside a batch."""
        desk = self._desks_by_id.get(ticket.desk_id)
        reopen_days = desk.reopen_days if desk else lifecycle.DEFAULT_REOPEN_DAYS
        outcome = lifecycle.after_customer_message(ticket.status, closed_at=ticket.closed_at, now=plan.now,
                                                   reopen_days=reopen_days)
        if outcome.follow_up:
            old = ticket
            new = _Ticket(None, old.desk_id, old.subject, Status.NEW, None, old.requester, type=old.type,
                          channel=old.channel, language=old.language, new=True, follow_up_of=old.ref(),
                          created_at=plan.now)
            plan.new_tickets.append(new)
            entry = _Entry(new, EntryKind.MESSAGE.value, body, sender.display, sender, meta, search_extra=new.subject)
            plan.entries.append(entry)
            plan.entries.append(_Entry(new, EntryKind.EVENT.value, f"Follow-up of #{old.ref()}", SYSTEM,
                                       meta={"event": "follow_up", "of": old.ref()}))
            plan.entries.append(_Entry(
                old, EntryKind.EVENT.value,
                _Deferred(lambda: f"Customer wrote again after the reopen window: follow-up #{new.ref()}"), SYSTEM,
                meta=_Deferred(lambda: {"event": "follow_up_created", "ticket": new.ref()})))
            self._touch(new, body, sender, plan.now)
            plan.changes.append((new, "created"))
            plan.changes.append((old, "follow_up"))
            return new, entry
        entry = _Entry(ticket, EntryKind.MESSAGE.value, body, sender.display, sender, meta)
        plan.entries.append(entry)
        if outcome.new_status and outcome.new_status is not ticket.status:
            reason = "customer wrote again; reopened" if outcome.reopened else "customer replied"
            plan.entries.append(_Entry(ticket, EntryKind.EVENT.value,
                                       lifecycle.status_event_text(ticket.status, outcome.new_status, by=None,
                                                                   reason=reason), SYSTEM,
                                       meta={"event": "status", "from": ticket.status.value, "to": outcome.new_status.value,
                                        "by": None, "manual": False, "reason": reason}))
            ticket.status = outcome.new_status
            ticket.closed_at = None
        self._touch(ticket, body, sender, plan.now)
        plan.changes.append((ticket, "message"))
        return ticket, entry

    def _bounce(self, plan: _Plan, key: dict, item: Incoming, secret: bytes,
                sent: dict[str, tuple[int, int]], states: dict[int, ms.TicketState]) -> bool:
        cls = item.kind
        original = cls.original_message_id
        if not original:
            return False
        info = msgid.parse_message_id(original, secret)
        target = (info.outbox_id, info.ticket_id) if info else sent.get(original)
        if target is None or target[1] not in states:
            return False
        outbox_id, ticket_id = target
        ticket = self._existing(plan, states[ticket_id])
        failed = cls.failed_recipients
        delayed = [r for r in cls.recipients if not r.failed]
        raw_sha = self.attachments.put(item.raw)
        if failed or not cls.recipients:
            who = ", ".join(r.address for r in failed) or "the recipient"
            why = "; ".join(filter(None, (f"{r.status} {r.diagnostic}".strip() for r in failed)))
            text = one_line(f"Reply not delivered to {who}: bounced" + (f" ({why})" if why else ""), 400)
            update = plan.outbox_updates.setdefault(outbox_id, {"failed": {}})
            for r in failed or ():
                update["failed"][r.address] = {"state": "failed", "code": None,
                                               "text": one_line(f"bounce: {r.status} {r.diagnostic}", 300)}
            update["all"] = update.get("all", False) or not failed
            event = "delivery_failed"
        else:
            who = ", ".join(r.address for r in delayed)
            text = one_line(f"Delivery to {who} is delayed; the receiving server keeps trying", 300)
            event = "delivery_delayed"
        plan.entries.append(_Entry(ticket, EntryKind.EVENT.value, text, SYSTEM, meta={
            "event": event, "source": "bounce", "outbox": outbox_id, "reason": cls.reason,
            "recipients": [{"address": r.address, "action": r.action, "status": r.status,
                            "diagnostic": r.diagnostic} for r in cls.recipients],
            "raw": raw_sha,
        }))
        plan.changes.append((ticket, "event"))
        key.update(kind="bounce", ticket=ticket)
        return True

    def _aside(self, plan: _Plan, key: dict, item: Incoming, reason: str) -> None:
        p = item.parsed
        sha = self.attachments.put(item.raw)
        key["kind"] = "set_aside"
        plan.set_aside.append({
            "account": key["account"], "mailbox": key["mailbox"], "uidvalidity": key["uidvalidity"],
            "uid": key["uid"], "message_id": (p.message_id or "")[:998] or None, "from_addr": p.from_addr[:320],
            "subject": one_line(p.subject, 998), "reason": reason, "raw_sha256": sha, "size": len(item.raw),
            "ticket_id": None, "created_at": plan.now,
        })

    def _meta(self, item: Incoming, address: MailAddress, how: str | None, cls: loops.Classification) -> dict:
        p = item.parsed
        meta: dict[str, Any] = {"mail": {
            "message_id": p.message_id, "from": p.from_addr, "to": list(p.to[:20]), "cc": list(p.cc[:20]),
            "subject": p.subject, "date": p.date.isoformat() if p.date else None, "via": address.address,
        }}
        if how:
            meta["mail"]["threaded_by"] = how
        if cls.kind == loops.LIST:
            meta["mail"]["list"] = cls.reason
        if p.quoted_text:
            meta["quoted"] = p.quoted_text
        if p.body_from_html:
            meta["mail"]["html"] = True
        if p.attachments:
            meta["attachments"] = [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size,
                 "sha256": self.attachments.put(a.data), "inline": a.inline}
                for a in p.attachments
            ]
        if p.problems:
            meta["mail"]["problems"] = list(p.problems[:10])
        return meta

    # ---- execution: a handful of statements for the whole batch

    async def _execute(self, tx: Tx, plan: _Plan, address: MailAddress) -> None:
        now = plan.now
        fresh = [r for r in plan.requesters.values() if r.id is None and r.email]
        fresh += [e.author_requester for e in plan.entries
                  if e.author_requester is not None and e.author_requester.id is None and not e.author_requester.email]
        fresh = list({id(r): r for r in fresh}.values())
        if fresh:
            ids = await ms.insert_requesters(tx, [{"name": r.name, "email": r.email, "language": None,
                                                   "chatbot_user_id": None, "created_at": now} for r in fresh])
            for r, rid in zip(fresh, ids):
                r.id = rid
        await ms.name_requesters(tx, plan.req_names)

        if plan.new_tickets:
            rows = []
            for t in plan.new_tickets:
                rows.append({
                    "desk_id": t.desk_id, "type": t.type, "channel": t.channel, "subject": t.subject,
                    "summary": None, "status": t.status.value, "closed": not t.status.is_active,
                    "closed_at": None, "assignee_id": None, "requester_id": t.requester.id,
                    "created_at": t.created_at, "updated_at": t.updated_at or now,
                    "last_message_at": t.last_message_at or now, "last_message_by": Author.CUSTOMER.value,
                    "preview": t.preview or "", "conversation_id": None, "ai_replies_allowed": False,
                    "language": t.language, "follow_up_of": t.follow_up_of, "version": 1 + t.messages,
                    "updated_by": t.updated_by,
                })
            for t, tid in zip(plan.new_tickets, await ms.insert_tickets(tx, rows)):
                t.id = tid

        if plan.entries:
            rows = [{
                "ticket_id": e.ticket.ref(), "kind": e.kind, "body": _resolve(e.body), "search_extra": e.search_extra,
                "author_agent_id": None,
                "author_requester_id": e.author_requester.id if e.author_requester else None,
                "author_name": e.author_name, "meta": _resolve(e.meta) or {}, "created_at": now,
            } for e in plan.entries]
            for e, eid in zip(plan.entries, await ms.insert_entries(tx, rows)):
                e.id = eid

        updates = []
        for t in plan.tickets.values():
            if t.messages:
                updates.append({
                    "id": t.ref(), "status": t.status.value, "closed": not t.status.is_active,
                    "closed_at": t.closed_at if not t.status.is_active else None, "preview": t.preview,
                    "last_message_at": t.last_message_at, "last_message_by": Author.CUSTOMER.value,
                    "updated_at": t.updated_at, "updated_by": t.updated_by,
                })
        await ms.update_tickets(tx, updates)

        keys = []
        for k in plan.keys:
            ticket, entry = k.pop("ticket"), k.pop("entry")
            k.setdefault("ticket_id", ticket.ref() if ticket is not None else None)
            k.setdefault("entry_id", entry.id if entry is not None else None)
            keys.append(k)
        await ms.insert_keys(tx, keys)

        await ms.add_participants(tx, [
            {"ticket_id": t.ref(), "address": addr, "name": name, "role": role, "added_at": now}
            for t, addr, name, role in plan.participants
        ])
        await ms.insert_set_aside(tx, plan.set_aside)
        await self._apply_bounces(tx, plan)
        await self._queue_acks(tx, plan, address)
        await ms.record_changes(tx, [(t.ref(), kind) for t, kind in plan.changes])

    async def _apply_bounces(self, tx: Tx, plan: _Plan) -> None:
        for outbox_id, update in plan.outbox_updates.items():
            item = await ms.get_outbox(tx, outbox_id)
            if item is None:
                continue
            results = dict(item.results)
            failed = dict(update["failed"])
            if update.get("all"):
                for r in item.recipients:
                    failed.setdefault(r, {"state": "failed", "code": None, "text": "bounced"})
            results.update(failed)
            pending = [r for r in item.pending if r not in failed]
            values = {"id": outbox_id, "results": results, "pending": pending,
                      "last_error": next(iter(failed.values()))["text"] if failed else item.last_error}
            if item.status in ("sent", "unknown", "queued", "failed") and not pending:
                values["status"] = "failed"
            await ms.update_outbox(tx, [values])

    async def _queue_acks(self, tx: Tx, plan: _Plan, address: MailAddress) -> None:
        if not plan.acks:
            return
        template = address.email.acknowledge
        secret = await self.secret(tx)
        domain = address.address.rpartition("@")[2] or "localhost"
        ids = await ms.insert_outbox_many(tx, [{
            "ticket_id": t.ref(), "entry_id": None, "account": address.address, "status": "queued",
            "automatic": True, "mail_from": address.address, "recipients": [to], "pending": [to], "results": {},
            "attempts": 0, "next_attempt_at": plan.now, "raw": b"", "created_at": plan.now, "updated_at": plan.now,
        } for t, to, _parent, _subject, _refs in plan.acks])
        messages = []
        fixed = address.email.display_name
        for (t, to, parent, subject, refs), outbox_id in zip(plan.acks, ids):
            body = render_signature(template.replace("{ticket_id}", str(t.ref())), "", "", address.desk.name)
            message_id = msgid.make_message_id(t.ref(), outbox_id, secret, domain)
            try:
                raw = build_reply(
                    from_addr=address.address, from_name=address.desk.name if fixed == "auto" else fixed, to=to,
                    subject=msgid.reply_subject(subject, t.ref()), body=body, message_id=message_id,
                    in_reply_to=parent, references=[*refs[-(MAX_REFS - 1):], *([parent] if parent else [])],
                    ticket_id=t.ref(), date=plan.now.replace(tzinfo=timezone.utc),
                )
            except ValueError:
                continue  # an address we cannot write to: no acknowledgement, the ticket is there
            # RFC 3834: an automatic response says so, so that other robots do not answer it.
            messages.append((outbox_id, message_id, b"Auto-Submitted: auto-replied\r\n" + raw))
        await ms.set_outbox_messages(tx, messages)

    # ---------------------------------------------------------------- admin

    async def status(self) -> dict:
        async with self.store.read() as tx:
            states = await ms.all_sync_states(tx)
            aside = await ms.set_aside(tx, 50)
            total_aside = await ms.count_set_aside(tx)
            outbox = await ms.outbox_counts(tx)
        return {"mailboxes": states, "set_aside": aside, "set_aside_total": total_aside, "outbox": outbox}


def _entry_body(p: ParsedMessage) -> str:
    # parse_message has cleaned the text already (escapes, controls, bidi).
    body = p.body_text.strip("\n")
    if not body.strip():
        body = "(attachments only)" if p.attachments else "(no text)"
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY - 40] + "\n\n[… message cut at 1,000,000 characters]"
    return body


def _preview(body: str) -> str:
    """``one_line(body, PREVIEW_CHARS)`` for text parse_message already cleaned.

    one_line() re-cleans every character of the body in Python; the preview
    needs only the start, with whitespace collapsed.
    """
    head = body[:PREVIEW_CHARS * 4]
    text = " ".join(head.split())
    if len(text) < PREVIEW_CHARS and len(body) > len(head):
        text = " ".join(body.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"


# --------------------------------------------------------------------- syncer


# How often one message the server refuses to return is asked for, and the
# pauses between, before it is set aside (a refusal can pass: a busy server, a lock).
REFUSED_RETRY_DELAYS = (0.5, 2.0)
_NOT_RETURNED = "not in the server's answer (expunged meanwhile, or unreadable on the server)"


class MailboxSyncer:
    """Keeps one mailbox of one address in the database (see the module docstring)."""

    def __init__(self, service: MailService, address: MailAddress, *, batch_size: int = 250,
                 lease_ttl: float = 60.0, keepalive: float = 300.0, poll_chunk: float = 1.0,
                 backoff_base: float = 1.0, backoff_max: float = 300.0, imap_timeout: float = 60.0):
        self.service = service
        self.address = address
        self.mailbox = address.email.mailbox or "INBOX"
        self.folder = address.email.processed_folder
        self.batch_size = batch_size
        self.lease_ttl = timedelta(seconds=lease_ttl)
        self.keepalive = keepalive
        self.poll_chunk = poll_chunk
        self.backoff = Backoff(backoff_base, backoff_max)
        self.imap_timeout = imap_timeout
        self.lease_name = f"mail-sync:{address.address}:{self.mailbox}"
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.connects = 0  # connection attempts, for tests
        self.passes = 0

    @property
    def lease(self) -> tuple[str, str, timedelta]:
        return (self.lease_name, self.holder, self.lease_ttl)

    def _worker(self) -> ImapWorker:
        return ImapWorker(self.address.email.imap, timeout=self.imap_timeout, label=self.address.address)

    async def _take_lease(self) -> str | None:
        """None when we hold the lease, else who does."""
        async with self.service.store.write() as tx:
            if await tx.acquire_lease(*self.lease):
                return None
            if await ms.steal_dead_lease(tx, self.lease_name, _holder_alive) and await tx.acquire_lease(*self.lease):
                return None
            holder = await ms.lease_holder(tx, self.lease_name)
            return holder[0] if holder else "another process"

    async def _drop_lease(self) -> None:
        try:
            async with self.service.store.write() as tx:
                await tx.release_lease(self.lease_name, self.holder)
        except Exception:  # noqa: BLE001 - it expires by itself
            log.debug("could not release %s", self.lease_name, exc_info=True)

    async def _note(self, **values) -> None:
        async with self.service.store.write() as tx:
            await ms.save_sync_state(tx, self.address.address, self.mailbox, **values)

    def _emit(self, progress: ProgressCallback | None, phase: str, **kw) -> None:
        if progress is not None:
            try:
                progress(SyncProgress(self.address.address, self.mailbox, phase, **kw))
            except Exception:  # noqa: BLE001 - a broken progress display must not stop the sync
                log.debug("progress callback failed", exc_info=True)

    # ---------------------------------------------------------------- once

    async def sync_once(self, progress: ProgressCallback | None = None) -> SyncReport:
        """Connect, bring the mailbox up to date, disconnect (``helpdesk sync --once``)."""
        report = SyncReport(self.address.address, self.mailbox)
        started = time.monotonic()
        holder = await self._take_lease()
        if holder is not None:
            report.busy = holder
            self._emit(progress, "busy", message=f"synced by {holder}")
            return report
        worker = self._worker()
        try:
            self._emit(progress, "connecting")
            self.connects += 1
            await worker.open()
            status = await worker.select(self.mailbox, self.folder)
            await self._pass(worker, status, progress, report)
        except LeaseLost as exc:
            report.busy = "another process"
            self._emit(progress, "busy", message=str(exc))
        except (ImapError, OSError) as exc:
            report.error = str(exc)
            await self._note(last_error=one_line(str(exc), 500))
            self._emit(progress, "error", message=str(exc))
        finally:
            await worker.close()
            await self._drop_lease()
        report.seconds = time.monotonic() - started
        return report

    # ------------------------------------------------------------- forever

    async def run(self, stop: asyncio.Event, progress: ProgressCallback | None = None) -> None:
        """Sync, then IDLE (or poll) and sync again, until *stop* is set.

        Connection trouble (BYE, reset, a silent server) reconnects with
        backoff and jitter; each pass asks for everything above the last
        committed UID, so nothing that arrived meanwhile is missed.
        """
        while not stop.is_set():
            holder = await self._take_lease()
            if holder is not None:
                self._emit(progress, "busy", message=f"synced by {holder}")
                if await _sleep_or_stop(stop, self.lease_ttl.total_seconds() / 2):
                    return
                continue
            worker = self._worker()
            lost = asyncio.Event()
            keeper = asyncio.create_task(self._keep_lease(stop, lost, worker))
            relay = asyncio.create_task(self._relay_stop(stop, lost, worker))
            try:
                self._emit(progress, "connecting")
                self.connects += 1
                await worker.open()
                while not stop.is_set() and not lost.is_set():
                    status = await worker.select(self.mailbox, self.folder)
                    report = SyncReport(self.address.address, self.mailbox)
                    await self._pass(worker, status, progress, report)
                    self.backoff.reset()
                    self._emit(progress, "idle")
                    wait = self.keepalive if status.idle else float(self.address.email.poll_seconds or 60)
                    await worker.wait(wait, poll_chunk=self.poll_chunk)
            except LeaseLost:
                self._emit(progress, "busy", message="another process took over")
            except Exception as exc:  # noqa: BLE001 - IMAP, network or database trouble: never die, back off
                if not isinstance(exc, (ImapError, OSError)):
                    log.exception("mail sync of %s %s failed", self.address.address, self.mailbox)
                delay = self.backoff.next()
                self._emit(progress, "reconnecting", message=f"{exc}; retrying in {delay:.1f} s")
                try:
                    await self._note(last_error=one_line(str(exc), 500))
                except Exception:  # noqa: BLE001 - the database may be the thing that is down
                    pass
                await worker.close()
                if await _sleep_or_stop(stop, delay):
                    break
            finally:
                keeper.cancel()
                relay.cancel()
                await worker.close()
        await self._drop_lease()

    async def _relay_stop(self, stop: asyncio.Event, lost: asyncio.Event, worker: ImapWorker) -> None:
        # The IMAP thread waits on a threading.Event; wake it when we stop.
        stop_task = asyncio.create_task(stop.wait())
        lost_task = asyncio.create_task(lost.wait())
        try:
            await asyncio.wait({stop_task, lost_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_task.cancel()
            lost_task.cancel()
            worker.stop_event.set()

    async def _keep_lease(self, stop: asyncio.Event, lost: asyncio.Event, worker: ImapWorker) -> None:
        interval = self.lease_ttl.total_seconds() / 3
        while not stop.is_set():
            if await _sleep_or_stop(stop, interval):
                return
            try:
                async with self.service.store.write() as tx:
                    ok = await tx.acquire_lease(*self.lease)
            except Exception:  # noqa: BLE001 - try again next round; the TTL covers us
                log.warning("could not renew %s", self.lease_name, exc_info=True)
                continue
            if not ok:
                lost.set()
                return

    # ---------------------------------------------------------------- a pass

    async def _pass(self, worker: ImapWorker, status: MailboxStatus, progress: ProgressCallback | None,
                    report: SyncReport) -> None:
        service = self.service
        account = self.address.address
        self.passes += 1
        async with service.store.read() as tx:
            state = await ms.sync_state(tx, account, self.mailbox)
        last_uid = state.last_uid if state else 0
        rematch = False
        if state is not None and state.uidvalidity is not None and state.uidvalidity != status.uidvalidity:
            warning = (f"UIDVALIDITY of {self.mailbox} on {account} changed from {state.uidvalidity} to "
                       f"{status.uidvalidity} (the mailbox was recreated or restored): its messages are matched "
                       f"again by Message-ID; nothing was deleted or duplicated")
            log.warning(warning)
            report.warning = warning
            self._emit(progress, "warning", message=warning)
            await self._note(uidvalidity=status.uidvalidity, last_uid=0, warning=warning, warning_at=_utcnow(service))
            last_uid = 0
            rematch = True
        elif state is None or state.uidvalidity is None:
            await self._note(uidvalidity=status.uidvalidity)

        # Committed earlier but not flagged/moved (a crash came in between).
        async with service.store.read() as tx:
            leftovers = await ms.unmarked_uids(tx, account, self.mailbox, status.uidvalidity)
        if leftovers:
            await self._mark(worker, leftovers, status.uidvalidity)

        uids = await worker.uids_after(last_uid)
        total = len(uids)
        started = time.monotonic()
        done = 0
        if total:
            self._emit(progress, "syncing", done=0, total=total)
        batches = [uids[i:i + self.batch_size] for i in range(0, total, self.batch_size)]
        # Fetch and parse the next batch on the IMAP thread while this one is written.
        pool = service.parse_pool
        if pool.enabled and total >= pool.MIN_BACKLOG:
            try:
                pool.warm()
            except Exception:  # noqa: BLE001 - no processes here: parse on the IMAP thread
                pool.workers = 1
        next_task = asyncio.ensure_future(self._fetch(worker, batches[0], total)) if batches else None
        try:
            for index, batch in enumerate(batches):
                items, refused = await next_task
                next_task = None
                if index + 1 < len(batches):
                    next_task = asyncio.ensure_future(self._fetch(worker, batches[index + 1], total))
                _crash_point("after_fetch", service._crashes)
                # In UID order: the messages below a refused one, then that one, and so on.
                for uid in sorted(refused):
                    await self._store(worker, [i for i in items if i.uid < uid], status.uidvalidity, rematch, report)
                    items = [i for i in items if i.uid > uid]
                    await self._refused(uid, refused[uid], status.uidvalidity, report)
                await self._store(worker, items, status.uidvalidity, rematch, report)
                done += len(batch)
                elapsed = max(time.monotonic() - started, 1e-6)
                self._emit(progress, "syncing", done=done, total=total, rate=done / elapsed)
        finally:
            if next_task is not None:  # a pass cut short: the prefetch is not wanted any more
                next_task.cancel()
        elapsed = max(time.monotonic() - started, 1e-6)
        self._emit(progress, "done", done=total, total=total, rate=total / elapsed if total else 0.0)

    async def _store(self, worker: ImapWorker, items: list[Incoming], uidvalidity: int, rematch: bool,
                     report: SyncReport) -> None:
        if not items:
            return
        result = await self.service.ingest(self.address, self.mailbox, uidvalidity, items,
                                           lease=self.lease, rematch=rematch)
        report.add(result)
        _crash_point("after_commit", self.service._crashes)
        await self._mark(worker, [i.uid for i in items], uidvalidity)
        report.fetched += len(items)

    async def _refused(self, uid: int, reason: str, uidvalidity: int, report: SyncReport) -> None:
        """Set aside message *uid*, which could not be fetched: it no longer holds up the mailbox."""
        log.warning("%s %s: UID %s set aside, it could not be fetched: %s",
                    self.address.address, self.mailbox, uid, reason)
        await self.service.set_aside_unreadable(self.address, self.mailbox, uidvalidity, uid, reason, self.lease)
        report.add(BatchResult(set_aside=1))

    async def _fetch(self, worker: ImapWorker, uids: list[int], backlog: int) -> tuple[list[Incoming], dict[int, str]]:
        """The batch parsed, and the UIDs the server refused to return (with its reason)."""
        fetched, refused = await self._fetch_raw(worker, uids)
        pool = self.service.parse_pool
        if pool.enabled and backlog >= pool.MIN_BACKLOG and len(fetched) >= pool.MIN_BATCH:
            try:
                return await pool.prepare(fetched), refused
            except Exception as exc:  # noqa: BLE001 - BrokenProcessPool, a worker that could not start
                log.warning("parsing in worker processes failed (%s); parsing here instead", exc)
                pool.close()
                pool.workers = 1
        return await worker.call(prepare, fetched), refused

    async def _fetch_raw(self, worker: ImapWorker, uids: list[int]) -> tuple[list[Fetched], dict[int, str]]:
        """Fetch *uids*, and the ones that could not be fetched, with why.

        A batch the server refuses is halved until the refused message is found.
        A message refused, or left out of the server's answer, is asked for again
        a few times before it is reported, so that one message the server cannot
        read is set aside instead of holding up the mailbox, or being skipped
        without a word.
        """
        try:
            fetched = await worker.fetch(uids)
            why = _NOT_RETURNED
        except ConnectionLost:
            raise  # the connection, not a message: reconnect
        except ImapError as exc:
            if len(uids) > 1:
                half = len(uids) // 2
                first, refused_first = await self._fetch_raw(worker, uids[:half])
                second, refused_second = await self._fetch_raw(worker, uids[half:])
                return first + second, refused_first | refused_second
            fetched, why = [], f"refused: {exc}"
        got = {f.uid for f in fetched}
        refused: dict[int, str] = {}
        for uid in (u for u in uids if u not in got):
            item, reason = await self._fetch_again(worker, uid, why)
            if item is None:
                refused[uid] = reason
            else:
                fetched.append(item)
        return sorted(fetched, key=lambda f: f.uid), refused

    async def _fetch_again(self, worker: ImapWorker, uid: int, why: str) -> tuple[Fetched | None, str]:
        for delay in REFUSED_RETRY_DELAYS:
            await asyncio.sleep(delay)
            try:
                got = await worker.fetch([uid])
            except ConnectionLost:
                raise
            except ImapError as exc:
                why = f"refused: {exc}"
                continue
            if got:
                return got[0], why
            why = _NOT_RETURNED
        return None, why

    async def _mark(self, worker: ImapWorker, uids: list[int], uidvalidity: int) -> None:
        await worker.mark(uids, self.folder)
        _crash_point("after_mark", self.service._crashes)
        async with self.service.store.write() as tx:
            await ms.set_marked(tx, self.address.address, self.mailbox, uidvalidity, uids)


def _utcnow(service: MailService) -> datetime:
    return _naive(service.store.clock())


__all__ = [
    "Backoff", "BatchResult", "Incoming", "LeaseLost", "MailAddress", "MailService", "MailboxSyncer",
    "SyncProgress", "SyncReport", "prepare",
]
