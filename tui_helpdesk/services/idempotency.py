"""Idempotent writes for the public API: a retried request is answered, never executed twice.

A client sends ``Idempotency-Key`` with a create or an add-message. Before
the write, :meth:`Idempotency.begin` inserts the key as ``running`` (a
unique index on desk and key, so of two API workers racing only one
proceeds). While the write runs, :meth:`Idempotency.bind` holds the key in
a context variable, and the in-transaction handlers bootstrap registers for
``TicketCreated`` and ``CustomerMessageAdded`` write the ticket and entry it
made into the key's row, in the write's own transaction. So:

- the first answer is stored (:meth:`finish`) and replayed for 24 hours;
- the same key with a different body is refused (``KeyReused``);
- a duplicate while the first still runs is refused (``InProgress``);
- a request that failed before it changed anything (validation, 429, a
  5xx before the commit) releases the key, so a retry executes;
- a request that committed and then failed to answer keeps the key with
  what it made, and a retry is answered from that — never a second ticket.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from ..adapters.store.apistore import ApiTx, KeyTaken
from ..adapters.store.repository import Store, Tx
from ..domain.api import IDEMPOTENCY_HOURS, MAX_IDEMPOTENCY_KEY, IdempotencyRecord
from ..domain.errors import HelpdeskError, UsageError
from ..domain.events import CustomerMessageAdded, TicketCreated
from ..domain.model import Ticket

# A running request whose key is this old is taken to be dead (its process
# gone); a retry is then answered from what it made, if anything.
STALE_SECONDS = 60

Render = Callable[[Ticket], tuple[int, str]]


@dataclass(slots=True)
class Binding:
    """The key a request's write runs under, and what its write stored."""

    record_id: int
    render: Render | None = None
    answer: tuple[int, str] | None = None  # (status, body) stored with the write


_current: ContextVar[Binding | None] = ContextVar("idempotency_record", default=None)


class KeyReused(HelpdeskError):
    """The key was used before with a different request."""


class InProgress(HelpdeskError):
    """The first request with this key is still running."""


@dataclass(frozen=True, slots=True)
class Begun:
    """What :meth:`Idempotency.begin` found: a key to run under, or a stored result to replay."""

    record: IdempotencyRecord
    replay: bool  # True: answer with record.status_code/response (or rebuild from ticket/entry ids)


def fingerprint(operation: str, body: object) -> str:
    """A stable hash of the request: its operation and its JSON body, keys sorted."""
    text = json.dumps([operation, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable() or key != key.strip():
        raise UsageError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters")
    return key


class Idempotency:
    def __init__(self, store: Store):
        self.store = store

    async def begin(self, *, desk_id: int, token_id: int, key: str, operation: str, request_hash: str) -> Begun:
        async with self.store.write(quick=True) as tx:
            api = ApiTx(tx)
            now = tx.now()
            expires_at = now + timedelta(hours=IDEMPOTENCY_HOURS)
            new = dict(desk_id=desk_id, key=key, token_id=token_id, operation=operation, request_hash=request_hash,
                       expires_at=expires_at)
            # A new key is the common case: claim it first (one statement), look only when it is taken.
            try:
                return Begun(await api.insert_idempotency(**new), replay=False)
            except KeyTaken:
                found = await api.idempotency(desk_id, key)
            if found is None:  # taken and released meanwhile: the client may retry at once
                raise InProgress("a request with this Idempotency-Key is in progress; retry later")
            if found.expires_at <= now:
                await api.delete_idempotency(found.id)
                return Begun(await api.insert_idempotency(**new), replay=False)
            if found.operation != operation or found.request_hash != request_hash:
                raise KeyReused("this Idempotency-Key was used with a different request; use a new key")
            if found.state == "done":
                return Begun(found, replay=True)
            stale = (now - found.created_at).total_seconds() > STALE_SECONDS
            if stale and found.ticket_id is not None:
                return Begun(found, replay=True)  # it committed, then its process died: answer from what it made
            if stale:
                # Nothing was made: the first request died before its write. Run this one instead.
                await api.delete_idempotency(found.id)
                return Begun(await api.insert_idempotency(**new), replay=False)
            raise InProgress("a request with this Idempotency-Key is in progress; retry later")

    def bind(self, record_id: int | None, render: Render | None = None):
        """Set the key the current task's write belongs to; returns the token to :meth:`unbind` with.

        With *render* (ticket -> (status, JSON)), a create's answer is stored in the
        create's own transaction: no second transaction to :meth:`finish` it.
        """
        return _current.set(None if record_id is None else Binding(record_id, render))

    def unbind(self, token) -> None:
        _current.reset(token)

    @staticmethod
    def answered() -> tuple[int, str] | None:
        """The answer stored with the current task's write, if it was (see :meth:`bind`)."""
        binding = _current.get()
        return binding.answer if binding is not None else None

    async def on_write(self, tx: Tx, event: TicketCreated | CustomerMessageAdded) -> None:
        """In the write's transaction: remember what the bound request made."""
        binding = _current.get()
        if binding is None:
            return
        entry_id = getattr(event, "entry_id", None)
        answer = None
        if binding.render is not None and isinstance(event, TicketCreated):
            answer = binding.render(await tx.get_ticket(event.ticket_id))
        await ApiTx(tx).mark_idempotency(binding.record_id, ticket_id=event.ticket_id, entry_id=entry_id,
                                         status_code=answer[0] if answer else None,
                                         response=answer[1] if answer else None)
        if answer is not None:
            binding.answer = answer  # the row keeps the first (ticket_id IS NULL); a create makes one ticket

    async def made(self, record_id: int) -> IdempotencyRecord | None:
        async with self.store.read(quick=True) as tx:
            return await ApiTx(tx).idempotency_by_id(record_id)

    async def finish(self, record_id: int, status_code: int, response: str) -> None:
        async with self.store.write(quick=True) as tx:
            await ApiTx(tx).finish_idempotency(record_id, status_code, response)

    async def release(self, record_id: int) -> bool:
        """Forget the key after a request that failed, unless the write committed (then keep what it made)."""
        async with self.store.write(quick=True) as tx:
            api = ApiTx(tx)
            row = await api.idempotency_by_id(record_id)
            if row is None:
                return True
            if row.ticket_id is not None:
                return False
            await api.delete_idempotency(record_id)
            return True

    async def purge(self) -> int:
        async with self.store.write() as tx:
            return await ApiTx(tx).purge_idempotency(tx.now())
