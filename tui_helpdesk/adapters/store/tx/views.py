"""Views of tickets: count, page and full-text search.

The SQL of a view's filter and sort is built in :mod:`..viewsql`; here it is
run, with the query plan chosen by how common a searched word is.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

from sqlalchemy import func, select, text, tuple_

from ....domain.model import SearchHit, Status
from ....domain.query import Field, ViewSpec
from ....domain.views import Page
from .. import engine as engine_mod
from ..tables import TICKET
from ..viewsql import COMMON_MATCHES, PROBE_WINDOW, E, M, T, Context, fts_query, order_and_keyset, sort_columns, where_clause
from .base import TxPart
from .rows import _line, _line_select

# How long "is this word common?" is remembered (it only chooses a query plan).
COMMON_WORDS_TTL = 60.0


class ViewQueries(TxPart):
    """Counting, paging and searching tickets."""

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
