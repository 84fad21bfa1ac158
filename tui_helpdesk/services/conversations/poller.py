"""The chatbot poller: per desk, one process at a time reads the change feed and does the work it brings.

A lease in the database (like the mail sync) lets one process work per desk;
the others wait and take over when it stops renewing. Each round sends the
chat outbox, then reads the feed from the stored cursor (saved in the same
transaction as the conversations, so a crash replays a page at most), then
escalates or follows every conversation that is due. Errors and 429s back off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ...domain.chat.errors import ChatbotError, InvalidCursor, RateLimited, Unavailable
from ...adapters.store.chatstore import ChatTx, naive
from ...adapters.store.repository import Store
from ...domain.errors import HelpdeskError
from ...domain.text import one_line
from ..leases import Lease, new_holder
from .common import (
    MAX_PAGES,
    PAGE_LIMIT,
    POLL_BACKOFF_CAP,
    WORK_RETRY_BASE,
    WORK_RETRY_CAP,
    ChatNotConfigured,
    PollReport,
    _backoff,
    _Desk,
)

if TYPE_CHECKING:
    from .service import ConversationService

log = logging.getLogger("tui_helpdesk.services.conversations")


class ChatPoller:
    """The background work of every configured desk; part of :class:`ConversationService`."""

    def __init__(self, service: ConversationService, store: Store) -> None:
        self.service = service
        self.store = store
        self._tasks: dict[str, asyncio.Task] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self.holder = new_holder()

    async def poll_once(self, desk: str | int | None = None) -> PollReport:
        """Read the change feed once (all pages), then do the work it brought.

        Raises the platform's error when the feed cannot be read (the caller
        backs off); failures on single conversations are recorded on them and
        retried later, and do not stop the others.
        """
        d = await self.service._desk(desk)
        client = await self.service.client(d)
        report = PollReport()
        async with self.store.read() as tx:
            cursor = (await ChatTx(tx).poll_status(d.id)).cursor
        restarted = False
        for _ in range(MAX_PAGES):
            try:
                convs, next_cursor, more = await client.changed_conversations(cursor, limit=PAGE_LIMIT)
            except InvalidCursor:
                if restarted:
                    raise
                log.warning("desk %s: the chatbot platform forgot our cursor; reading the feed from the start", d.slug)
                restarted, cursor = True, None
                continue
            async with self.store.write() as tx:
                chat = ChatTx(tx)
                for conv in convs:
                    await self.service._record(chat, d.id, conv)
                await chat.save_cursor(d.id, next_cursor)
                if convs:
                    await tx.record_change(None, "conversations", None)
            report.changed += len(convs)
            cursor = next_cursor
            if not more:
                break
        await self.work(d, report)
        return report

    async def work(self, d: _Desk, report: PollReport | None = None) -> PollReport:
        """Escalate, and bring tickets up to date, for every conversation that is due."""
        report = report or PollReport()
        async with self.store.read() as tx:
            due = await ChatTx(tx).work_due(d.id)
        for info in due:
            try:
                if info.handled:
                    await self.service.following.sync(d, info.id)
                    report.synced += 1
                else:
                    ticket_id, new = await self.service.escalation.hand_off(d, info.id, how="escalation")
                    if new:
                        report.created.append(ticket_id)
            except (ChatbotError, HelpdeskError) as exc:
                await self._failed(d, info.id, exc)
                report.failed.append((info.id, str(exc)))
                if isinstance(exc, (Unavailable, RateLimited)):
                    break  # the platform as a whole is in trouble: not now
            else:
                async with self.store.write() as tx:
                    await ChatTx(tx).succeed(d.id, info.id)
        return report

    async def _failed(self, d: _Desk, conversation_id: str, exc: Exception) -> None:
        async with self.store.write() as tx:
            chat = ChatTx(tx)
            info = await chat.get(d.id, conversation_id, lock=True)
            attempts = (info.attempts if info else 0) + 1
            wait = _backoff(attempts, WORK_RETRY_BASE, WORK_RETRY_CAP)
            if isinstance(exc, RateLimited) and exc.retry_after:
                wait = max(wait, exc.retry_after)
            await chat.fail(d.id, conversation_id, one_line(str(exc), 400), tx.now() + timedelta(seconds=wait))
            await tx.record_change(None, "conversations", None)
        log.warning("desk %s: conversation %s: %s (retrying in %.0fs)", d.slug, conversation_id, exc, wait)

    def start(self) -> None:
        """Run the poller (and the chat outbox) of every configured desk in the background.

        Every process may call this: a lease lets one of them work per desk
        at a time; the others wait and take over when it stops renewing.
        Idempotent; :meth:`aclose` stops it.
        """
        loop = asyncio.get_running_loop()
        for slug in self.service._settings:
            task = self._tasks.get(slug)
            if task is None or task.done():
                self._wake[slug] = asyncio.Event()
                self._tasks[slug] = loop.create_task(self._run(slug), name=f"chatbot poller {slug}")

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks.values())

    def wake(self, desk_id: int | None = None) -> None:
        """Ask the pollers to look at the outbox (and the feed) soon."""
        for slug, event in self._wake.items():
            if desk_id is None or self.service._desk_ids.get(slug) in (desk_id, None):
                event.set()

    def _lease(self, d: _Desk) -> Lease:
        ttl = timedelta(seconds=max(20.0, 5 * d.settings.chatbot.poll_seconds))
        return Lease(self.store, f"chatbot:{d.slug}", ttl, self.holder)

    async def hold_lease(self, desk: str | int | None = None) -> bool:
        """Take or renew this process's lease on a desk's chatbot work."""
        return await self._lease(await self.service._desk(desk)).take() is None

    async def release_lease(self, desk: str | int | None = None) -> None:
        await self._lease(await self.service._desk(desk)).release()

    async def _run(self, slug: str) -> None:
        interval = max(0.2, float(self.service._settings[slug].chatbot.poll_seconds or 3.0))
        failures = 0
        holding = False
        try:
            while True:
                wait = interval
                try:
                    holding = await self.hold_lease(slug)
                    if holding:
                        ok, wait = await self._cycle(slug, interval, failures)
                        failures = 0 if ok else failures + 1
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a lost database must not end the poller
                    log.exception("desk %s: chatbot poller", slug)
                    failures += 1
                    wait = _backoff(failures, interval, POLL_BACKOFF_CAP)
                event = self._wake[slug]
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await event.wait()
                event.clear()
        finally:
            if holding:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.release_lease(slug))

    async def _cycle(self, slug: str, interval: float, failures: int) -> tuple[bool, float]:
        """One round for a desk this process holds: outbox, then feed. Returns (ok, wait before the next)."""
        d = await self.service._desk(slug)
        if self.service.outbox is not None:
            try:
                await self.service.outbox.send_due(d.id)
            except ChatNotConfigured:
                pass  # said below, by the poll
            except Exception:  # noqa: BLE001 - replies wait for the next round
                log.exception("desk %s: chat outbox", slug)
        try:
            await self.poll_once(slug)
        except ChatNotConfigured as exc:
            await self._poll_failed(d, str(exc), None)
            return False, max(interval, 30.0)
        except ChatbotError as exc:
            wait = _backoff(failures + 1, max(interval, 1.0), POLL_BACKOFF_CAP)
            if isinstance(exc, RateLimited) and exc.retry_after:
                wait = max(wait, exc.retry_after)
            await self._poll_failed(d, str(exc), naive(self.store.clock()) + timedelta(seconds=wait))
            log.warning("desk %s: chatbot poll failed: %s (retrying in %.0fs)", slug, exc, wait)
            return False, wait
        return True, interval

    async def _poll_failed(self, d: _Desk, error: str, retry_at: datetime | None) -> None:
        async with self.store.write() as tx:
            await ChatTx(tx).poll_failed(d.id, one_line(error, 400), retry_at)
            await tx.record_change(None, "conversations", None)

    async def stop(self) -> None:
        """Cancel the background tasks (their ``finally`` gives the leases up)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
