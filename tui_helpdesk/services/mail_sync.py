"""The IMAP sync: keeps each configured mailbox in the database.

Per fetch batch (SPEC §6, RELIABILITY "Mail sync"):

1. fetch ``BODY.PEEK[]`` (nothing is flagged yet), parse and classify each
   message on the IMAP worker thread, or in worker processes for a backlog;
2. write the batch in ONE transaction (``MailService.ingest``, see
   mail_ingest): a crash before the commit leaves nothing, after it
   everything, so a re-run never duplicates and never loses a message;
3. only then flag ``\\Seen`` or move the messages, and record that they were.

One syncer per mailbox across processes: a lease in the database, renewed
while the syncer runs and inside each batch's transaction (a syncer that lost
its lease cannot commit).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..adapters.store import mailstore as ms
from ..domain.clock import naive_utc
from ..domain.errors import HelpdeskError
from ..domain.mail.transport import ConnectionLost, Fetched, ImapError, Incoming, MailboxStatus
from ..domain.text import one_line
from .leases import Lease

if TYPE_CHECKING:
    from .mail import MailAddress, MailService
    from .ports import MailReader

log = logging.getLogger(__name__)

CRASH_ENV = "HELPDESK_TEST_MAIL_CRASH"  # test hook: "after_fetch", "after_commit[:n]", "after_mark[:n]"


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
    history: int = 0  # imported as history (no acknowledgement)
    quiet: list[int] = field(default_factory=list)  # tickets made of history: not routed

    def merge(self, other: "BatchResult") -> "BatchResult":
        return BatchResult(
            self.created + other.created, self.entries + other.entries, self.duplicates + other.duplicates,
            self.set_aside + other.set_aside, self.bounces + other.bounces, self.auto + other.auto,
            self.own + other.own, self.skipped + other.skipped, self.history + other.history,
            self.quiet + other.quiet,
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
    first_contact: bool = False  # the desk's first sync of this mailbox
    history: int = 0  # messages imported as history (no acknowledgement)
    history_left: int = 0  # history left on the server untouched (history = "skip", or older than history_days)

    def add(self, batch: BatchResult) -> None:
        self.history += batch.history
        self.created += len(batch.created)
        self.entries += batch.entries
        self.duplicates += batch.duplicates
        self.set_aside += batch.set_aside
        self.bounces += batch.bounces
        self.auto += batch.auto
        self.own += batch.own


# ------------------------------------------------------------------- helpers


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
        self._lease = Lease(service.store, self.lease_name, self.lease_ttl)
        self.holder = self._lease.holder
        self.connects = 0  # connection attempts, for tests
        self.passes = 0

    @property
    def lease(self) -> tuple[str, str, timedelta]:
        return self._lease.key

    def _worker(self) -> MailReader:
        return self.service.mail_reader_factory(self.address.email.imap, timeout=self.imap_timeout,
                                                label=self.address.address)

    async def _take_lease(self) -> str | None:
        """None when we hold the lease, else who does."""
        return await self._lease.take()

    async def _drop_lease(self) -> None:
        try:
            await self._lease.release()
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
            keeper = asyncio.create_task(self._lease.keep(stop, lost))
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

    async def _relay_stop(self, stop: asyncio.Event, lost: asyncio.Event, worker: MailReader) -> None:
        # The IMAP thread waits on a threading.Event; wake it when we stop.
        stop_task = asyncio.create_task(stop.wait())
        lost_task = asyncio.create_task(lost.wait())
        try:
            await asyncio.wait({stop_task, lost_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_task.cancel()
            lost_task.cancel()
            worker.stop_event.set()

    # ---------------------------------------------------------------- a pass

    async def _pass(self, worker: MailReader, status: MailboxStatus, progress: ProgressCallback | None,
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
        history_uid, connected_at, last_uid = await self._first_contact(worker, status, state, last_uid, report,
                                                                        rematch)

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
                items, left_top = self._history(items, history_uid, connected_at, report)
                for uid in sorted(refused):
                    await self._store(worker, [i for i in items if i.uid < uid], status.uidvalidity, rematch, report)
                    items = [i for i in items if i.uid > uid]
                    await self._refused(uid, refused[uid], status.uidvalidity, report)
                await self._store(worker, items, status.uidvalidity, rematch, report)
                if left_top:
                    await self._advance(left_top)
                done += len(batch)
                elapsed = max(time.monotonic() - started, 1e-6)
                self._emit(progress, "syncing", done=done, total=total, rate=done / elapsed)
        finally:
            if next_task is not None:  # a pass cut short: the prefetch is not wanted any more
                next_task.cancel()
        elapsed = max(time.monotonic() - started, 1e-6)
        self._emit(progress, "done", done=total, total=total, rate=total / elapsed if total else 0.0)

    async def _first_contact(self, worker: MailReader, status: MailboxStatus, state: ms.SyncState | None,
                             last_uid: int, report: SyncReport, rematch: bool = False) -> tuple[int, datetime | None, int]:
        """(first UID that is not history, when the desk connected, the UID to sync after).

        On the desk's first sync of a mailbox, everything already in it is
        history: the first UID after it is recorded with the moment, before any
        message is written, so a sync cut short and resumed still knows. A
        mailbox synced before this was recorded has no history left. A new
        UIDVALIDITY (the mailbox recreated or restored) makes what it holds
        history again: what we had is matched again, the rest is imported quietly.
        """
        if state is not None and state.connected_at is not None:
            if rematch:
                history_uid = await self._uidnext(worker, status, last_uid)
                await self._note(history_uid=history_uid)
                return history_uid, state.connected_at, last_uid
            return state.history_uid or 0, state.connected_at, last_uid
        fresh = state is None or not state.messages
        if fresh:
            history_uid = await self._uidnext(worker, status, last_uid)
        else:
            history_uid = last_uid + 1
        now = _utcnow(self.service)
        values: dict = {"connected_at": now, "history_uid": history_uid}
        report.first_contact = fresh
        if fresh and self.address.email.history == "skip" and history_uid - 1 > last_uid:
            report.history_left = len([u for u in await worker.uids_after(last_uid) if u < history_uid])
            last_uid = values["last_uid"] = history_uid - 1
        await self._note(**values)
        return history_uid, now, last_uid

    @staticmethod
    async def _uidnext(worker: MailReader, status: MailboxStatus, last_uid: int) -> int:
        """The UID the next message to arrive will get (asked for when the server did not say)."""
        if status.uidnext:
            return int(status.uidnext)
        uids = await worker.uids_after(last_uid)
        return (max(uids) if uids else last_uid) + 1

    def _history(self, items: list[Incoming], history_uid: int, connected_at: datetime | None,
                 report: SyncReport) -> tuple[list[Incoming], int]:
        """Mark history (there before the first sync, or already read); leave out what history_days does.

        Returns the messages to store and the highest UID left out (0 for none).
        """
        days = self.address.email.history_days
        cutoff = connected_at - timedelta(days=days) if connected_at is not None and days > 0 else None
        kept: list[Incoming] = []
        for item in items:
            item.history = item.uid < history_uid or item.seen
            if item.history and item.uid < history_uid and cutoff is not None and _arrived(item) < cutoff:
                report.history_left += 1
                continue
            kept.append(item)
        kept_ids = {id(i) for i in kept}
        left = [i.uid for i in items if id(i) not in kept_ids]
        return kept, max(left, default=0)

    async def _advance(self, uid: int) -> None:
        """Sync after *uid* from now on: the history left out is on the server, untouched."""
        async with self.service.store.write() as tx:
            if not await tx.acquire_lease(*self.lease):
                raise LeaseLost(f"{self.address.address} {self.mailbox}: another process took over the sync")
            state = await ms.sync_state(tx, self.address.address, self.mailbox)
            if state is None or state.last_uid < uid:
                await ms.save_sync_state(tx, self.address.address, self.mailbox, last_uid=uid)

    async def _store(self, worker: MailReader, items: list[Incoming], uidvalidity: int, rematch: bool,
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

    async def _fetch(self, worker: MailReader, uids: list[int], backlog: int) -> tuple[list[Incoming], dict[int, str]]:
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
        return await worker.prepare(fetched), refused

    async def _fetch_raw(self, worker: MailReader, uids: list[int]) -> tuple[list[Fetched], dict[int, str]]:
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

    async def _fetch_again(self, worker: MailReader, uid: int, why: str) -> tuple[Fetched | None, str]:
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

    async def _mark(self, worker: MailReader, uids: list[int], uidvalidity: int) -> None:
        await worker.mark(uids, self.folder)
        _crash_point("after_mark", self.service._crashes)
        async with self.service.store.write() as tx:
            await ms.set_marked(tx, self.address.address, self.mailbox, uidvalidity, uids)


def _utcnow(service: MailService) -> datetime:
    return naive_utc(service.store.clock())


def _arrived(item: Incoming) -> datetime:
    """When a message reached the mailbox (INTERNALDATE, else its Date), as naive UTC."""
    at = item.internaldate or item.parsed.date
    if at is None:
        return datetime.max
    return naive_utc(at if at.tzinfo else at.astimezone())


__all__ = [
    "CRASH_ENV", "REFUSED_RETRY_DELAYS", "Backoff", "BatchResult", "LeaseLost", "MailboxSyncer",
    "ProgressCallback", "SyncProgress", "SyncReport",
]
