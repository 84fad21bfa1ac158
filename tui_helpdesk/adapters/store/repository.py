"""The ticket store: SQL behind small async methods, on SQLite or PostgreSQL.

``Store.read()`` and ``Store.write()`` hand out a :class:`Tx` — one transaction
on one connection. Services make their decisions inside ``write()`` so they see
the row as it is; on SQLite that transaction began with ``BEGIN IMMEDIATE``,
on PostgreSQL the ticket row is locked with ``FOR UPDATE``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, text, tuple_, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ...domain.clock import naive_utc, utcnow
from ...domain.drafts import Draft
from ...domain.errors import ConflictError, HelpdeskError, NotFound
from ...domain.model import (
    Agent,
    Author,
    Availability,
    Change,
    Desk,
    EntryKind,
    Requester,
    Role,
    SearchHit,
    Status,
    Ticket,
    TicketRow as TicketLine,
    TicketType,
    TimelineEntry,
)
from ...domain.query import Field, ViewSpec
from ...domain.presence import Presence
from ...domain.views import Page, SavedView, Visibility
from . import engine as engine_mod
from .steady import SteadyConnection, connect, finish, transaction
from .tables import AGENT, CHANGE, DESK, DRAFT, ENTRY, LEASE, MENTION, PRESENCE, TICKET, TIME_OFF
from .tables import REQUESTER as REQ
from .tables import SAVED_VIEW as VIEW
from .tables import TICKET_TAG as TAGS
from .viewsql import COMMON_MATCHES, PROBE_WINDOW, A, E, M, R, T, TAG, Context, fts_query, order_and_keyset, sort_columns, where_clause

# Serialises change-feed inserts on PostgreSQL so sequence order is commit order.
_PG_FEED_LOCK = 7_310_001


# How long closing waits for transactions that are still ending.
CLOSE_GRACE_SECONDS = 5.0
# How long "is this word common?" is remembered (it only chooses a query plan).
COMMON_WORDS_TTL = 60.0


class Store:
    """Owns the engine. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.clock = clock
        self.dialect = engine.dialect.name
        self._active = 0  # transactions open right now
        # (words, threshold) -> (matched at least that many entries?, when checked); see Tx._matches_at_least
        self.common_words: dict[tuple[str, int], tuple[bool, float]] = {}

    @classmethod
    async def open(
        cls, url: str, *, create: bool = True, upgrade: bool = False, clock: Callable[[], datetime] = utcnow
    ) -> "Store":
        url = engine_mod.normalise_url(url)
        path = engine_mod.sqlite_path(url)
        if path is not None:
            engine_mod.check_file_modes(path, creating=create)
        engine = engine_mod.make_engine(url)
        store = cls(engine, clock)
        try:
            async with connect(engine) as conn:
                conn = await conn.execution_options(**{engine_mod.WRITE_OPTION: True})
                async with transaction(conn.begin()):
                    store.prepared = await finish(conn.run_sync(lambda c: engine_mod.prepare(c, upgrade=upgrade)))
        except (DBAPIError, OSError) as exc:
            # Not a database, server down, wrong password: one line, no traceback.
            await engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            shown = make_url(url).render_as_string(hide_password=True)
            raise HelpdeskError(f"cannot open the database {shown}: {reason[0] if reason else type(exc).__name__}") from None
        except BaseException:
            await engine.dispose()
            raise
        return store

    async def close(self) -> None:
        # Transactions still ending (a cancelled caller rolling back) finish first:
        # disposing of the engine under them would leave their connections closing forever.
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS
        while self._active and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await self.engine.dispose()

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        self._active += 1
        try:
            async with connect(self.engine) as conn:
                yield conn
        finally:
            self._active -= 1

    @asynccontextmanager
    async def read(self) -> AsyncIterator["Tx"]:
        async with self._connect() as conn:
            async with transaction(conn.begin()):
                yield Tx(SteadyConnection(conn), self)

    @asynccontextmanager
    async def write(self) -> AsyncIterator["Tx"]:
        async with self._connect() as conn:
            conn = await conn.execution_options(**{engine_mod.WRITE_OPTION: True})
            async with transaction(conn.begin()):
                yield Tx(SteadyConnection(conn), self)


