"""Tickets and their requesters: create, read, update with the version check, tags."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, literal_column, select, update

from ....domain.clock import naive_utc
from ....domain.errors import ConflictError, NotFound
from ....domain.model import Author, Requester, Status, Ticket, TicketRow as TicketLine, TicketType
from ..tables import AGENT
from ..tables import REQUESTER as REQ
from ..tables import TICKET
from ..tables import TICKET_TAG as TAGS
from ..viewsql import T, TAG
from .base import TxPart, prepared
from .rows import _agent, _line, _line_select, _requester

# The requester's and the assignee's columns read with the ticket (one statement, not three).
_REQ_COLS = [c.label(f"req_{c.name}") for c in REQ.c]
_AGENT_COLS = [c.label(f"agent_{c.name}") for c in AGENT.c]


def _tags_json(dialect: str):
    """A ticket's tags, sorted as ticket_tags sorts them, as a JSON array (one column)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        agg = func.coalesce(func.json_agg(aggregate_order_by(TAGS.c.tag, TAGS.c.tag)), literal_column("'[]'::json"))
        return select(agg).where(TAGS.c.ticket_id == T.id).scalar_subquery()
    # SQLite aggregates in the order rows arrive: an ordered, correlated inner select.
    ordered = select(TAGS.c.tag).where(TAGS.c.ticket_id == T.id).order_by(TAGS.c.tag).correlate(TICKET).subquery()
    return select(func.json_group_array(ordered.c.tag)).select_from(ordered).scalar_subquery()


@prepared
def _ticket_statement(dialect: str, locking: bool):
    """The statement get_ticket runs, built once per dialect and locking (building it costs more than running it)."""
    # Tags as one JSON array in the same statement; not under FOR UPDATE (see get_ticket).
    tag_cols = [] if locking else [_tags_json(dialect).label("tags_json")]
    stmt = (select(TICKET, *_REQ_COLS, *_AGENT_COLS, *tag_cols)
            .select_from(TICKET.outerjoin(REQ, REQ.c.id == T.requester_id)
                         .outerjoin(AGENT, AGENT.c.id == T.assignee_id))
            .where(T.id == bindparam("ticket_id")))
    return stmt.with_for_update(of=TICKET) if locking else stmt


@prepared
def _requester_by(column: str):
    return select(REQ).where(REQ.c[column] == bindparam("key")).order_by(REQ.c.id).limit(1)


@prepared
def _insert_returning(table, *columns: str):
    """INSERT into *table* with the values given when run, returning *columns* (all when none)."""
    return insert(table).returning(*([table.c[c] for c in columns] or table.c))


@prepared
def _update_ticket(names: tuple[str, ...], checked: bool):
    """UPDATE ticket SET *names* (as :v_<name>), version + 1, updated_by (:actor) WHERE id = :tid
    [AND version = :expected], returning the new version."""
    stmt = update(TICKET).where(T.id == bindparam("tid"))
    if checked:
        stmt = stmt.where(T.version == bindparam("expected"))
    return (stmt.values(version=T.version + 1, updated_by=bindparam("actor"),
                        **{n: bindparam(f"v_{n}") for n in names}).returning(T.version))


@prepared
def _ticket_tags():
    return select(TAG.tag).where(TAG.ticket_id == bindparam("tid")).order_by(TAG.tag)


class _Prefixed:
    """A row's columns with a prefix, seen as a row of their own table (for _requester / _agent)."""

    __slots__ = ("_row", "_prefix")

    def __init__(self, row, prefix: str):
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str):
        return getattr(self._row, self._prefix + name)


