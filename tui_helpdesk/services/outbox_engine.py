"""The outbox mechanism every outgoing channel shares: claim, send, record, retry, tell.

Something to deliver (a reply by mail, a reply into a chat thread, later a
webhook call) is written as an outbox row in the transaction that caused it,
so nothing is lost to a crash. :class:`OutboxEngine` then works one queue of
a :class:`Channel`:

1. claim the due items (a channel that marks rows as being sent first turns
   the ones a dead sender left behind into "unknown": they may have arrived);
2. send them, over up to ``channel.connections`` at once; an attempt the far
   side is in trouble with stops the round, the rest wait as they were;
3. settle each in one transaction per round: sent; retry later with capped
   exponential backoff (with jitter if the channel wants it, never sooner
   than the far side asked); failed (a permanent refusal, or too many
   attempts); "unknown" when the far side may or may not have it — shown,
   never resent automatically; or suppressed before it was tried;
4. write the timeline events the channel asks for: it is told what happened
   (the first failure, a late delivery, a final failure, an unknown outcome)
   and says what to write, if anything.

An item may go to several recipients at once (mail), each with its own
result: a partial refusal retries only the recipients still pending. A
channel with one far side uses one recipient key.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ..adapters.store.repository import Store, Tx

if TYPE_CHECKING:
    from .tickets import TicketService

# What one recipient's attempt came to.
SENT = "sent"
RETRY = "retry"
FAILED = "failed"
UNKNOWN = "unknown"

# What an item's attempt came to (Settled.status).
QUEUED = "queued"  # retrying later
SUPPRESSED = "suppressed"  # not sent, on purpose (loop protection)
UNTRIED = "untried"  # not attempted after all: back in the queue as it was


class Result(Protocol):
    """One recipient's answer to one attempt (the SMTP adapter's RecipientResult is one)."""

    state: str
    text: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A :class:`Result` for channels whose transport does not make its own."""

    state: str
    text: str = ""


@dataclass(slots=True)
class Attempt:
    """What sending one item came to, as the channel saw it."""

    results: Mapping[str, Result]
    stop: bool = False  # the far side is in trouble: the rest of the round waits
    retry_after: float | None = None  # the far side asked us to wait at least this long
    detail: Any = None  # for the channel itself (a message id, the exception)
    suppressed: bool = False  # not sent on purpose; results is empty


class NotAttempted(Exception):
    """Raised by :meth:`Channel.send` when nothing could even be tried (a configuration error):
    the item goes back to the queue as it was and the round stops."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float  # seconds before the first retry
    cap: float  # never more than this between two attempts
    max_attempts: int  # the attempt that reaches this many gives up
    jitter: float = 0.0  # up to this fraction of a delay is taken off at random, so retries spread

    def delay(self, attempts: int, at_least: float | None = None) -> timedelta:
        seconds = min(self.cap, self.base * (2 ** max(0, attempts - 1)))
        if self.jitter:
            seconds *= random.uniform(1.0 - self.jitter, 1.0)
        if at_least:
            seconds = max(seconds, at_least)
        return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where an item stands before this attempt."""

    attempts: int
    pending: Sequence[str]  # recipients still to deliver to
    previous: Mapping[str, str] = field(default_factory=dict)  # states recipients reached earlier
    reported: bool = False  # an earlier failure was already told on the timeline


@dataclass(slots=True)
class Settled:
    """What the engine made of one attempt of one item; the channel stores it and says what to tell."""

    item: Any
    status: str  # sent | queued | failed | unknown | suppressed | untried
    attempts: int
    attempt: Attempt | None = None
    retry: list[str] = field(default_factory=list)  # recipients to try again
    failed: list[str] = field(default_factory=list)  # recipients that failed in this attempt (gave_up too)
    gave_up: list[str] = field(default_factory=list)  # recipients retried too often, now failed
    unknown: list[str] = field(default_factory=list)  # recipients that may or may not have it
    next_attempt_at: datetime | None = None
    problem: str | None = None  # the first thing that went wrong in this attempt
    sent_now: bool = False  # some recipient took it in this attempt
    first_failure: bool = False  # retrying, and nothing was said on the timeline yet
    late: bool = False  # delivered after a failure that was told on the timeline
    stranded: bool = False  # left in flight by a sender that is gone: unknown, not sent again

    @property
    def results(self) -> Mapping[str, Result]:
        return self.attempt.results if self.attempt is not None else {}


