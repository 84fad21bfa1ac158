"""Webhooks: admins subscribe URLs to ticket events; deliveries go out through the outbox.

Queueing (:mod:`.webhook_queue`): bootstrap registers in-transaction handlers for
``TicketCreated``, ``StatusChanged``, ``AssigneeChanged`` (unassigning too),
``CustomerMessageAdded`` and ``ReplyAdded``. They run inside the change's
transaction and write one ``webhook_delivery`` row per interested
subscription, so a change and its webhooks commit together. Internal notes
raise no event: they never leave.

Sending is the third channel of :mod:`.outbox_engine`. One process at a time
sends (the ``webhooks`` lease): ``helpdesk api serve`` and ``helpdesk sync``
both run :meth:`Webhooks.run`, and ``helpdesk sync --once`` one pass. Each
POST carries::

    X-Helpdesk-Delivery:  the delivery id (the same on every retry: dedupe on it)
    X-Helpdesk-Event:     e.g. ticket.created
    X-Helpdesk-Timestamp: Unix seconds when this attempt was signed
    X-Helpdesk-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
                          (two v1= values during a secret rotation)

Timeouts, connection errors, 408, 429 (honouring Retry-After) and 5xx are
retried with capped exponential backoff and jitter; other answers fail the
delivery. Delivery is at least once. Every attempt is logged; a subscription
whose attempts failed ``pause_after`` times in a row is paused (its pending
deliveries wait, nothing is dropped) and shown as such until resumed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..adapters.store.apistore import ApiTx
from ..adapters.store.repository import Store, Tx
from ..domain import api as rules
from ..domain.api import Delivery, Subscription
from ..domain.errors import NotFound, PermissionDenied, UsageError
from ..domain.model import Agent
from ..domain.text import one_line
from .leases import Lease
from .outbox_engine import FAILED, QUEUED, RETRY, SENT, Answer, Attempt, DrainReport, OutboxEngine, Progress, RetryPolicy, Settled
from .ports import WebhookPoster
from .webhook_queue import iso, new_uid

log = logging.getLogger(__name__)

LEASE_NAME = "webhooks"
LEASE_TTL = 60.0
POLL_SECONDS = 1.0
BATCH_GAP = 0.2  # seconds at least between the starts of two passes while deliveries keep coming
ROTATION_OVERLAP = timedelta(hours=24)  # the old secret still signs this long after a rotation
DEFAULT_POLICY = RetryPolicy(base=10.0, cap=3600.0, max_attempts=15, jitter=0.2)
PAUSE_AFTER = 20  # failed attempts in a row
RETRY_STATUSES = {408, 425, 429}
ONE = "hook"
PING = "webhook.ping"  # sent on request only, to check an endpoint


@dataclass(frozen=True, slots=True)
class Item:
    delivery: Delivery
    subscription: Subscription


class Webhooks:
    def __init__(self, store: Store, tickets, *, poster_factory: Callable[[], WebhookPoster],
                 policy: RetryPolicy = DEFAULT_POLICY, pause_after: int = PAUSE_AFTER, connections: int = 8):
        self.store = store
        self.tickets = tickets
        self.poster_factory = poster_factory
        self.policy = policy
        self.pause_after = pause_after
        self.connections = connections
        self.engine = OutboxEngine(store, tickets)
        self._poster: WebhookPoster | None = None
        self._wake: asyncio.Event | None = None

    # ------------------------------------------------------- administration

    async def add(self, actor: Agent, url: str, events: str = "all", *, desk: str | None = None,
                  description: str = "") -> tuple[Subscription, str]:
        """Subscribe *url*; returns the subscription and its signing secret (shown once)."""
        _admin(actor)
        url = rules.check_url(url)
        wanted = rules.parse_events(events)
        secret = rules.new_secret()
        async with self.store.write() as tx:
            d = await tx.get_desk(desk)
            sub = await ApiTx(tx).insert_subscription(desk_id=d.id, url=url, events=wanted, secret=secret,
                                                      description=one_line(description, 200), created_by=actor.id)
        return sub, secret

    async def list(self, actor: Agent) -> list[Subscription]:
        _admin(actor)
        async with self.store.read() as tx:
            return await ApiTx(tx).subscriptions()

    async def get(self, actor: Agent, sub_id: int) -> Subscription:
        _admin(actor)
        async with self.store.read() as tx:
            return await _sub(ApiTx(tx), sub_id)

    async def remove(self, actor: Agent, sub_id: int) -> Subscription:
        """Stop a subscription; its pending deliveries are dropped (marked failed, kept in the log)."""
        _admin(actor)
        async with self.store.write() as tx:
            api = ApiTx(tx)
            sub = await _sub(api, sub_id)
            await api.update_subscription(sub_id, removed_at=tx.now(), state="paused", paused_reason="removed")
            for d in await api.deliveries(subscription_id=sub_id, status="pending", limit=100_000):
                await api.update_delivery(d.id, status="failed", last_error="subscription removed")
            return sub

    async def set_paused(self, actor: Agent, sub_id: int, paused: bool) -> Subscription:
        _admin(actor)
        async with self.store.write() as tx:
            api = ApiTx(tx)
            await _sub(api, sub_id)
            if paused:
                await api.update_subscription(sub_id, state="paused", paused_reason=f"paused by {actor.login}")
            else:
                await api.update_subscription(sub_id, state="active", paused_reason=None, failures=0)
                for d in await api.deliveries(subscription_id=sub_id, status="pending", limit=100_000):
                    await api.update_delivery(d.id, next_attempt_at=tx.now())
            sub = await api.subscription(sub_id)
        self.wake()
        return sub

    async def rotate_secret(self, actor: Agent, sub_id: int) -> tuple[Subscription, str]:
        """A new signing secret (shown once); the old one still signs for 24 hours, beside the new."""
        _admin(actor)
        secret = rules.new_secret()
        async with self.store.write() as tx:
            api = ApiTx(tx)
            sub = await _sub(api, sub_id)
            await api.update_subscription(sub_id, secret=secret, previous_secret=sub.secret,
                                          previous_until=tx.now() + ROTATION_OVERLAP)
            return await api.subscription(sub_id), secret

    async def deliveries(self, actor: Agent, *, sub_id: int | None = None, status: str | None = None,
                         limit: int = 50) -> list[Delivery]:
        _admin(actor)
        async with self.store.read() as tx:
            return await ApiTx(tx).deliveries(subscription_id=sub_id, status=status, limit=limit)

    async def delivery(self, actor: Agent, ident: str) -> tuple[Delivery, list[rules.AttemptLog]]:
        _admin(actor)
        async with self.store.read() as tx:
            api = ApiTx(tx)
            d = await _delivery(api, ident)
            return d, await api.attempts(d.id)

    async def redeliver(self, actor: Agent, ident: str) -> Delivery:
        """Send delivery *ident* (id or delivery id) again, as a new delivery with the same body."""
        _admin(actor)
        async with self.store.write() as tx:
            api = ApiTx(tx)
            d = await _delivery(api, ident)
            sub = await api.subscription(d.subscription_id)
            if sub is None:
                raise UsageError(f"delivery {d.uid}'s subscription was removed")
            new_id = await api.insert_delivery(uid=new_uid(), subscription_id=d.subscription_id, event=d.event,
                                               ticket_id=d.ticket_id, body=d.body, redelivery_of=d.id)
            new = await api.delivery(new_id)
        self.wake()
        return new

    async def ping(self, actor: Agent, sub_id: int) -> Delivery:
        """Send a ``webhook.ping`` to subscription *sub_id* now (through the outbox, logged like any
        delivery); returns the delivery as it stands afterwards."""
        _admin(actor)
        async with self.store.write() as tx:
            api = ApiTx(tx)
            sub = await _sub(api, sub_id)
            desk = await tx.get_desk(sub.desk_id)
            body = json.dumps({"id": f"evt_{secrets.token_hex(12)}", "type": PING, "createdAt": iso(tx.now()),
                               "desk": desk.slug, "data": {"subscription": sub.id}}, separators=(",", ":"))
            delivery_id = await api.insert_delivery(uid=new_uid(), subscription_id=sub.id, event=PING, ticket_id=None,
                                                    body=body)
        await self.drain()
        async with self.store.read() as tx:
            return await ApiTx(tx).delivery(delivery_id)

    async def configured(self) -> bool:
        """Whether any subscription exists (so ``helpdesk sync`` has webhooks to send)."""
        async with self.store.read() as tx:
            return await ApiTx(tx).count_subscriptions() > 0

    async def counts(self) -> dict[str, int]:
        async with self.store.read() as tx:
            api = ApiTx(tx)
            return {s: await api.count_deliveries(s) for s in ("pending", "sent", "failed")}

    # --------------------------------------------------------------- sending

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def wake_soon(self) -> None:
        # Queued inside a transaction that has not committed yet: look a moment later.
        if self._wake is not None:
            try:
                asyncio.get_running_loop().call_later(0.05, self._wake.set)
            except RuntimeError:
                pass

    def poster(self) -> WebhookPoster:
        if self._poster is None:
            self._poster = self.poster_factory()
        return self._poster

    async def drain(self, *, lease: Lease | None = None, limit: int = 50,
                    keep: bool = False) -> tuple[DrainReport, str | None]:
        """Send what is due, under the ``webhooks`` lease; (report, who holds the lease if not us).
        With *keep* a lease that was taken is not given up at the end (the caller does that)."""
        report = DrainReport()
        async with self.store.read(quick=True) as tx:
            due = await ApiTx(tx).due_deliveries(tx.now(), 1)
        if not due:
            return report, None  # no lease write when there is nothing to send
        lease = lease or Lease(self.store, LEASE_NAME, LEASE_TTL)
        holder = await self.engine.drain(_Channel(self), report, limit=limit, lease=lease, keep=keep)
        return report, holder

    async def run(self, stop: asyncio.Event, *, poll: float = POLL_SECONDS, gap: float = BATCH_GAP) -> None:
        """Send deliveries as they are queued until *stop* is set (one process at a time holds the lease).

        While deliveries keep coming the lease is kept from one pass to the next
        and passes start at least *gap* seconds apart, so each sends a batch:
        passes of one delivery each would take SQLite's one writer from the
        changes that queue them several times per delivery. The lease is
        given up as soon as a pass finds nothing to send, and when stopping.
        """
        self._wake = asyncio.Event()
        lease = Lease(self.store, LEASE_NAME, LEASE_TTL)
        held = False
        try:
            while not stop.is_set():
                self._wake.clear()
                wait = poll
                started = time.monotonic()
                try:
                    report, holder = await self.drain(lease=lease, keep=True)
                    busy = holder is None and report.attempted > 0
                    if holder is not None:
                        wait = max(poll, 5.0)  # another process sends; look again now and then
                    if busy:
                        held = True
                    elif held:
                        held = False
                        if holder is None:
                            await lease.release()
                except Exception:  # noqa: BLE001 - a database hiccup must not stop the sender; try again
                    log.warning("webhook sending failed; retrying", exc_info=True)
                    wait = max(poll, 5.0)
                    busy = False
                if busy and not stop.is_set():
                    # More may be queued right behind: let a batch gather, then look again.
                    await _sleep_until(stop, started + gap)
                    if self._wake.is_set():
                        continue
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                try:
                    await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()
        finally:
            if held:
                try:
                    await asyncio.shield(lease.release())
                except Exception:  # noqa: BLE001 - the TTL frees it anyway
                    log.warning("could not give up the webhooks lease", exc_info=True)

    async def aclose(self) -> None:
        if self._poster is not None:
            await self._poster.aclose()
            self._poster = None

    # The channel calls these.

    def headers(self, item: Item, now: datetime) -> tuple[bytes, dict[str, str]]:
        body = item.delivery.body.encode()
        stamp = int(time.time())
        signatures = ",".join(f"v1={rules.sign(s, stamp, body)}" for s in item.subscription.secrets_at(now))
        return body, {"X-Helpdesk-Delivery": item.delivery.uid, "X-Helpdesk-Event": item.delivery.event,
                      "X-Helpdesk-Timestamp": str(stamp), "X-Helpdesk-Signature": signatures}


class _Channel:
    """Due webhook deliveries, POSTed to their subscribers (a channel of :mod:`.outbox_engine`)."""

    claims = False  # the webhooks lease is enough: one sender at a time

    def __init__(self, hooks: Webhooks):
        self.hooks = hooks
        self.policy = hooks.policy
        self.connections = hooks.connections
        # Subscriptions whose attempt failed in this pass: not tried again until the next
        # pass, so a dead endpoint costs one timeout per pass, not one per queued delivery.
        self.failed: set[int] = set()

    async def claim(self, tx: Tx, limit: int) -> list[Item]:
        return [Item(d, s) for d, s in await ApiTx(tx).due_deliveries(tx.now(), limit, skip=self.failed)]

    async def stranded(self, tx: Tx) -> list[Settled]:
        return []  # rows are never marked in flight: a crash means one more attempt (at least once)

    def progress(self, item: Item) -> Progress:
        return Progress(item.delivery.attempts, [ONE], reported=True)

    async def send(self, item: Item, connection: int) -> Attempt:
        from ..domain.clock import utcnow

        body, headers = self.hooks.headers(item, utcnow())
        result = await self.hooks.poster().post(item.subscription.url, body, headers)
        if result.status is not None and 200 <= result.status < 300:
            state = SENT
        elif result.status is None or result.status >= 500 or result.status in RETRY_STATUSES:
            state = RETRY
        else:
            state = FAILED
        text = result.error or (f"HTTP {result.status}" if state != SENT else "")
        return Attempt({ONE: Answer(state, text)}, retry_after=result.retry_after, detail=result)

    async def current(self, tx: Tx, item: Item, attempt: Attempt) -> Item | None:
        fresh = await ApiTx(tx).delivery(item.delivery.id)
        if fresh is None or fresh.status != "pending":
            return None
        return Item(fresh, item.subscription)

    async def current_all(self, tx: Tx, items: list[Item]) -> list[Item | None]:
        """:meth:`current` for a whole round in one query."""
        fresh = await ApiTx(tx).deliveries_by_id([i.delivery.id for i in items])
        out: list[Item | None] = []
        for item in items:
            d = fresh.get(item.delivery.id)
            out.append(Item(d, item.subscription) if d is not None and d.status == "pending" else None)
        return out

    async def store(self, tx: Tx, settled: list[Settled]) -> None:
        # A round is written in a few statements whatever its size (the attempt log and the
        # sent deliveries in one executemany each, each subscription's count once): the
        # sender shares SQLite's one writer with the changes that queue the deliveries.
        api = ApiTx(tx)
        now = tx.now()
        tried = [s for s in settled if s.attempt is not None]  # untried: stays as it was
        await api.insert_attempts([
            {"delivery_id": s.item.delivery.id, "number": s.attempts, "at": now, "status_code": s.attempt.detail.status,
             "error": s.attempt.detail.error, "duration_ms": s.attempt.detail.duration_ms} for s in tried])
        await api.mark_sent([(s.item.delivery.id, s.attempts, s.attempt.detail.status) for s in tried
                             if s.status == SENT], now)
        outcomes: dict[int, list[bool]] = {}
        for s in tried:
            item: Item = s.item
            outcomes.setdefault(item.subscription.id, []).append(s.status == SENT)
            if s.status == SENT:
                continue
            result = s.attempt.detail
            values: dict = {"attempts": s.attempts, "last_status": result.status, "last_error": result.error}
            if s.status == QUEUED:
                values.update(next_attempt_at=s.next_attempt_at)
            elif s.status == FAILED:
                values.update(status="failed")
                log.warning("webhook delivery %s to subscription %s failed: %s", item.delivery.uid,
                            item.subscription.id, one_line(s.problem, 200))
            await api.update_delivery(item.delivery.id, **values)
            self.failed.add(item.subscription.id)
        for sub_id, oks in outcomes.items():
            await self._count(api, sub_id, oks)

    async def _count(self, api: ApiTx, sub_id: int, oks: list[bool]) -> None:
        """Count a round's attempts of one subscription, in order: a success resets the failures
        in a row, a failure adds one and pauses the subscription when there are too many."""
        sub = await api.subscription(sub_id)
        if sub is None:
            return
        failures, state = sub.failures, sub.state
        values: dict = {}
        for ok in oks:
            failures = 0 if ok else failures + 1
            if not ok and failures >= self.hooks.pause_after and state == "active":
                state = "paused"
                values.update(state="paused", paused_reason=f"paused after {failures} failed attempts in a row")
                log.warning("webhook subscription %s paused after %s failed attempts", sub_id, failures)
        if failures != sub.failures:
            values["failures"] = failures
        if values:
            await api.update_subscription(sub_id, **values)

    def notes(self, settled: Settled) -> list:
        return []  # webhooks write nothing on tickets


async def _sub(api: ApiTx, sub_id: int) -> Subscription:
    sub = await api.subscription(sub_id)
    if sub is None:
        raise NotFound(f"no webhook subscription {sub_id}")
    return sub


async def _delivery(api: ApiTx, ident: str) -> Delivery:
    """A delivery by its number or its delivery id (whd_…); NotFound otherwise."""
    d = await api.delivery(int(ident) if ident.isdigit() else ident)
    if d is None:
        raise NotFound(f"no webhook delivery {ident}")
    return d


async def _sleep_until(stop: asyncio.Event, until: float) -> None:
    delay = until - time.monotonic()
    if delay > 0:
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass


def _admin(actor: Agent) -> None:
    if not actor.is_admin:
        raise PermissionDenied("only an admin can manage webhooks")