class Tx:
    """One transaction. Every method is a small, named query."""

    def __init__(self, conn: "AsyncConnection | SteadyConnection", store: Store):
        self.conn = conn
        self.store = store
        self.dialect = store.dialect

    def now(self) -> datetime:
        return naive_utc(self.store.clock())

    # ------------------------------------------------------------------ desks

    async def list_desks(self) -> list[Desk]:
        rows = await self.conn.execute(select(DESK).order_by(DESK.c.id))
        return [_desk(r) for r in rows]

    async def get_desk(self, key: str | int | None = None) -> Desk:
        stmt = select(DESK)
        if key is None:
            stmt = stmt.order_by(DESK.c.id).limit(1)
        elif isinstance(key, int) or str(key).isdigit():
            stmt = stmt.where(DESK.c.id == int(key))
        else:
            stmt = stmt.where(DESK.c.slug == str(key).lower())
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            raise NotFound(f"no desk {key!r}" if key is not None else "no desk yet")
        return _desk(row)

    async def ensure_desk(self, slug: str, name: str, reopen_days: int = 7) -> Desk:
        row = (await self.conn.execute(select(DESK).where(DESK.c.slug == slug))).first()
        if row is not None:
            return _desk(row)
        await self.conn.execute(
            insert(DESK).values(slug=slug, name=name, reopen_days=reopen_days, enabled=True, settings={}, created_at=self.now())
        )
        return await self.get_desk(slug)

    # ----------------------------------------------------------------- agents

    async def count_agents(self) -> int:
        return (await self.conn.execute(select(func.count()).select_from(AGENT))).scalar_one()

    async def list_agents(self) -> list[Agent]:
        rows = await self.conn.execute(select(AGENT).where(AGENT.c.active).order_by(AGENT.c.login))
        return [_agent(r) for r in rows]

    async def find_agent(self, login: str) -> Agent | None:
        row = (await self.conn.execute(select(AGENT).where(func.lower(AGENT.c.login) == login.lower()))).first()
        return _agent(row) if row else None

    async def get_agent(self, agent_id: int) -> Agent:
        row = (await self.conn.execute(select(AGENT).where(AGENT.c.id == agent_id))).first()
        if row is None:
            raise NotFound(f"no agent with id {agent_id}")
        return _agent(row)

    async def add_agent(self, login: str, name: str, email: str = "", role: Role = Role.AGENT) -> Agent:
        await self.conn.execute(
            insert(AGENT).values(
                login=login, name=name, email=email, role=role.value, availability=Availability.AVAILABLE.value,
                max_open=0, active=True, created_at=self.now(),
            )
        )
        agent = await self.find_agent(login)
        assert agent is not None
        await self.record_change(None, "agent", agent.id)
        return agent

    async def update_agent(self, agent_id: int, **values) -> Agent:
        values = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
        await self.conn.execute(update(AGENT).where(AGENT.c.id == agent_id).values(**values))
        await self.record_change(None, "agent", agent_id)
        return await self.get_agent(agent_id)

    async def open_ticket_counts(self) -> dict[int, int]:
        rows = await self.conn.execute(
            select(T.assignee_id, func.count()).where(T.closed.is_(False), T.assignee_id.is_not(None)).group_by(T.assignee_id)
        )
        return {r[0]: r[1] for r in rows}

    async def agents_for_assignment(self) -> list[tuple[Agent, int, datetime | None, list[tuple]]]:
        """Active agents with their open-ticket count, last assignment and time off."""
        counts = await self.open_ticket_counts()
        rows = (await self.conn.execute(select(AGENT).where(AGENT.c.active).order_by(AGENT.c.id))).all()
        off: dict[int, list[tuple]] = {}
        for r in await self.conn.execute(select(TIME_OFF)):
            off.setdefault(r.agent_id, []).append((r.start, r.end))
        return [(_agent(r), counts.get(r.id, 0), r.last_assigned_at, off.get(r.id, [])) for r in rows]

    async def add_time_off(self, agent_id: int, start, end) -> None:
        await self.conn.execute(insert(TIME_OFF).values(agent_id=agent_id, start=start, end=end))
        await self.record_change(None, "agent", agent_id)

    # ------------------------------------------------------------- requesters

    async def find_or_create_requester(
        self, *, email: str | None = None, name: str = "", language: str | None = None,
        chatbot_user_id: str | None = None,
    ) -> Requester:
        email = email.strip().lower() if email else None
        row = None
        if email:
            row = (await self.conn.execute(select(REQ).where(REQ.c.email == email).order_by(REQ.c.id).limit(1))).first()
        if row is None and chatbot_user_id:
            row = (
                await self.conn.execute(select(REQ).where(REQ.c.chatbot_user_id == chatbot_user_id).limit(1))
            ).first()
        if row is not None:
            changes = {}
            if name and not row.name:
                changes["name"] = name
            if language and not row.language:
                changes["language"] = language
            if changes:
                await self.conn.execute(update(REQ).where(REQ.c.id == row.id).values(**changes))
                row = (await self.conn.execute(select(REQ).where(REQ.c.id == row.id))).first()
            return _requester(row)
        result = await self.conn.execute(
            insert(REQ).values(
                name=name or "", email=email, language=language, chatbot_user_id=chatbot_user_id, created_at=self.now()
            ).returning(REQ.c.id)
        )
        return await self.get_requester(result.scalar_one())

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
    ) -> int:
        now = naive_utc(at) if at else self.now()
        result = await self.conn.execute(
            insert(TICKET).values(
                desk_id=desk_id, type=type.value, channel=channel, subject=subject, summary=summary,
                status=status.value, closed=not status.is_active, closed_at=None if status.is_active else now,
                assignee_id=assignee_id, requester_id=requester_id, created_at=now, updated_at=now,
                last_message_at=now, last_message_by=Author.CUSTOMER.value, preview="",
                conversation_id=conversation_id, ai_replies_allowed=ai_replies_allowed, language=language,
                follow_up_of=follow_up_of, version=1, updated_by=actor,
            ).returning(TICKET.c.id)
        )
        return result.scalar_one()

    async def get_ticket(self, ticket_id: int, *, for_update: bool = False) -> Ticket:
        stmt = select(TICKET).where(T.id == ticket_id)
        if for_update and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            raise NotFound(f"no ticket #{ticket_id}")
        requester = await self.get_requester(row.requester_id)
        assignee = await self.get_agent(row.assignee_id) if row.assignee_id else None
        tags = await self.ticket_tags(ticket_id)
        return Ticket(
            id=row.id, desk_id=row.desk_id, type=TicketType(row.type), channel=row.channel, subject=row.subject,
            status=Status(row.status), requester=requester, created_at=row.created_at, updated_at=row.updated_at,
            last_message_at=row.last_message_at, last_message_by=Author(row.last_message_by), version=row.version,
            assignee=assignee, summary=row.summary, tags=tags, conversation_id=row.conversation_id,
            ai_replies_allowed=row.ai_replies_allowed, language=row.language, follow_up_of=row.follow_up_of,
            updated_by=row.updated_by,
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
            values["closed"] = not status.is_active
            if not status.is_active:
                values.setdefault("closed_at", self.now())
        values = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
        stmt = update(TICKET).where(T.id == ticket_id)
        if expected_version is not None:
            stmt = stmt.where(T.version == expected_version)
        stmt = stmt.values(version=T.version + 1, updated_by=actor, **values).returning(T.version)
        new_version = (await self.conn.execute(stmt)).scalar()
        if new_version is None:
            row = (await self.conn.execute(select(T.updated_by).where(T.id == ticket_id))).first()
            if row is None:
                raise NotFound(f"no ticket #{ticket_id}")
            raise ConflictError(ticket_id, row.updated_by)
        return new_version

    async def ticket_tags(self, ticket_id: int) -> tuple[str, ...]:
        rows = await self.conn.execute(select(TAG.tag).where(TAG.ticket_id == ticket_id).order_by(TAG.tag))
        return tuple(r[0] for r in rows)

    async def change_tags(self, ticket_id: int, add: Iterable[str] = (), remove: Iterable[str] = ()) -> tuple[str, ...]:
        current = set(await self.ticket_tags(ticket_id))
        for tag in set(add) - current:
            await self.conn.execute(insert(TAGS).values(ticket_id=ticket_id, tag=tag))
        gone = set(remove) & current
        if gone:
            await self.conn.execute(delete(TAGS).where(TAG.ticket_id == ticket_id, TAG.tag.in_(gone)))
        return tuple(sorted((current | set(add)) - set(remove)))

    async def tickets_by_conversation(self, conversation_id: str) -> list[int]:
        rows = await self.conn.execute(select(T.id).where(T.conversation_id == conversation_id).order_by(T.id))
        return [r[0] for r in rows]

    async def previous_tickets(self, requester_id: int, *, exclude: int | None = None, limit: int = 20) -> list[TicketLine]:
        stmt = _line_select().where(T.requester_id == requester_id)
        if exclude is not None:
            stmt = stmt.where(T.id != exclude)
        rows = await self.conn.execute(stmt.order_by(T.created_at.desc(), T.id.desc()).limit(limit))
        return [_line(r) for r in rows]

    # ---------------------------------------------------------------- entries

    async def insert_entry(
        self, *, ticket_id: int, kind: EntryKind, body: str, author_name: str,
        author_agent_id: int | None = None, author_requester_id: int | None = None,
        meta: dict | None = None, search_extra: str | None = None, at: datetime | None = None,
    ) -> TimelineEntry:
        now = naive_utc(at) if at else self.now()
        result = await self.conn.execute(
            insert(ENTRY).values(
                ticket_id=ticket_id, kind=kind.value, body=body, search_extra=search_extra,
                author_agent_id=author_agent_id, author_requester_id=author_requester_id,
                author_name=author_name, meta=meta or {}, created_at=now,
            ).returning(ENTRY.c.id)
        )
        return TimelineEntry(
            id=result.scalar_one(), ticket_id=ticket_id, kind=kind, body=body, created_at=now,
            author=author_name, author_agent_id=author_agent_id, meta=meta or {},
        )

    async def timeline(self, ticket_id: int, *, after_id: int = 0, limit: int | None = None) -> list[TimelineEntry]:
        stmt = select(ENTRY).where(E.ticket_id == ticket_id, E.id > after_id).order_by(E.id)
        if limit:
            stmt = stmt.limit(limit)
        return [_entry(r) for r in await self.conn.execute(stmt)]

    async def timeline_tail(self, ticket_id: int, limit: int) -> list[TimelineEntry]:
        """The newest *limit* entries, oldest first (for lazy rendering of long threads)."""
        stmt = select(ENTRY).where(E.ticket_id == ticket_id).order_by(E.id.desc()).limit(limit)
        return [_entry(r) for r in reversed((await self.conn.execute(stmt)).all())]

    async def timeline_before(self, ticket_id: int, before_id: int, limit: int) -> list[TimelineEntry]:
        stmt = select(ENTRY).where(E.ticket_id == ticket_id, E.id < before_id).order_by(E.id.desc()).limit(limit)
        return [_entry(r) for r in reversed((await self.conn.execute(stmt)).all())]

    async def count_entries(self, ticket_id: int) -> int:
        return (await self.conn.execute(select(func.count()).where(E.ticket_id == ticket_id))).scalar_one()

    async def last_entry_id(self, ticket_id: int) -> int:
        return (await self.conn.execute(select(func.max(E.id)).where(E.ticket_id == ticket_id))).scalar() or 0

    async def entries_since(self, ticket_id: int, entry_id: int, kinds: Sequence[EntryKind]) -> list[TimelineEntry]:
        stmt = select(ENTRY).where(E.ticket_id == ticket_id, E.id > entry_id, E.kind.in_([k.value for k in kinds]))
        return [_entry(r) for r in await self.conn.execute(stmt.order_by(E.id))]

    # --------------------------------------------------------------- mentions

    async def insert_mentions(self, entry_id: int, ticket_id: int, agent_ids: Iterable[int]) -> None:
        for agent_id in agent_ids:
            await self.conn.execute(insert(MENTION).values(entry_id=entry_id, ticket_id=ticket_id, agent_id=agent_id))

    async def unread_mentions(self, agent_id: int) -> int:
        stmt = select(func.count()).where(M.agent_id == agent_id, M.read_at.is_(None))
        return (await self.conn.execute(stmt)).scalar_one()

    async def mark_mentions_read(self, ticket_id: int, agent_id: int) -> int:
        result = await self.conn.execute(
            update(MENTION).where(M.ticket_id == ticket_id, M.agent_id == agent_id, M.read_at.is_(None)).values(read_at=self.now())
        )
        return result.rowcount or 0

    # ------------------------------------------------------------------ views

    async def context(self, spec: ViewSpec, me_id: int | None) -> Context:
        common: set[str] = set()
        if self.dialect == "sqlite":
            for c in spec.conditions:
                if c.field is Field.TEXT and await self._matches_at_least(c.values[0], COMMON_MATCHES):
                    common.add(c.values[0])
        return Context(me_id=me_id, now=self.now(), dialect=self.dialect, common_text=frozenset(common))

    async def _matches_at_least(self, words: str, n: int) -> bool:
        """Do at least *n* entries match? Reads at most *n* postings.

        The answer only steers the query plan and changes slowly, so it is kept
        a minute: a view's count, its first page and the pages scrolled to ask once.
        """
        key, now = (fts_query(words), n), time.monotonic()
        known = self.store.common_words.get(key)
        if known is not None and now - known[1] < COMMON_WORDS_TTL:
            return known[0]
        stmt = text("SELECT count(*) FROM (SELECT 1 FROM ticket_fts WHERE ticket_fts MATCH :q LIMIT :n)")
        common = (await self.conn.execute(stmt, {"q": key[0], "n": n})).scalar_one() >= n
        if len(self.store.common_words) >= 256:
            self.store.common_words.clear()
        self.store.common_words[key] = (common, now)
        return common

    async def count(self, spec: ViewSpec, me_id: int | None) -> int:
        if me_id is not None and [c.field for c in spec.conditions] == [Field.MENTIONS_ME]:
            # The Mentions view: every mention's ticket exists, so count them off the
            # (agent_id, ticket_id) index alone; probing each ticket with EXISTS reads
            # the whole ticket table (~60 ms at 100k tickets).
            stmt = select(func.count(func.distinct(M.ticket_id))).where(M.agent_id == me_id)
            return (await self.conn.execute(stmt)).scalar_one()
        stmt = select(func.count()).select_from(TICKET).where(where_clause(spec, await self.context(spec, me_id)))
        return (await self.conn.execute(stmt)).scalar_one()

    async def page(
        self, spec: ViewSpec, me_id: int | None, *, limit: int = 50, after: tuple | None = None,
        offset: int = 0, reverse: bool = False,
    ) -> Page:
        """One page of a view. Keyset (``after``) where the sort allows, else ``offset``."""
        ctx = await self.context(spec, me_id)
        col, keyset = sort_columns(spec)
        rows = None
        if ctx.common_text and keyset:
            rows = await self._probed_page(spec, ctx, limit=limit, after=after, reverse=reverse)
        if rows is None:
            stmt = order_and_keyset(_line_select().where(where_clause(spec, ctx)), spec, after, reverse)
            if not keyset or after is None:
                stmt = stmt.offset(offset) if offset else stmt
            rows = (await self.conn.execute(stmt.limit(limit + 1))).all()
        more = len(rows) > limit
        lines = [_line(r) for r in rows[:limit]]
        next_after = None
        if more and lines:
            last = rows[limit - 1]
            if keyset:
                value = getattr(last, col.key) if col is not T.id else last.id
                next_after = (value, last.id)
            else:
                next_after = ("offset", (offset or 0) + limit)
        return Page(lines, next_after)

    async def _probed_page(self, spec: ViewSpec, ctx: Context, *, limit: int, after: tuple | None,
                           reverse: bool) -> list | None:
        """A page of a view filtered by a common word, testing the view's next tickets one by one.

        Most tickets match a common word, so walking the view in order and asking
        the index about each ticket fills a page after a few hundred look-ups,
        where collecting every match first costs tens of milliseconds. The walk
        is bounded to the next PROBE_WINDOW tickets of the view; ``None`` when
        they do not fill the page (the word is rare in this view after all).
        """
        col, _ = sort_columns(spec)
        plain = ViewSpec(conditions=tuple(c for c in spec.conditions if c.field is not Field.TEXT), sort=spec.sort)
        window_end = (await self.conn.execute(
            order_and_keyset(select(col.label("key"), T.id).where(where_clause(plain, ctx)), spec, after, reverse)
            .offset(PROBE_WINDOW - 1).limit(1)
        )).first()
        stmt = _line_select().where(where_clause(spec, replace(ctx, text_probe=True)))
        if window_end is not None:
            descending = spec.sort.descending != reverse
            end = tuple_(col, T.id) if col is not T.id else T.id
            bound = tuple_(window_end.key, window_end.id) if col is not T.id else window_end.id
            stmt = stmt.where(end >= bound if descending else end <= bound)
        rows = (await self.conn.execute(order_and_keyset(stmt, spec, after, reverse).limit(limit + 1))).all()
        if len(rows) > limit or window_end is None:
            return rows
        return None

    async def search(self, text_query: str, *, limit: int = 50) -> list[SearchHit]:
        """Tickets whose messages, notes or subject match, newest ticket first (no ranking).

        Each hit shows its ticket's newest matching entry.
        """
        if self.dialect == "sqlite":
            found = await self._search_index(fts_query(text_query), limit)
            entry_ids = [r[0] for r in await self.conn.execute(text(
                "SELECT (SELECT x.id FROM (SELECT e.id, row_number() OVER (ORDER BY e.id) AS n"
                "  FROM entry e WHERE e.ticket_id = json_extract(hit.value, '$[0]')) AS x"
                " WHERE x.n = json_extract(hit.value, '$[1]')) FROM json_each(:hits) AS hit"
            ), {"hits": json.dumps(found)})]
        else:
            vector = func.to_tsvector("simple", E.body + " " + func.coalesce(E.search_extra, ""))
            entry_ids = [r[0] for r in await self.conn.execute(
                select(func.max(E.id)).where(
                    (E.kind != "event") | E.search_extra.is_not(None),
                    vector.op("@@")(func.plainto_tsquery("simple", text_query)),
                ).group_by(E.ticket_id).order_by(E.ticket_id.desc()).limit(limit)
            )]
        rows = await self.conn.execute(
            select(E.ticket_id, E.body, E.created_at, T.subject, T.status)
            .join(TICKET, T.id == E.ticket_id).where(E.id.in_([i for i in entry_ids if i]))
            .order_by(E.ticket_id.desc())
        )
        return [SearchHit(r.ticket_id, r.subject, Status(r.status), r.body[:200], r.created_at) for r in rows]

    async def _search_index(self, query: str, limit: int) -> list[tuple[int, int]]:
        """(ticket, position of its newest matching entry), newest ticket first, off the index.

        Keys descend by ticket, then by position: the first key met of a ticket is its
        newest match, and the next batch starts below the tickets already found.
        """
        shift = engine_mod.FTS_SHIFT
        found: dict[int, int] = {}
        below = None
        batch = max(limit * 4, 200)
        while len(found) < limit:
            keys = [r[0] for r in await self.conn.execute(text(
                "SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH :q"
                + (" AND rowid < :below" if below is not None else "") + " ORDER BY rowid DESC LIMIT :n"
            ), {"q": query, "n": batch, "below": below})]
            for key in keys:
                found.setdefault(key >> shift, key & ((1 << shift) - 1))
                if len(found) == limit:
                    break
            if len(keys) < batch:
                break
            below = (keys[-1] >> shift) << shift  # the rest of that ticket's keys are not needed
        return list(found.items())

    # ------------------------------------------------------------ saved views

    async def saved_views(self, agent_id: int | None) -> list[SavedView]:
        stmt = select(VIEW).where((VIEW.c.visibility == Visibility.SHARED.value) | (VIEW.c.owner_id == agent_id))
        rows = await self.conn.execute(stmt.order_by(VIEW.c.visibility.desc(), VIEW.c.position, VIEW.c.id))
        return [_saved(r) for r in rows]

    async def count_saved_views(self, *, owner_id: int | None = None, shared_desk: int | None = None) -> int:
        stmt = select(func.count()).select_from(VIEW)
        if owner_id is not None:
            stmt = stmt.where(VIEW.c.owner_id == owner_id, VIEW.c.visibility == Visibility.PERSONAL.value)
        else:
            stmt = stmt.where(VIEW.c.visibility == Visibility.SHARED.value)
            if shared_desk is not None:
                stmt = stmt.where(VIEW.c.desk_id == shared_desk)
        return (await self.conn.execute(stmt)).scalar_one()

    async def insert_saved_view(self, view: SavedView) -> SavedView:
        try:
            result = await self.conn.execute(
                insert(VIEW).values(
                    name=view.name, visibility=view.visibility.value, owner_id=view.owner_id, desk_id=view.desk_id,
                    spec=view.spec.to_dict(), position=0, created_at=self.now(),
                ).returning(VIEW.c.id)
            )
        except IntegrityError:
            from ...domain.errors import UsageError

            raise UsageError(f"a view named {view.name!r} already exists") from None
        await self.record_change(None, "view", view.owner_id)
        return SavedView(result.scalar_one(), view.name, view.spec, view.visibility, view.owner_id, view.desk_id)

    async def get_saved_view(self, view_id: int) -> SavedView:
        row = (await self.conn.execute(select(VIEW).where(VIEW.c.id == view_id))).first()
        if row is None:
            raise NotFound(f"no saved view {view_id}")
        return _saved(row)

    async def update_saved_view(self, view_id: int, *, name: str | None = None, spec: ViewSpec | None = None) -> None:
        values: dict = {}
        if name is not None:
            values["name"] = name
        if spec is not None:
            values["spec"] = spec.to_dict()
        await self.conn.execute(update(VIEW).where(VIEW.c.id == view_id).values(**values))
        await self.record_change(None, "view", None)

    async def delete_saved_view(self, view_id: int) -> None:
        await self.conn.execute(delete(VIEW).where(VIEW.c.id == view_id))
        await self.record_change(None, "view", None)

    # ------------------------------------------------------------ change feed

    async def record_change(self, ticket_id: int | None, kind: str, agent_id: int | None) -> None:
        if self.dialect == "postgresql":
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_FEED_LOCK})
        await self.conn.execute(insert(CHANGE).values(ticket_id=ticket_id, kind=kind, agent_id=agent_id, at=self.now()))

    async def latest_seq(self) -> int:
        return (await self.conn.execute(select(func.max(CHANGE.c.seq)))).scalar() or 0

    async def changes_since(self, seq: int, limit: int = 1000) -> list[Change]:
        rows = await self.conn.execute(select(CHANGE).where(CHANGE.c.seq > seq).order_by(CHANGE.c.seq).limit(limit))
        return [Change(r.seq, r.ticket_id, r.kind, r.agent_id, r.at) for r in rows]

    # ----------------------------------------------------- drafts and presence

    async def get_draft(self, agent_id: int, ticket_id: int) -> Draft | None:
        row = (await self.conn.execute(select(DRAFT).where(DRAFT.c.agent_id == agent_id, DRAFT.c.ticket_id == ticket_id))).first()
        return Draft(row.ticket_id, row.mode, row.body, row.base_entry_id, row.updated_at) if row else None

    async def save_draft(self, agent_id: int, ticket_id: int, mode: str, body: str, base_entry_id: int) -> None:
        await self.conn.execute(delete(DRAFT).where(DRAFT.c.agent_id == agent_id, DRAFT.c.ticket_id == ticket_id))
        if body.strip():
            await self.conn.execute(insert(DRAFT).values(
                agent_id=agent_id, ticket_id=ticket_id, mode=mode, body=body, base_entry_id=base_entry_id, updated_at=self.now()))

    async def delete_draft(self, agent_id: int, ticket_id: int) -> None:
        await self.conn.execute(delete(DRAFT).where(DRAFT.c.agent_id == agent_id, DRAFT.c.ticket_id == ticket_id))

    async def touch_presence(self, agent_id: int, ticket_id: int, typing: bool) -> None:
        await self.conn.execute(delete(PRESENCE).where(PRESENCE.c.agent_id == agent_id))
        if ticket_id:
            await self.conn.execute(insert(PRESENCE).values(agent_id=agent_id, ticket_id=ticket_id, typing=typing, seen_at=self.now()))

    async def presence(self, ticket_id: int, *, max_age: timedelta) -> list[Presence]:
        stmt = (
            select(PRESENCE.c.agent_id, A.name, PRESENCE.c.typing, PRESENCE.c.seen_at)
            .join(AGENT, A.id == PRESENCE.c.agent_id)
            .where(PRESENCE.c.ticket_id == ticket_id, PRESENCE.c.seen_at >= self.now() - max_age)
        )
        return [Presence(r[0], r[1], r[2], r[3]) for r in await self.conn.execute(stmt)]

    # ----------------------------------------------------------------- leases

    async def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take or renew lease *name* for *holder*; False when someone else holds it."""
        now = self.now()
        row = (await self.conn.execute(select(LEASE).where(LEASE.c.name == name))).first()
        if row is None:
            try:
                async with self.conn.begin_nested():
                    await self.conn.execute(insert(LEASE).values(name=name, holder=holder, expires_at=now + ttl))
                return True
            except IntegrityError:
                return False
        if row.holder != holder and row.expires_at > now:
            return False
        result = await self.conn.execute(
            update(LEASE).where(LEASE.c.name == name, LEASE.c.holder == row.holder, LEASE.c.expires_at == row.expires_at)
            .values(holder=holder, expires_at=now + ttl)
        )
        return (result.rowcount or 0) == 1

    async def release_lease(self, name: str, holder: str) -> None:
        await self.conn.execute(delete(LEASE).where(LEASE.c.name == name, LEASE.c.holder == holder))

    # ----------------------------------------------------------------- checks

    async def integrity_ok(self) -> bool:
        if self.dialect != "sqlite":
            return True
        return (await self.conn.execute(text("PRAGMA integrity_check"))).scalar() == "ok"


# ------------------------------------------------------------------ mapping


def _line_select():
    requester_name = func.coalesce(func.nullif(R.name, ""), R.email, R.chatbot_user_id, "")
    return (
        select(
            T.id, T.status, T.type, T.channel, T.subject, T.preview, T.created_at, T.updated_at, T.last_message_by,
            requester_name.label("requester_name"), A.name.label("assignee_name"),
        )
        .select_from(TICKET.join(REQ, R.id == T.requester_id).outerjoin(AGENT, A.id == T.assignee_id))
    )


def _line(r) -> TicketLine:
    return TicketLine(
        id=r.id, status=Status(r.status), type=TicketType(r.type), channel=r.channel, subject=r.subject,
        preview=r.preview, requester=r.requester_name, assignee=r.assignee_name, created_at=r.created_at,
        updated_at=r.updated_at, last_message_by=Author(r.last_message_by),
    )


def _desk(r) -> Desk:
    return Desk(id=r.id, slug=r.slug, name=r.name, enabled=r.enabled, reopen_days=r.reopen_days)


def _agent(r) -> Agent:
    return Agent(
        id=r.id, login=r.login, name=r.name, email=r.email, role=Role(r.role),
        availability=Availability(r.availability), max_open=r.max_open, shift=r.shift,
    )


def _requester(r) -> Requester:
    return Requester(id=r.id, name=r.name, email=r.email, chatbot_user_id=r.chatbot_user_id, language=r.language)


def _entry(r) -> TimelineEntry:
    return TimelineEntry(
        id=r.id, ticket_id=r.ticket_id, kind=EntryKind(r.kind), body=r.body, created_at=r.created_at,
        author=r.author_name, author_agent_id=r.author_agent_id, meta=r.meta or {},
    )


def _saved(r) -> SavedView:
    return SavedView(
        id=r.id, name=r.name, spec=ViewSpec.from_dict(r.spec), visibility=Visibility(r.visibility),
        owner_id=r.owner_id, desk_id=r.desk_id,
    )