@dataclass(frozen=True, slots=True)
class Note:
    """A timeline event a channel asks for."""

    ticket_id: int
    text: str
    meta: dict


@dataclass(slots=True)
class DrainReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unknown: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed + self.unknown

    def count(self, status: str) -> None:
        name = {QUEUED: "retrying", SENT: "sent", FAILED: "failed", UNKNOWN: "unknown",
                SUPPRESSED: "suppressed"}.get(status)
        if name:
            setattr(self, name, getattr(self, name) + 1)


class Channel(Protocol):
    """One queue of one way out (an SMTP account, a desk's chat platform, a webhook endpoint)."""

    policy: RetryPolicy
    connections: int  # attempts at once
    claims: bool  # claiming writes (marks rows as being sent); False: a read is enough

    async def claim(self, tx: Tx, limit: int) -> list[Any]:
        """Up to *limit* due items, marked as being sent if the channel does that."""

    async def stranded(self, tx: Tx) -> list[Settled]:
        """Items a sender that is gone left being sent, settled as unknown (see :func:`abandoned`)."""

    def progress(self, item: Any) -> Progress: ...

    async def send(self, item: Any, connection: int) -> Attempt:
        """Send *item* over connection number *connection*; raises :class:`NotAttempted`."""

    async def current(self, tx: Tx, item: Any, attempt: Attempt) -> Any | None:
        """*item* as it is now, or None when it is no longer this sender's to settle."""

    async def store(self, tx: Tx, settled: list[Settled]) -> None:
        """Write what was settled (and put untried items back as they were)."""

    def notes(self, settled: Settled) -> list[Note]:
        """The timeline events to write for *settled*, if any."""


def settle(item: Any, progress: Progress, attempt: Attempt, policy: RetryPolicy, now: datetime) -> Settled:
    """The outcome of *attempt* for an item that stood at *progress*."""
    attempts = progress.attempts + 1
    if attempt.suppressed:
        return Settled(item, SUPPRESSED, progress.attempts, attempt)
    results = attempt.results
    retry = [r for r in progress.pending if r in results and results[r].state == RETRY]
    failed = [r for r, x in results.items() if x.state == FAILED]
    unknown = [r for r, x in results.items() if x.state == UNKNOWN]
    gave_up: list[str] = []
    if retry and attempts >= policy.max_attempts:
        gave_up, retry = retry, []
        failed += gave_up
    states = {**progress.previous, **{r: x.state for r, x in results.items()}, **dict.fromkeys(gave_up, FAILED)}
    if retry:
        status = QUEUED
    elif UNKNOWN in states.values():
        status = UNKNOWN
    elif FAILED in states.values():
        status = FAILED
    else:
        status = SENT
    return Settled(
        item, status, attempts, attempt, retry=retry, failed=failed, gave_up=gave_up, unknown=unknown,
        next_attempt_at=now + policy.delay(attempts, attempt.retry_after) if retry else None,
        problem=next((x.text for x in results.values() if x.state != SENT), None),
        sent_now=any(x.state == SENT for x in results.values()),
        first_failure=status == QUEUED and not progress.reported,
        late=status == SENT and progress.reported,
    )


def abandoned(item: Any, progress: Progress, results: Mapping[str, Result]) -> Settled:
    """*item*, left being sent by a sender that is gone, settled as unknown for its pending recipients."""
    return Settled(item, UNKNOWN, progress.attempts, Attempt(results), unknown=list(progress.pending),
                   problem=next((x.text for x in results.values()), None), stranded=True)


