"""SQL for the public API and webhooks, on one :class:`~.repository.Tx`.

``ApiTx(tx)`` reads and writes the tables of :mod:`.tables_api` inside the
caller's transaction: a webhook delivery is queued in the transaction of the
change it tells about, an idempotency key is marked with the ticket it made
in the transaction that made it. Rows become the frozen records of
:mod:`tui_helpdesk.domain.api`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ...domain.api import ApiToken, AttemptLog, Delivery, IdempotencyRecord, Subscription
from ...domain.model import EntryKind, TimelineEntry
from .repository import Tx
from .tables import ENTRY
from .tables_api import API_TOKEN as TOK
from .tables_api import IDEMPOTENCY_KEY as IDEM
from .tables_api import WEBHOOK_ATTEMPT as ATT
from .tables_api import WEBHOOK_DELIVERY as DEL
from .tables_api import WEBHOOK_SUBSCRIPTION as SUB
from .tx.base import prepared
from .tx.rows import _entry

PUBLIC_KINDS = (EntryKind.MESSAGE.value, EntryKind.REPLY.value)


class KeyTaken(Exception):
    """Another transaction inserted this idempotency key first."""


def _token(r) -> ApiToken:
    return ApiToken(r.id, r.desk_id, r.name, r.prefix, tuple(r.scopes.split(",")), r.created_at, r.revoked_at,
                    r.token_hash)


def _idem(r) -> IdempotencyRecord:
    return IdempotencyRecord(r.id, r.desk_id, r.key, r.operation, r.request_hash, r.state, r.ticket_id, r.entry_id,
                             r.status_code, r.response, r.created_at, r.expires_at)


def _sub(r) -> Subscription:
    return Subscription(r.id, r.desk_id, r.url, tuple(r.events or ()), r.description or "", r.state, r.paused_reason,
                        r.failures, r.created_at, r.secret, r.previous_secret, r.previous_until)


def _delivery(r) -> Delivery:
    return Delivery(r.id, r.uid, r.subscription_id, r.event, r.ticket_id, r.body, r.status, r.attempts,
                    r.next_attempt_at, r.last_status, r.last_error, r.created_at, r.sent_at, r.redelivery_of)


@prepared
def _one(table, column: str):
    """The row of *table* whose *column* is :key."""
    return select(table).where(table.c[column] == bindparam("key"))


@prepared
def _public_entries():
    return (select(ENTRY).where(ENTRY.c.ticket_id == bindparam("tid"), ENTRY.c.id > bindparam("after"),
                                ENTRY.c.kind.in_(PUBLIC_KINDS)).order_by(ENTRY.c.id).limit(bindparam("lim")))


@prepared
def _claim_key(dialect: str):
    """INSERT a running idempotency key unless it is taken, returning the row (none when taken)."""
    return _dialect_insert(dialect)(IDEM).on_conflict_do_nothing().returning(*IDEM.c)


@prepared
def _mark_key(answered: bool):
    values = {"ticket_id": bindparam("v_ticket"), "entry_id": bindparam("v_entry")}
    if answered:
        values.update(state="done", status_code=bindparam("v_status"), response=bindparam("v_response"))
    return update(IDEM).where(IDEM.c.id == bindparam("rid"), IDEM.c.ticket_id.is_(None)).values(**values)


@prepared
def _insert_delivery():
    return insert(DEL).returning(DEL.c.id)


@prepared
def _live_subscriptions():
    return select(SUB).where(SUB.c.removed_at.is_(None)).order_by(SUB.c.id)


class ApiTx:
    """The API's queries inside *tx*."""

    def __init__(self, tx: Tx):
        self.tx = tx
        self.conn = tx.conn

    # ----------------------------------------------------------------- tokens

    async def insert_token(self, *, desk_id: int, name: str, prefix: str, token_hash: str, scopes: Sequence[str],
                           created_by: int | None) -> ApiToken:
        result = await self.conn.execute(insert(TOK).values(
            desk_id=desk_id, name=name, prefix=prefix, token_hash=token_hash, scopes=",".join(scopes),
            created_by=created_by, created_at=self.tx.now()).returning(TOK.c.id))
        return await self.token(result.scalar_one())

    async def token(self, token_id: int) -> ApiToken | None:
        row = (await self.conn.execute(select(TOK).where(TOK.c.id == token_id))).first()
        return _token(row) if row else None

    async def token_by_prefix(self, prefix: str) -> ApiToken | None:
        row = (await self.conn.execute(_one(TOK, "prefix"), {"key": prefix})).first()
        return _token(row) if row else None

    async def tokens(self, desk_id: int | None = None) -> list[ApiToken]:
        stmt = select(TOK).order_by(TOK.c.id)
        if desk_id is not None:
            stmt = stmt.where(TOK.c.desk_id == desk_id)
        return [_token(r) for r in await self.conn.execute(stmt)]

    async def revoke_token(self, token_id: int) -> bool:
        result = await self.conn.execute(update(TOK).where(TOK.c.id == token_id, TOK.c.revoked_at.is_(None))
                                         .values(revoked_at=self.tx.now()))
        return (result.rowcount or 0) == 1

    # ------------------------------------------------------------ idempotency

    async def idempotency(self, desk_id: int, key: str) -> IdempotencyRecord | None:
        row = (await self.conn.execute(select(IDEM).where(IDEM.c.desk_id == desk_id, IDEM.c.key == key))).first()
        return _idem(row) if row else None

    async def idempotency_by_id(self, record_id: int) -> IdempotencyRecord | None:
        row = (await self.conn.execute(_one(IDEM, "id"), {"key": record_id})).first()
        return _idem(row) if row else None

    async def insert_idempotency(self, *, desk_id: int, key: str, token_id: int, operation: str, request_hash: str,
                                 expires_at: datetime) -> IdempotencyRecord:
        """Insert a running key; :class:`KeyTaken` when another transaction has it (the unique index decides).

        One statement: ``INSERT .. ON CONFLICT DO NOTHING RETURNING`` (SQLite and PostgreSQL)
        needs no savepoint to survive the conflict and no second read of the row.
        """
        values = dict(desk_id=desk_id, key=key, token_id=token_id, operation=operation, request_hash=request_hash,
                      state="running", created_at=self.tx.now(), expires_at=expires_at)
        if self.tx.dialect in ("sqlite", "postgresql"):
            row = (await self.conn.execute(_claim_key(self.tx.dialect), values)).first()
            if row is None:
                raise KeyTaken(key)
            return _idem(row)
        try:
            async with self.conn.begin_nested():
                result = await self.conn.execute(insert(IDEM).values(**values).returning(IDEM.c.id))
        except IntegrityError:
            raise KeyTaken(key) from None
        row = (await self.conn.execute(select(IDEM).where(IDEM.c.id == result.scalar_one()))).first()
        return _idem(row)

    async def mark_idempotency(self, record_id: int, *, ticket_id: int | None, entry_id: int | None,
                               status_code: int | None = None, response: str | None = None) -> None:
        """Written in the change's own transaction: what the request made (and, when known, its answer)."""
        params = {"rid": record_id, "v_ticket": ticket_id, "v_entry": entry_id}
        if response is not None:
            params.update(v_status=status_code, v_response=response)
        await self.conn.execute(_mark_key(response is not None), params)

    async def finish_idempotency(self, record_id: int, status_code: int, response: str) -> None:
        await self.conn.execute(update(IDEM).where(IDEM.c.id == record_id)
                                .values(state="done", status_code=status_code, response=response))

    async def delete_idempotency(self, record_id: int) -> None:
        await self.conn.execute(delete(IDEM).where(IDEM.c.id == record_id))

    async def purge_idempotency(self, now: datetime, limit: int = 500) -> int:
        ids = [r[0] for r in await self.conn.execute(select(IDEM.c.id).where(IDEM.c.expires_at < now).limit(limit))]
        if ids:
            await self.conn.execute(delete(IDEM).where(IDEM.c.id.in_(ids)))
        return len(ids)

    # ------------------------------------------------------- public timeline

    async def public_entries(self, ticket_id: int, *, after_id: int, limit: int) -> list[TimelineEntry]:
        """Customer messages and agents' replies, oldest first: never notes or events."""
        rows = await self.conn.execute(_public_entries(), {"tid": ticket_id, "after": after_id, "lim": limit})
        return [_entry(r) for r in rows]

    async def entry(self, entry_id: int) -> TimelineEntry | None:
        row = (await self.conn.execute(_one(ENTRY, "id"), {"key": entry_id})).first()
        return _entry(row) if row else None

    # ---------------------------------------------------------- subscriptions

    async def insert_subscription(self, *, desk_id: int, url: str, events: Sequence[str], description: str,
                                  secret: str, created_by: int | None) -> Subscription:
        result = await self.conn.execute(insert(SUB).values(
            desk_id=desk_id, url=url, events=list(events), description=description, secret=secret, state="active",
            failures=0, created_by=created_by, created_at=self.tx.now()).returning(SUB.c.id))
        return await self.subscription(result.scalar_one())

    async def subscription(self, sub_id: int) -> Subscription | None:
        row = (await self.conn.execute(select(SUB).where(SUB.c.id == sub_id, SUB.c.removed_at.is_(None)))).first()
        return _sub(row) if row else None

    async def subscriptions(self, desk_id: int | None = None, *, active_only: bool = False) -> list[Subscription]:
        stmt = _live_subscriptions()
        if desk_id is not None:
            stmt = stmt.where(SUB.c.desk_id == desk_id)
        if active_only:
            stmt = stmt.where(SUB.c.state == "active")
        return [_sub(r) for r in await self.conn.execute(stmt)]

    async def update_subscription(self, sub_id: int, **values) -> None:
        await self.conn.execute(update(SUB).where(SUB.c.id == sub_id).values(**values))

    async def count_subscriptions(self) -> int:
        return (await self.conn.execute(select(func.count()).select_from(SUB).where(SUB.c.removed_at.is_(None)))).scalar_one()

    # ------------------------------------------------------------- deliveries

    async def insert_delivery(self, *, uid: str, subscription_id: int, event: str, ticket_id: int | None, body: str,
                              redelivery_of: int | None = None) -> int:
        now = self.tx.now()
        result = await self.conn.execute(_insert_delivery(), dict(
            uid=uid, subscription_id=subscription_id, event=event, ticket_id=ticket_id, body=body, status="pending",
            attempts=0, next_attempt_at=now, created_at=now, redelivery_of=redelivery_of))
        return result.scalar_one()

    async def delivery(self, delivery_id: int | str) -> Delivery | None:
        cond = DEL.c.uid == delivery_id if isinstance(delivery_id, str) else DEL.c.id == delivery_id
        row = (await self.conn.execute(select(DEL).where(cond))).first()
        return _delivery(row) if row else None

    async def deliveries(self, *, subscription_id: int | None = None, desk_id: int | None = None,
                         status: str | None = None, limit: int = 50) -> list[Delivery]:
        stmt = select(DEL).order_by(DEL.c.id.desc()).limit(limit)
        if subscription_id is not None:
            stmt = stmt.where(DEL.c.subscription_id == subscription_id)
        if desk_id is not None:
            stmt = stmt.where(DEL.c.subscription_id.in_(select(SUB.c.id).where(SUB.c.desk_id == desk_id)))
        if status is not None:
            stmt = stmt.where(DEL.c.status == status)
        return [_delivery(r) for r in await self.conn.execute(stmt)]

    async def due_deliveries(self, now: datetime, limit: int,
                             skip: Sequence[int] = ()) -> list[tuple[Delivery, Subscription]]:
        """Pending deliveries whose time has come, of active subscriptions, oldest first.

        A subscription whose last attempt failed gets one delivery per round
        (a probe): a dead endpoint does not hold up the others with a queue
        of timeouts. Subscriptions in *skip* (failed earlier in this pass) are left out.
        """
        stmt = (select(DEL, SUB.c.failures.label("sub_failures"))
                .join(SUB, SUB.c.id == DEL.c.subscription_id)
                .where(DEL.c.status == "pending", DEL.c.next_attempt_at <= now, SUB.c.state == "active",
                       SUB.c.removed_at.is_(None))
                .order_by(DEL.c.next_attempt_at, DEL.c.id).limit(limit * 4))
        if skip:
            stmt = stmt.where(SUB.c.id.notin_(list(skip)))
        rows = (await self.conn.execute(stmt)).all()
        subs: dict[int, Subscription] = {}
        out: list[tuple[Delivery, Subscription]] = []
        taken: dict[int, int] = {}
        for r in rows:
            if len(out) >= limit:
                break
            if r.sub_failures and taken.get(r.subscription_id):
                continue
            if r.subscription_id not in subs:
                subs[r.subscription_id] = await self.subscription(r.subscription_id)
            taken[r.subscription_id] = taken.get(r.subscription_id, 0) + 1
            out.append((_delivery(r), subs[r.subscription_id]))
        return out

    async def deliveries_by_id(self, ids: Sequence[int]) -> dict[int, Delivery]:
        """The deliveries *ids* as they are now, in one query (those that exist)."""
        if not ids:
            return {}
        return {r.id: _delivery(r) for r in await self.conn.execute(select(DEL).where(DEL.c.id.in_(list(ids))))}

    async def update_delivery(self, delivery_id: int, **values) -> None:
        await self.conn.execute(update(DEL).where(DEL.c.id == delivery_id).values(**values))

    async def mark_sent(self, rows: Sequence[tuple[int, int, int | None]], at: datetime) -> None:
        """Deliveries sent at *at*, as (id, attempts, HTTP status): one statement, executed for them all."""
        if not rows:
            return
        stmt = (update(DEL).where(DEL.c.id == bindparam("d_id"))
                .values(status="sent", sent_at=at, last_error=None, attempts=bindparam("d_attempts"),
                        last_status=bindparam("d_status")))
        await self.conn.execute(stmt, [{"d_id": i, "d_attempts": n, "d_status": st} for i, n, st in rows])

    async def count_deliveries(self, status: str) -> int:
        return (await self.conn.execute(select(func.count()).select_from(DEL).where(DEL.c.status == status))).scalar_one()

    async def insert_attempt(self, *, delivery_id: int, number: int, at: datetime, status_code: int | None,
                             error: str | None, duration_ms: int) -> None:
        await self.conn.execute(insert(ATT).values(delivery_id=delivery_id, number=number, at=at,
                                                   status_code=status_code, error=error, duration_ms=duration_ms))

    async def insert_attempts(self, rows: Sequence[dict]) -> None:
        """Attempt log rows (the keyword arguments of :meth:`insert_attempt`), in one executemany."""
        if rows:
            await self.conn.execute(insert(ATT), list(rows))

    async def attempts(self, delivery_id: int) -> list[AttemptLog]:
        rows = await self.conn.execute(select(ATT).where(ATT.c.delivery_id == delivery_id).order_by(ATT.c.id))
        return [AttemptLog(r.delivery_id, r.number, r.at, r.status_code, r.error, r.duration_ms) for r in rows]


__all__ = ["ApiTx", "KeyTaken"]


def _dialect_insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
