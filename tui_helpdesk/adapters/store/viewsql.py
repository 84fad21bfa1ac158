"""Turn a :class:`ViewSpec` into SQL: one query for a count, one for a page.

The sort is keyset-paged where the sort column is on the ticket row (last
activity, created, id, subject); other sorts page by offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import (
    and_,
    bindparam,
    column,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
    true,
    tuple_,
)
from sqlalchemy.sql import ColumnElement, Select

from ...domain.model import CLOSED_STATUSES, TicketType
from ...domain.query import ME, NOBODY, Condition, Field, Op, SortKey, ViewSpec
from .engine import FTS_SHIFT
from .tables import AGENT, ENTRY, MENTION, REQUESTER, TICKET, TICKET_TAG

T = TICKET.c
R = REQUESTER.c
A = AGENT.c
E = ENTRY.c
M = MENTION.c
TAG = TICKET_TAG.c

_CLOSED_VALUES = {s.value for s in CLOSED_STATUSES}


@dataclass(frozen=True, slots=True)
class Context:
    me_id: int | None
    now: datetime  # naive UTC
    dialect: str
    # Text filters whose words match so many entries that the view's own order
    # should drive the query (see text_match).
    common_text: frozenset[str] = frozenset()
    # Test each ticket against the index instead of building the set of matches:
    # only for a scan the caller has bounded (see Tx.page).
    text_probe: bool = False


def fts_query(text: str) -> str:
    """User words → a safe FTS5 query: each word or "phrase" a quoted term, ANDed."""
    terms: list[str] = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', text):
        term = (phrase or word).strip()
        term = re.sub(r"[^\w\s'@.-]", " ", term).strip()
        if term:
            terms.append('"' + term.replace('"', '""') + '"')
    return " ".join(terms) or '""'


# A word in at least this many entries is "common": cheaper to walk the view in
# its own order and test each ticket than to start from every match.
COMMON_MATCHES = 10_000
# How many of a view's next tickets a page of a common word tests one by one
# before collecting the matches instead (see Tx.page).
PROBE_WINDOW = 2_000


# The SQLite index (see engine.SQLITE_FTS): a key is ticket id << FTS_SHIFT + position.
FTS = table("ticket_fts", column("rowid"))
_SHIFT = literal_column(str(FTS_SHIFT))  # inline: a constant, not a parameter


def _fts_match(text: str) -> ColumnElement[bool]:
    # Each condition gets its own anonymous parameter: a view can hold several words.
    return literal_column("ticket_fts").op("MATCH")(bindparam(None, fts_query(text)))


def fts_ticket_ids(text: str) -> Select:
    """Ids of the tickets with an entry matching *text*, off the SQLite index alone."""
    return select(FTS.c.rowid.op(">>")(_SHIFT)).where(_fts_match(text)).distinct()


def text_match(text: str, ctx: Context) -> ColumnElement[bool]:
    """Tickets with an entry (message, reply, note) or subject matching *text*."""
    if ctx.dialect == "sqlite":
        if ctx.text_probe and text in ctx.common_text:
            # This ticket's entries are the keys [id << shift, (id + 1) << shift).
            first = T.id.op("<<")(_SHIFT)
            return exists().where(_fts_match(text), FTS.c.rowid.between(first, (T.id + 1).op("<<")(_SHIFT) - 1))
        ids = fts_ticket_ids(text)
        if text in ctx.common_text:
            # "+ 0" keeps SQLite off the primary key: it walks the view's index in
            # order and probes the set of matching tickets, stopping at a page.
            return (T.id + 0).in_(ids)
        return T.id.in_(ids)
    vector = func.to_tsvector("simple", E.body + " " + func.coalesce(E.search_extra, ""))
    query = func.plainto_tsquery("simple", text)
    return T.id.in_(
        select(E.ticket_id).where(
            or_(E.kind != "event", E.search_extra.is_not(None)), vector.op("@@")(query)
        )
    )


def _day_start(day) -> datetime:
    return datetime.combine(day, time.min)


def condition_sql(c: Condition, ctx: Context) -> ColumnElement[bool]:
    f, op, values = c.field, c.op, c.values
    negate = op is Op.NONE_OF
    clause: ColumnElement[bool]
    if f is Field.STATUS:
        statuses = set(values)
        # Keep the status-group views on the `closed` index.
        if statuses == _CLOSED_VALUES:
            clause = T.closed == true()
        elif statuses and not statuses & _CLOSED_VALUES and len(statuses) == 4:
            clause = T.closed == false()
        else:
            clause = T.status.in_(sorted(statuses))
    elif f is Field.CHANNEL:
        clause = func.lower(T.channel).in_(values)
    elif f is Field.ASSIGNEE:
        parts = []
        logins = [v for v in values if v not in (ME, NOBODY)]
        if ME in values:
            parts.append(T.assignee_id == ctx.me_id if ctx.me_id is not None else false())
        if NOBODY in values:
            parts.append(T.assignee_id.is_(None))
        if logins:
            parts.append(T.assignee_id.in_(select(A.id).where(func.lower(A.login).in_(logins))))
        clause = or_(*parts) if len(parts) > 1 else parts[0]
        if negate:
            # NULL assignee must count as "none of [alice]".
            return or_(T.assignee_id.is_(None), not_(clause)) if NOBODY not in values else not_(clause)
    elif f is Field.MENTIONS_ME:
        if ctx.me_id is None:
            return false()
        return exists().where(M.ticket_id == T.id, M.agent_id == ctx.me_id)
    elif f in (Field.CREATED, Field.LAST_MESSAGE):
        col = T.created_at if f is Field.CREATED else T.last_message_at
        if op is Op.WITHIN:
            return col >= ctx.now - timedelta(days=values[0])
        if op is Op.OLDER:
            return col < ctx.now - timedelta(days=values[0])
        if op is Op.BEFORE:
            return col < _day_start(values[0])
        if op is Op.AFTER:
            return col >= _day_start(values[0]) + timedelta(days=1)
        return and_(col >= _day_start(values[0]), col < _day_start(values[1]) + timedelta(days=1))
    elif f is Field.LAST_MESSAGE_BY:
        return T.last_message_by == values[0]
    elif f is Field.TYPE:
        types = set()
        for v in values:
            types |= {t.value for t in TicketType if t is not TicketType.LIVE_CHAT} if v == "ticket" else {v}
        clause = T.type.in_(sorted(types))
    elif f is Field.TAG:
        if op is Op.CONTAINS:
            return exists().where(TAG.ticket_id == T.id, TAG.tag.contains(values[0], autoescape=True))
        clause = exists().where(TAG.ticket_id == T.id, TAG.tag.in_(values))
    elif f is Field.REQUESTER:
        if op is Op.CONTAINS:
            needle = values[0]
            return T.requester_id.in_(
                select(R.id).where(
                    or_(func.lower(R.name).contains(needle, autoescape=True),
                        func.lower(R.email).contains(needle, autoescape=True))
                )
            )
        clause = T.requester_id.in_(
            select(R.id).where(or_(func.lower(R.email).in_(values), func.lower(R.name).in_(values)))
        )
    elif f is Field.TEXT:
        return text_match(values[0], ctx)
    elif f is Field.DESK:
        return T.desk_id.in_([int(v) for v in values])
    else:  # pragma: no cover
        raise ValueError(f)
    return not_(clause) if negate else clause


def where_clause(spec: ViewSpec, ctx: Context) -> ColumnElement[bool]:
    parts = [condition_sql(c, ctx) for c in spec.conditions]
    return and_(true(), *parts)


KEYSET_COLUMNS = {
    SortKey.UPDATED: T.updated_at,
    SortKey.CREATED: T.created_at,
    SortKey.ID: T.id,
    SortKey.SUBJECT: T.subject,
}


def sort_columns(spec: ViewSpec):
    """(primary sort expression, keyset-able?)"""
    key = spec.sort.key
    if key in KEYSET_COLUMNS:
        return KEYSET_COLUMNS[key], True
    if key is SortKey.STATUS:
        from sqlalchemy import case

        order = ["new", "on_you", "on_customer", "on_hold", "closed", "cancelled"]
        return case({s: i for i, s in enumerate(order)}, value=T.status), False
    # The page query already joins requester and assignee.
    if key is SortKey.REQUESTER:
        return func.lower(func.coalesce(func.nullif(R.name, ""), R.email, "")), False
    return func.lower(func.coalesce(A.name, "")), False


def order_and_keyset(stmt: Select, spec: ViewSpec, after: tuple | None, reverse: bool = False) -> Select:
    col, keyset = sort_columns(spec)
    descending = spec.sort.descending != reverse
    if after is not None and keyset:
        value, last_id = after
        if isinstance(value, str) and col.type.python_type is datetime:
            value = datetime.fromisoformat(value)
        if col is T.id:
            stmt = stmt.where(T.id < last_id if descending else T.id > last_id)
        else:
            cmp = tuple_(col, T.id) < tuple_(value, last_id) if descending else tuple_(col, T.id) > tuple_(value, last_id)
            stmt = stmt.where(cmp)
    if col is T.id:
        return stmt.order_by(T.id.desc() if descending else T.id.asc())
    if descending:
        return stmt.order_by(col.desc(), T.id.desc())
    return stmt.order_by(col.asc(), T.id.asc())