class OutboxEngine:
    """Works the queues of channels; see the module docstring."""

    def __init__(self, store: Store, tickets: "TicketService"):
        self.store = store
        self.tickets = tickets

    async def drain(self, channel: Channel, report: DrainReport, *, limit: int, lease=None,
                    once: bool = False, keep: bool = False) -> str | None:
        """Send what is due on *channel* until nothing is, or only one round if *once*.

        With a :class:`~.leases.Lease` the queue is worked only while it is held
        (renewed with each claim and during long rounds) and given up at the
        end, unless *keep* (the caller gives it up when it stops); returns who
        holds it when that is not us, else None.

        A channel whose claim only reads (``claims`` False) claims its next
        items in the transaction that settles the round (and takes the lease
        in the one that claims the first): on SQLite every write transaction
        waits its turn for the one writer, so fewer of them keep up better.
        """
        chain = not channel.claims
        items: list[Any] | None = None
        if lease is not None:
            async with self.store.write(quick=True) as tx:
                holder = await lease.take_in(tx)
                if holder is None:
                    await self._write(tx, channel, await channel.stranded(tx), report)
                    if chain:
                        items = await channel.claim(tx, limit)
            if holder is not None:
                return holder
        try:
            while True:
                if items is None:
                    async with (self.store.write(quick=True) if channel.claims or lease
                                else self.store.read(quick=True)) as tx:
                        if lease is not None and not await lease.renew_in(tx):
                            return None
                        items = await channel.claim(tx, limit)
                if not items:
                    return None
                stop, items = await self._round(channel, items, report, lease,
                                                claim_next=limit if chain and not once else None)
                if stop or once:
                    return None
        finally:
            if lease is not None and not keep:
                await lease.release()

    async def _round(self, channel: Channel, items: list[Any], report: DrainReport, lease,
                     claim_next: int | None = None) -> tuple[bool, list[Any] | None]:
        """Send *items* and settle them; (True when the far side is in trouble or the lease
        was lost, the next items when *claim_next* asked for them in the settling transaction)."""
        attempts: dict[int, Attempt] = {}
        queue = list(range(len(items)))
        stop = False
        errors: list[str] = []
        crashed: list[BaseException] = []

        async def work(connection: int) -> None:
            nonlocal stop
            while queue and not stop:
                index = queue.pop(0)
                try:
                    attempt = await channel.send(items[index], connection)
                except NotAttempted as exc:
                    errors.append(str(exc))
                    stop = True
                    continue
                except Exception as exc:  # noqa: BLE001 - settle what was sent first, then let it out
                    crashed.append(exc)
                    stop = True
                    continue
                attempts[index] = attempt
                stop = stop or attempt.stop
                if lease is not None:
                    await lease.refresh()

        count = max(1, min(channel.connections, len(items)))
        await asyncio.gather(*(work(i) for i in range(count)))
        report.errors.extend(dict.fromkeys(errors))
        following: list[Any] | None = None
        async with self.store.write(quick=True) as tx:
            now = tx.now()
            tried = [index for index in range(len(items)) if index in attempts]
            current_all = getattr(channel, "current_all", None)  # a channel may read a round in one query
            if current_all is not None:
                fresh_items = await current_all(tx, [items[i] for i in tried])
            else:
                fresh_items = [await channel.current(tx, items[i], attempts[i]) for i in tried]
            fresh_of = dict(zip(tried, fresh_items))
            settled: list[Settled] = []
            for index, item in enumerate(items):
                attempt = attempts.get(index)
                if attempt is None:
                    settled.append(Settled(item, UNTRIED, channel.progress(item).attempts))
                    continue
                fresh = fresh_of[index]
                if fresh is not None:
                    settled.append(settle(fresh, channel.progress(fresh), attempt, channel.policy, now))
            await self._write(tx, channel, settled, report)
            if claim_next and not stop and not crashed:
                if lease is not None and not await lease.renew_in(tx):
                    stop = True
                else:
                    following = await channel.claim(tx, claim_next)
        if crashed:
            raise crashed[0]
        return stop, following

    async def _write(self, tx: Tx, channel: Channel, settled: list[Settled], report: DrainReport) -> None:
        if not settled:
            return
        await channel.store(tx, settled)
        for s in settled:
            for note in channel.notes(s):
                await self.tickets.event(tx, note.ticket_id, note.text, note.meta)
                await tx.record_change(note.ticket_id, "event", None)
            report.count(s.status)
