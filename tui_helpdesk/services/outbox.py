"""The mail outbox worker: send queued replies, retry, and show what failed.

A reply's outbox row is written in the reply's own transaction (the reply
hook in :mod:`.mail`), with the finished message bytes, so the queue survives
any restart and every retry sends the same Message-ID. This worker:

- takes a lease per support address, so one process sends for it;
- first turns rows a dead sender left in ``sending`` into ``unknown``: it may
  have handed them to the server, so they are shown, not resent;
- claims due rows in small batches and sends them over a few reused SMTP
  connections; each result (see :mod:`..adapters.mail.smtp`) is written back
  in one transaction per batch, with a timeline event on the ticket for every
  permanent failure and every ``unknown``;
- retries 4xx and network errors with exponential backoff and jitter, only
  for the recipients still pending (a partial refusal retries just those);
- limits *automatic* mail (acknowledgements) per recipient per hour, so two
  auto-responders that do not mark their mail cannot start a storm.

The claiming, retrying and settling is the shared outbox mechanism of
:mod:`.outbox_engine`; this module is its SMTP channel. The SMTP client comes
from the sender factory the service is given (see :mod:`..bootstrap`).

``drain()`` sends everything that is due and returns (tests, ``helpdesk sync
--once``); ``run()`` keeps going until stopped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta, timezone

from ..domain.mail.loops import ReplyRateLimiter
from ..adapters.store import mailstore as ms
from ..adapters.store.repository import Store, Tx
from ..domain.clock import naive_utc
from ..domain.errors import UsageError
from ..domain.mail.transport import RecipientResult, SmtpError
from ..domain.outbox import MailOutboxItem
from ..domain.model import Agent
from ..domain.text import one_line
from ..settings import EmailSettings, Settings
from .leases import Lease, new_holder
from .outbox_engine import (
    FAILED,
    QUEUED,
    RETRY,
    SENT,
    SUPPRESSED,
    UNKNOWN,
    UNTRIED,
    Attempt,
    DrainReport,
    NotAttempted,
    Note,
    OutboxEngine,
    Progress,
    RetryPolicy,
    Settled,
    abandoned,
)
from .ports import MailSender, MailSenderFactory
from .tickets import TicketService

log = logging.getLogger(__name__)

FINAL = ("sent", "failed", "unknown", "suppressed")


@dataclass(slots=True)
class OutboxReport(DrainReport):
    busy: list[str] = field(default_factory=list)  # addresses another process sends for

    def line(self) -> str:
        parts = [f"{self.sent} sent"]
        for name in ("retrying", "failed", "unknown", "suppressed"):
            if getattr(self, name):
                parts.append(f"{getattr(self, name)} {name}")
        return "outbox: " + ", ".join(parts)


class OutboxService:
    def __init__(
        self, store: Store, tickets: TicketService, settings: Settings, *, sender_factory: MailSenderFactory,
        retry_base: float = 60.0, retry_max: float = 3600.0, max_attempts: int = 10,
        timeout: float = 30.0, data_timeout: float = 120.0, batch: int = 100, connections: int = 4,
        automatic_per_hour: int = 5, lease_ttl: float = 120.0,
    ):
        self.store = store
        self.tickets = tickets
        self.settings = settings
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.data_timeout = data_timeout
        self.batch = batch
        self.connections = connections
        self.lease_ttl = timedelta(seconds=lease_ttl)
        self.accounts: dict[str, EmailSettings] = {
            e.address.strip().lower(): e for d in settings.desks for e in d.emails if e.address
        }
        self._factory = sender_factory
        self._senders: dict[tuple[str, int], MailSender] = {}
        self.limiter = ReplyRateLimiter(automatic_per_hour)
        self._limiter_seeded = False
        self.holder = new_holder()
        self.engine = OutboxEngine(store, tickets)
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def sender(self, address: str, index: int = 0) -> MailSender:
        key = (address, index)
        if key not in self._senders:
            self._senders[key] = self._factory(self.accounts[address], timeout=self.timeout,
                                               data_timeout=self.data_timeout)
        return self._senders[key]

    async def close(self) -> None:
        for sender in self._senders.values():
            await sender.close()
        self._senders.clear()

    # ------------------------------------------------------------- queries

    async def for_ticket(self, ticket_id: int) -> list[MailOutboxItem]:
        async with self.store.read() as tx:
            return await ms.outbox_for_ticket(tx, ticket_id)

    async def get(self, outbox_id: int) -> MailOutboxItem | None:
        async with self.store.read() as tx:
            return await ms.get_outbox(tx, outbox_id)

    async def resend(self, outbox_id: int, *, actor: Agent) -> MailOutboxItem:
        """Queue a failed or unknown message again (an agent decided to)."""
        async with self.store.write() as tx:
            item = await ms.get_outbox(tx, outbox_id)
            if item is None:
                raise UsageError(f"no outgoing message {outbox_id}")
            if item.status not in ("failed", "unknown", "suppressed"):
                raise UsageError(f"message {outbox_id} is {item.status}; only failed or unknown mail can be resent")
            again = [r for r in item.recipients if item.results.get(r, {}).get("state") != SENT] or list(item.recipients)
            await ms.update_outbox(tx, [{"id": outbox_id, "status": "queued", "pending": again, "attempts": 0,
                                         "next_attempt_at": tx.now(), "claimed_by": None}])
            await self.tickets.event(tx, item.ticket_id, f"Resending the reply to {', '.join(again)} ({actor.name})",
                                      {"event": "delivery_resend", "outbox": outbox_id, "by": actor.login})
            await tx.record_change(item.ticket_id, "event", actor.id)
            item = await ms.get_outbox(tx, outbox_id)
        self.wake.set()
        return item

    # --------------------------------------------------------------- drain

    async def drain(self, *, addresses: list[str] | None = None) -> OutboxReport:
        """Send everything due now, for every address (or the given ones)."""
        report = OutboxReport()
        # One drain at a time in this process: the lease is per process, and a
        # second drain would take the first one's rows for stranded ones.
        async with self._lock:
            await self._seed_limiter()
            for address in addresses or list(self.accounts):
                email = self.accounts.get(address)
                if email is None or not email.smtp.host:
                    continue
                try:
                    self.sender(address).check()  # a configuration error: before anything is claimed
                    await self._drain_account(address, report)
                except SmtpError as exc:
                    report.errors.append(str(exc))
        return report

    async def _seed_limiter(self) -> None:
        # Automatic mail sent in the last hour by any earlier run counts too.
        if self._limiter_seeded:
            return
        async with self.store.read() as tx:
            since = tx.now() - timedelta(hours=1)
            for addr, at in await ms.automatic_sent_since(tx, since):
                self.limiter.allow(addr, at.replace(tzinfo=timezone.utc))
        self._limiter_seeded = True

    async def _drain_account(self, address: str, report: OutboxReport) -> None:
        lease = Lease(self.store, f"mail-outbox:{address}", self.lease_ttl, self.holder)
        if await self.engine.drain(_SmtpChannel(self, address), report, limit=self.batch, lease=lease) is not None:
            report.busy.append(address)

    def _allowed(self, item: MailOutboxItem) -> bool:
        now = naive_utc(self.store.clock()).replace(tzinfo=timezone.utc)
        return all(self.limiter.allow(r, now) for r in item.pending)

    def notify(self) -> None:
        """Something was queued in this process: send it without waiting for the poll."""
        self.wake.set()

    # ----------------------------------------------------------------- run

    async def run(self, stop: asyncio.Event, *, poll: float = 5.0) -> None:
        """Drain whenever something is due, until *stop* is set.

        Other processes' replies are found by polling every *poll* seconds;
        this process's own are sent at once (:meth:`notify`). A notification
        can arrive before the reply's transaction committed, so a wake-up that
        found nothing looks again a moment later.
        """
        woken = False
        while not stop.is_set():
            report = OutboxReport()
            try:
                report = await self.drain()
            except Exception:  # noqa: BLE001 - keep the worker alive; the next round retries
                log.exception("outbox drain failed")
            async with self.store.read() as tx:
                due = await ms.next_due(tx)
                now = tx.now()
            wait = poll if due is None else min(poll, max(0.05, (due - now).total_seconds()))
            if woken and not report.attempted and not report.suppressed:
                wait = min(wait, 0.3)
            self.wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
            try:
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            woken = self.wake.is_set()
        await self.close()


# ----------------------------------------------------------------- channel

STOPPED = "the sending process stopped while this message was being sent"


class _SmtpChannel:
    """The outbox rows of one sending address, sent over SMTP (a channel of :mod:`.outbox_engine`)."""

    claims = True

    def __init__(self, service: OutboxService, address: str):
        self.service = service
        self.address = address
        self.connections = service.connections
        self.policy = RetryPolicy(service.retry_base, service.retry_max, service.max_attempts, jitter=0.25)

    async def claim(self, tx: Tx, limit: int) -> list[MailOutboxItem]:
        return await ms.claim_due(tx, self.address, self.service.holder, limit)

    async def stranded(self, tx: Tx) -> list[Settled]:
        return [abandoned(item, self.progress(item),
                          {r: RecipientResult(r, UNKNOWN, None, STOPPED) for r in item.pending})
                for item in await ms.stranded(tx, self.address)]

    def progress(self, item: MailOutboxItem) -> Progress:
        return Progress(item.attempts, list(item.pending), {r: v.get("state") for r, v in item.results.items()})

    async def send(self, item: MailOutboxItem, connection: int) -> Attempt:
        if item.automatic and not self.service._allowed(item):
            return Attempt({}, suppressed=True)
        try:
            outcome = await self.service.sender(self.address, connection).send(item.mail_from, list(item.pending),
                                                                              item.raw)
        except SmtpError as exc:  # configuration (a password that cannot be read): nothing was sent
            raise NotAttempted(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - not known where it failed: may have been sent
            log.exception("sending outbox message %s failed", item.id)
            outcome = {r: RecipientResult(r, UNKNOWN, None, one_line(f"internal error: {exc}", 300))
                       for r in item.pending}
        # The server is unreachable: back off the whole queue.
        unreachable = bool(outcome) and all(r.state == RETRY and r.code is None for r in outcome.values())
        return Attempt(outcome, stop=unreachable)

    async def current(self, tx: Tx, item: MailOutboxItem, attempt: Attempt) -> MailOutboxItem:
        return item  # claimed by this process: nobody else changes it meanwhile

    def _merged(self, s: Settled) -> dict[str, dict]:
        merged = dict(s.item.results)
        merged.update({addr: r.as_dict() for addr, r in s.results.items()})
        for a in s.gave_up:
            r = s.results[a]
            merged[a] = {"state": FAILED, "code": r.code,
                         "text": one_line(f"gave up after {s.attempts} attempts: {r.text}", 300)}
        return merged

    async def store(self, tx: Tx, settled: list[Settled]) -> None:
        now = tx.now()
        sent_fast: list[dict] = []
        for s in settled:
            item = s.item
            if s.status == UNTRIED:
                await ms.update_outbox(tx, [{"id": item.id, "status": "queued", "claimed_by": None}])
            elif s.status == SUPPRESSED:
                await ms.update_outbox(tx, [{"id": item.id, "status": "suppressed", "pending": [],
                                             "claimed_by": None,
                                             "last_error": "loop protection: too many automatic replies"}])
            elif s.stranded:
                await ms.update_outbox(tx, [{"id": item.id, "status": "unknown", "results": self._merged(s),
                                             "pending": [], "claimed_by": None,
                                             "last_error": "the sending process stopped while sending"}])
            elif s.status == SENT and not item.results:
                sent_fast.append({"id": item.id, "status": "sent", "pending": [], "results": self._merged(s),
                                  "attempts": s.attempts, "sent_at": now, "claimed_by": None, "last_error": None})
            else:
                values = {"id": item.id, "status": s.status, "pending": s.retry, "results": self._merged(s),
                          "attempts": s.attempts, "claimed_by": None, "last_error": s.problem}
                if s.status == QUEUED:
                    values["next_attempt_at"] = s.next_attempt_at
                if s.sent_now:
                    values["sent_at"] = now
                await ms.update_outbox(tx, [values])
        await ms.update_outbox_many(tx, sent_fast, ("status", "pending", "results", "attempts", "sent_at",
                                                    "claimed_by", "last_error"))

    def notes(self, s: Settled) -> list[Note]:
        item = s.item
        if s.status == SUPPRESSED:
            return [_note(item, "suppressed", list(item.pending), "")]
        if s.stranded:
            return [_note(item, "unknown", list(item.pending), "the sending process stopped while sending it")]
        notes = []
        if s.failed:
            merged = self._merged(s)
            notes.append(_note(item, "failed", s.failed, "; ".join(dict.fromkeys(merged[a]["text"] for a in s.failed))))
        if s.unknown:
            notes.append(_note(item, "unknown", s.unknown,
                               "; ".join(dict.fromkeys(s.results[a].text for a in s.unknown))))
        return notes


def _note(item: MailOutboxItem, what: str, recipients: list[str], detail: str) -> Note:
    who = ", ".join(recipients) or "the recipients"
    kind = "acknowledgement" if item.automatic else "reply"
    if what == "failed":
        text = f"{kind.capitalize()} not delivered to {who}: {detail}"
        event = "delivery_failed"
    elif what == "unknown":
        text = (f"Delivery of the {kind} to {who} is uncertain ({detail}); it was not resent automatically: "
                f"resend it if the customer did not get it")
        event = "delivery_unknown"
    else:
        text = (f"Automatic {kind} to {who} not sent: loop protection allows only a few automatic replies "
                f"to one address in an hour")
        event = "delivery_suppressed"
    meta = {
        "event": event, "outbox": item.id, "entry": item.entry_id, "recipients": recipients,
        "message_id": item.message_id,
    }
    if event == "delivery_suppressed":
        # Holding back an automatic answer is the protection working, not a fault: shown dim.
        meta["quiet"] = True
    return Note(item.ticket_id, one_line(text, 500), meta)
