"""The mail outbox worker: send queued replies, retry, and show what failed.

A reply's outbox row is written in the reply's own transaction (the reply
hook in :mod:`.mail`), with the finished message bytes, so the queue survives
any restart and every retry sends the same Message-ID. This worker:

- takes a lease per support address, so one process sends for it;
- first turns rows a dead sender left in ``sending`` into ``unknown``: it may
  have handed them to the server, so they are shown, not resent;
- claims due rows in small batches and sends them over one reused SMTP
  connection; each result (see :mod:`..adapters.mail.smtp`) is written back in
  one transaction per batch, with a timeline event on the ticket for every
  permanent failure and every ``unknown``;
- retries 4xx and network errors with exponential backoff and jitter, only
  for the recipients still pending (a partial refusal retries just those);
- limits *automatic* mail (acknowledgements) per recipient per hour, so two
  auto-responders that do not mark their mail cannot start a storm.

``drain()`` sends everything that is due and returns (tests, ``helpdesk sync
--once``); ``run()`` keeps going until stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta, timezone

from ..adapters.mail.loops import ReplyRateLimiter
from ..adapters.mail.smtp import FAILED, RETRY, SENT, UNKNOWN, RecipientResult, SmtpError, SmtpSender
from ..adapters.store import mailstore as ms
from ..adapters.store.repository import Store, Tx
from ..domain.clock import naive_utc as _naive
from ..domain.errors import UsageError
from ..domain.model import Agent
from ..domain.outbox import MailOutboxItem
from ..domain.text import one_line
from ..settings import EmailSettings, Settings
from .tickets import TicketService

log = logging.getLogger(__name__)

FINAL = ("sent", "failed", "unknown", "suppressed")


@dataclass(slots=True)
class OutboxReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unknown: int = 0
    suppressed: int = 0
    busy: list[str] = field(default_factory=list)  # addresses another process sends for
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed + self.unknown

    def line(self) -> str:
        parts = [f"{self.sent} sent"]
        for name in ("retrying", "failed", "unknown", "suppressed"):
            if getattr(self, name):
                parts.append(f"{getattr(self, name)} {name}")
        return "outbox: " + ", ".join(parts)


def _holder_alive(holder: str) -> bool:
    from .mail_sync import _holder_alive as alive

    return alive(holder)


class OutboxService:
    def __init__(
        self, store: Store, tickets: TicketService, settings: Settings, *,
        retry_base: float = 60.0, retry_max: float = 3600.0, max_attempts: int = 10,
        timeout: float = 30.0, data_timeout: float = 120.0, batch: int = 100, connections: int = 4,
        automatic_per_hour: int = 5, lease_ttl: float = 120.0,
        sender_factory: Callable[[EmailSettings], SmtpSender] | None = None,
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
        self._factory = sender_factory or self._sender
        self._senders: dict[tuple[str, int], SmtpSender] = {}
        self.limiter = ReplyRateLimiter(automatic_per_hour)
        self._limiter_seeded = False
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def _sender(self, email: EmailSettings) -> SmtpSender:
        domain = email.address.rpartition("@")[2] or "localhost"
        return SmtpSender(email.smtp, timeout=self.timeout, data_timeout=self.data_timeout, local_hostname=domain,
                          label=email.address)

    def sender(self, address: str, index: int = 0) -> SmtpSender:
        key = (address, index)
        if key not in self._senders:
            self._senders[key] = self._factory(self.accounts[address])
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
            await self.tickets._event(tx, item.ticket_id, f"Resending the reply to {', '.join(again)} ({actor.name})",
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
        lease = (f"mail-outbox:{address}", self.holder, self.lease_ttl)
        async with self.store.write() as tx:
            got = await tx.acquire_lease(*lease)
            if not got and await ms.steal_dead_lease(tx, lease[0], _holder_alive):
                got = await tx.acquire_lease(*lease)
            if got:
                await self._recover(tx, address, report)
        if not got:
            report.busy.append(address)
            return
        try:
            while True:
                async with self.store.write() as tx:
                    if not await tx.acquire_lease(*lease):
                        return
                    claimed = await ms.claim_due(tx, address, self.holder, self.batch)
                if not claimed:
                    return
                outcomes, unreachable, errors = await self._send_all(address, claimed, lease)
                report.errors.extend(dict.fromkeys(errors))
                await self._record(outcomes, report)
                if unreachable:
                    return
        finally:
            async with self.store.write() as tx:
                await tx.release_lease(lease[0], lease[1])

    async def _send_all(self, address: str, claimed: list[MailOutboxItem], lease: tuple):
        """Send *claimed* over up to ``connections`` reused connections at once.

        Several connections keep the server busy while each waits for its
        replies (four round trips a message). One sender that cannot reach the
        server stops them all: what was not attempted goes back to the queue
        as it was.
        """
        results: dict[int, dict[str, RecipientResult] | None] = {}
        pending = list(claimed)
        unreachable = False
        errors: list[str] = []
        renewed = [asyncio.get_running_loop().time()]

        async def keep_lease() -> None:
            # A slow server must not let the lease lapse mid-batch: another
            # process would take these rows for stranded ones.
            now = asyncio.get_running_loop().time()
            if now - renewed[0] > self.lease_ttl.total_seconds() / 4:
                renewed[0] = now
                async with self.store.write() as tx:
                    await tx.acquire_lease(*lease)

        async def work(sender: SmtpSender) -> None:
            nonlocal unreachable
            while pending and not unreachable:
                item = pending.pop(0)
                if item.automatic and not self._allowed(item):
                    results[item.id] = {}
                    continue
                try:
                    outcome = await sender.send(item.mail_from, list(item.pending), item.raw)
                except SmtpError as exc:  # configuration (a password that cannot be read): nothing was sent
                    errors.append(str(exc))
                    results[item.id] = None
                    unreachable = True
                    continue
                except Exception as exc:  # noqa: BLE001 - not known where it failed: may have been sent
                    log.exception("sending outbox message %s failed", item.id)
                    outcome = {r: RecipientResult(r, UNKNOWN, None, one_line(f"internal error: {exc}", 300))
                               for r in item.pending}
                results[item.id] = outcome
                if outcome and all(r.state == RETRY and r.code is None for r in outcome.values()):
                    unreachable = True  # the server is unreachable: back off the whole queue
                await keep_lease()

        count = max(1, min(self.connections, len(claimed)))
        await asyncio.gather(*(work(self.sender(address, i)) for i in range(count)))
        return [(item, results.get(item.id)) for item in claimed], unreachable, errors

    def _allowed(self, item: MailOutboxItem) -> bool:
        now = _naive(self.store.clock()).replace(tzinfo=timezone.utc)
        return all(self.limiter.allow(r, now) for r in item.pending)

    async def _recover(self, tx: Tx, address: str, report: OutboxReport) -> None:
        for item in await ms.stranded(tx, address):
            results = dict(item.results)
            for r in item.pending:
                results[r] = {"state": UNKNOWN, "code": None,
                              "text": "the sending process stopped while this message was being sent"}
            await ms.update_outbox(tx, [{"id": item.id, "status": "unknown", "results": results, "pending": [],
                                         "claimed_by": None,
                                         "last_error": "the sending process stopped while sending"}])
            await self._event(tx, item, "unknown", list(item.pending),
                              "the sending process stopped while sending it")
            report.unknown += 1

    # ------------------------------------------------------------- results

    def _delay(self, attempts: int) -> timedelta:
        delay = min(self.retry_max, self.retry_base * (2 ** max(0, attempts - 1)))
        return timedelta(seconds=delay * random.uniform(0.75, 1.0))

    async def _record(self, outcomes, report: OutboxReport) -> None:
        async with self.store.write() as tx:
            now = tx.now()
            sent_fast: list[dict] = []
            for item, results in outcomes:
                if results is None:
                    await ms.update_outbox(tx, [{"id": item.id, "status": "queued", "claimed_by": None}])
                    continue
                if item.automatic and results == {}:
                    await ms.update_outbox(tx, [{"id": item.id, "status": "suppressed", "pending": [],
                                                 "claimed_by": None,
                                                 "last_error": "loop protection: too many automatic replies"}])
                    await self._event(tx, item, "suppressed", list(item.pending), "")
                    report.suppressed += 1
                    continue
                merged = dict(item.results)
                merged.update({addr: r.as_dict() for addr, r in results.items()})
                attempts = item.attempts + 1
                retry = [a for a in item.pending if results.get(a) and results[a].state == RETRY]
                failed_now = [a for a, r in results.items() if r.state == FAILED]
                unknown_now = [a for a, r in results.items() if r.state == UNKNOWN]
                if retry and attempts >= self.max_attempts:
                    for a in retry:
                        merged[a] = {"state": FAILED, "code": results[a].code,
                                     "text": one_line(f"gave up after {attempts} attempts: {results[a].text}", 300)}
                    failed_now += retry
                    retry = []
                if not retry and not failed_now and not unknown_now and not item.results:
                    sent_fast.append({"id": item.id, "status": "sent", "pending": [], "results": merged,
                                      "attempts": attempts, "sent_at": now, "claimed_by": None, "last_error": None})
                    report.sent += 1
                    continue
                states = {v.get("state") for v in merged.values()}
                if retry:
                    status = "queued"
                elif UNKNOWN in states:
                    status = "unknown"
                elif FAILED in states:
                    status = "failed"
                else:
                    status = "sent"
                problem = next((r.text for r in results.values() if r.state != SENT), None)
                values = {"id": item.id, "status": status, "pending": retry, "results": merged, "attempts": attempts,
                          "claimed_by": None, "last_error": problem}
                if retry:
                    values["next_attempt_at"] = now + self._delay(attempts)
                if any(r.state == SENT for r in results.values()):
                    values["sent_at"] = now
                await ms.update_outbox(tx, [values])
                if failed_now:
                    await self._event(tx, item, "failed", failed_now,
                                      "; ".join(dict.fromkeys(merged[a]["text"] for a in failed_now)))
                if unknown_now:
                    await self._event(tx, item, "unknown", unknown_now,
                                      "; ".join(dict.fromkeys(results[a].text for a in unknown_now)))
                if status == "queued":
                    report.retrying += 1
                elif status == "sent":
                    report.sent += 1
                elif status == "failed":
                    report.failed += 1
                else:
                    report.unknown += 1
            await ms.update_outbox_many(tx, sent_fast, ("status", "pending", "results", "attempts", "sent_at",
                                                        "claimed_by", "last_error"))

    async def _event(self, tx: Tx, item: MailOutboxItem, what: str, recipients: list[str], detail: str) -> None:
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
            text = f"Automatic {kind} to {who} not sent: loop protection (too many automatic replies in an hour)"
            event = "delivery_suppressed"
        await self.tickets._event(tx, item.ticket_id, one_line(text, 500), {
            "event": event, "outbox": item.id, "entry": item.entry_id, "recipients": recipients,
            "message_id": item.message_id,
        })
        await tx.record_change(item.ticket_id, "event", None)

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