class TicketQueries(TxPart):
    """The ticket, requester and tag tables."""

    # ------------------------------------------------------------- requesters

    async def find_or_create_requester(
        self, *, email: str | None = None, name: str = "", language: str | None = None,
        chatbot_user_id: str | None = None,
    ) -> Requester:
        email = email.strip().lower() if email else None
        row = None
        if email:
            row = (await self.conn.execute(_requester_by("email"), {"key": email})).first()
        if row is None and chatbot_user_id:
            row = (await self.conn.execute(_requester_by("chatbot_user_id"), {"key": chatbot_user_id})).first()
        if row is not None:
            changes = {}
            if name and not row.name:
                changes["name"] = name
            if language and not row.language:
                changes["language"] = language
            if changes:
                row = (await self.conn.execute(update(REQ).where(REQ.c.id == row.id).values(**changes)
                                               .returning(*REQ.c))).first()
            return _requester(row)
        result = await self.conn.execute(_insert_returning(REQ), dict(
            name=name or "", email=email, language=language, chatbot_user_id=chatbot_user_id, created_at=self.now()))
        return _requester(result.first())

    async def get_requester(self, requester_id: int) -> Requester:
        row = (await self.conn.execute(select(REQ).where(REQ.c.id == requester_id))).first()
        if row is None:
            raise NotFound(f"no requester {requester_id}")
        return _requester(row)

    # ---------------------------------------------------------------- tickets

    async def insert_ticket(
        self, *, desk_id: int, type: TicketType, channel: str, subject: str, requester_id: int,
        status: Status = Status.NEW, assignee_id: int | None = None, conversation_id: str | None = None,
        language: str | None = None, summary: str | None = None, ai_replies_allowed: bool = False,
        follow_up_of: int | None = None, at: datetime | None = None, actor: str | None = None,
        preview: str = "",
    ) -> int:
        now = naive_utc(at) if at else self.now()
        result = await self.conn.execute(_insert_returning(TICKET, "id"), dict(
            desk_id=desk_id, type=type.value, channel=channel, subject=subject, summary=summary,
            status=status.value, closed=not status.is_active, closed_at=None if status.is_active else now,
            assignee_id=assignee_id, requester_id=requester_id, created_at=now, updated_at=now,
            last_message_at=now, last_message_by=Author.CUSTOMER.value, preview=preview,
            conversation_id=conversation_id, ai_replies_allowed=ai_replies_allowed, language=language,
            follow_up_of=follow_up_of, version=1, updated_by=actor,
        ))
        return result.scalar_one()

    async def get_ticket(self, ticket_id: int, *, for_update: bool = False) -> Ticket:
        locking = for_update and self.dialect == "postgresql"
        row = (await self.conn.execute(_ticket_statement(self.dialect, locking), {"ticket_id": ticket_id})).first()
        tag_cols = not locking
        if row is None:
            raise NotFound(f"no ticket #{ticket_id}")
        # PostgreSQL's FOR UPDATE re-reads a ticket changed while it waited, but not
        # the outer-joined rows (they come back empty): read those on their own then.
        if row.req_id is not None:
            requester = _requester(_Prefixed(row, "req_"))
        else:
            requester = await self.get_requester(row.requester_id)
        if not row.assignee_id:
            assignee = None
        elif row.agent_id is not None:
            assignee = _agent(_Prefixed(row, "agent_"))
        else:
            assignee = await self.get_agent(row.assignee_id)
        if tag_cols:
            tags_json = row.tags_json
            tags = tuple(json.loads(tags_json) if isinstance(tags_json, str) else (tags_json or ()))
        else:
            tags = await self.ticket_tags(ticket_id)
        return Ticket(
            id=row.id, desk_id=row.desk_id, type=TicketType(row.type), channel=row.channel, subject=row.subject,
            status=Status(row.status), requester=requester, created_at=row.created_at, updated_at=row.updated_at,
            last_message_at=row.last_message_at, last_message_by=Author(row.last_message_by), version=row.version,
            assignee=assignee, summary=row.summary, tags=tags, conversation_id=row.conversation_id,
            ai_replies_allowed=row.ai_replies_allowed, language=row.language, follow_up_of=row.follow_up_of,
            updated_by=row.updated_by, hold_until=row.hold_until,
        )

    async def ticket_closed_at(self, ticket_id: int) -> datetime | None:
        return (await self.conn.execute(select(T.closed_at).where(T.id == ticket_id))).scalar()

    async def update_ticket(self, ticket_id: int, *, expected_version: int | None, actor: str | None, **values) -> int:
        """Update a ticket row, bumping its version; return the new version.

        With ``expected_version`` the update only applies to that version (the
        optimistic check); a lost race raises :class:`ConflictError` naming who won.
        """
        if "status" in values:
            status = Status(values["status"])
            values["status"] = status.value
            if status is not Status.ON_HOLD:
                values["hold_until"] = None  # an "until" belongs to the hold it was set with
            values["closed"] = not status.is_active
            if not status.is_active:
                values.setdefault("closed_at", self.now())
        params = {f"v_{k}": (v.value if hasattr(v, "value") else v) for k, v in values.items()}
        params.update(tid=ticket_id, actor=actor)
        if expected_version is not None:
            params["expected"] = expected_version
        stmt = _update_ticket(tuple(sorted(values)), expected_version is not None)
        new_version = (await self.conn.execute(stmt, params)).scalar()
        if new_version is None:
            row = (await self.conn.execute(select(T.updated_by).where(T.id == ticket_id))).first()
            if row is None:
                raise NotFound(f"no ticket #{ticket_id}")
            raise ConflictError(ticket_id, row.updated_by)
        return new_version

    async def ticket_tags(self, ticket_id: int) -> tuple[str, ...]:
        rows = await self.conn.execute(_ticket_tags(), {"tid": ticket_id})
        return tuple(r[0] for r in rows)

    async def add_new_tags(self, ticket_id: int, tags: Iterable[str]) -> None:
        """Tags of a ticket that has none yet (one made in this transaction): no need to read them first."""
        rows = [{"ticket_id": ticket_id, "tag": tag} for tag in sorted(set(tags))]
        if rows:
            await self.conn.execute(insert(TAGS), rows)

    async def change_tags(self, ticket_id: int, add: Iterable[str] = (), remove: Iterable[str] = ()) -> tuple[str, ...]:
        current = set(await self.ticket_tags(ticket_id))
        new = sorted(set(add) - current)
        if new:
            await self.conn.execute(insert(TAGS), [{"ticket_id": ticket_id, "tag": tag} for tag in new])
        gone = set(remove) & current
        if gone:
            await self.conn.execute(delete(TAGS).where(TAG.ticket_id == ticket_id, TAG.tag.in_(gone)))
        return tuple(sorted((current | set(add)) - set(remove)))

    async def held_until_due(self, now: datetime, limit: int = 100) -> list[int]:
        """Tickets On hold whose "until" has come, earliest first."""
        rows = await self.conn.execute(
            select(T.id).where(T.hold_until <= now, T.status == Status.ON_HOLD.value)
            .order_by(T.hold_until, T.id).limit(limit))
        return [r[0] for r in rows]

    async def known_tags(self, limit: int = 500) -> list[str]:
        """The desk's tags, most used first (for completion in the tag dialog)."""
        uses = func.count().label("uses")
        rows = await self.conn.execute(select(TAG.tag, uses).group_by(TAG.tag).order_by(uses.desc(), TAG.tag).limit(limit))
        return [r[0] for r in rows]

    async def tickets_by_conversation(self, conversation_id: str) -> list[int]:
        rows = await self.conn.execute(select(T.id).where(T.conversation_id == conversation_id).order_by(T.id))
        return [r[0] for r in rows]

    async def previous_tickets(self, requester_id: int, *, exclude: int | None = None, limit: int = 20) -> list[TicketLine]:
        stmt = _line_select().where(T.requester_id == requester_id)
        if exclude is not None:
            stmt = stmt.where(T.id != exclude)
        rows = await self.conn.execute(stmt.order_by(T.created_at.desc(), T.id.desc()).limit(limit))
        return [_line(r) for r in rows]
