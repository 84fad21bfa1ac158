"""The event bus: delivers domain events to the handlers bootstrap registers.

Two kinds of handler, because two kinds of effect:

* **In the transaction** (``handler(tx, event)``, :meth:`EventBus.on_write`):
  run by :meth:`EventBus.record` while the writing transaction is open, so
  what they write commits or rolls back with the change itself. Queueing a
  reply in its channel's outbox must be atomic with the reply's timeline entry.
* **After the commit** (``handler(event)``, :meth:`EventBus.after_commit`):
  run by :meth:`EventBus.publish` once the change is committed and visible,
  each in its own transaction if it writes. Routing a new ticket to an agent.

The writer calls ``record`` inside its transaction and ``publish`` after it;
an event nobody handles costs a dictionary look-up. A handler's exception
propagates to the writer, which decides whether it may undo the change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ..adapters.store.repository import Tx
from ..domain.events import DomainEvent

InTransactionHandler = Callable[[Tx, Any], Awaitable[None]]
AfterCommitHandler = Callable[[Any], Awaitable[None]]


class EventBus:
    """Handlers by event type; see the module docstring."""

    def __init__(self) -> None:
        self._in_tx: dict[type, list[InTransactionHandler]] = {}
        self._after: dict[type, list[AfterCommitHandler]] = {}

    def on_write(self, kind: type, handler: InTransactionHandler) -> None:
        """Run ``handler(tx, event)`` inside the transaction that records a *kind* event."""
        self._in_tx.setdefault(kind, []).append(handler)

    def after_commit(self, kind: type, handler: AfterCommitHandler) -> None:
        """Run ``handler(event)`` when a committed *kind* event is published."""
        self._after.setdefault(kind, []).append(handler)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Write history: while the block runs no handler runs, so nothing is queued, sent or routed.

        For a desk filled with the past (the demo): its replies were said long ago.
        """
        saved = self._in_tx, self._after
        self._in_tx, self._after = {}, {}
        try:
            yield
        finally:
            self._in_tx, self._after = saved

    async def record(self, tx: Tx, event: DomainEvent) -> None:
        """Inside the writing transaction: run the in-transaction handlers, in registration order."""
        for handler in self._in_tx.get(type(event), ()):
            await handler(tx, event)

    async def publish(self, event: DomainEvent) -> None:
        """After the commit: run the after-commit handlers, in registration order."""
        for handler in self._after.get(type(event), ()):
            await handler(event)


__all__ = ["AfterCommitHandler", "EventBus", "InTransactionHandler"]
