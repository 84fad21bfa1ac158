"""Queries of the AI tables: translations, usage, requester languages, ticket summaries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, insert, select, update

from ..tables import AGENT, DESK
from ..tables_ai import AI_TRANSLATION as TR
from ..tables_ai import AI_USAGE as USE
from ..tables_ai import REQUESTER_LANGUAGE as RL
from ..tables_ai import TICKET_SUMMARY as TS
from .base import TxPart


@dataclass(frozen=True, slots=True)
class LanguageRow:
    detected: str | None
    detected_entry_id: int | None
    override: str | None

    @property
    def effective(self) -> str | None:
        return self.override or self.detected


@dataclass(frozen=True, slots=True)
class SummaryRow:
    ticket_id: int
    text: str
    model: str
    last_entry_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UsageRow:
    action: str
    agent: str
    desk: str
    model: str
    calls: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    ms: int


class AIQueries(TxPart):
    """The ``tables_ai`` tables."""

    # ------------------------------------------------------------ translations

    async def translations(self, entry_ids: Iterable[int], target_language: str, model: str) -> dict[int, str]:
        ids = list(entry_ids)
        if not ids:
            return {}
        rows = await self.conn.execute(select(TR.c.entry_id, TR.c.text).where(
            TR.c.entry_id.in_(ids), TR.c.target_language == target_language, TR.c.model == model))
        return {r[0]: r[1] for r in rows}

    async def put_translation(self, entry_id: int, target_language: str, model: str, text: str,
                              source_language: str | None = None) -> None:
        """Keep a translation; a second writer of the same key keeps the first (both are valid)."""
        values = dict(entry_id=entry_id, target_language=target_language, model=model, text=text,
                      source_language=source_language, created_at=self.now())
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        await self.conn.execute(dialect_insert(TR).values(**values).on_conflict_do_nothing())

    # ------------------------------------------------------------ usage

    async def record_ai_usage(
        self, *, action: str, agent_id: int | None, desk_id: int | None, ticket_id: int | None, model: str,
        prompt_tokens: int, completion_tokens: int, ms: int, ok: bool,
    ) -> None:
        await self.conn.execute(insert(USE).values(
            action=action, agent_id=agent_id, desk_id=desk_id, ticket_id=ticket_id, model=model,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, ms=ms, ok=ok, at=self.now()))

    async def ai_usage(self, since: datetime, *, agent_id: int | None = None) -> list[UsageRow]:
        """Calls since *since*, grouped by action, agent, desk and model (aggregated in SQL)."""
        stmt = (
            select(USE.c.action, func.coalesce(AGENT.c.login, ""), func.coalesce(DESK.c.slug, ""), USE.c.model,
                   func.count(), func.sum(case((USE.c.ok.is_(False), 1), else_=0)),
                   func.sum(USE.c.prompt_tokens), func.sum(USE.c.completion_tokens), func.sum(USE.c.ms))
            .select_from(USE.outerjoin(AGENT, AGENT.c.id == USE.c.agent_id).outerjoin(DESK, DESK.c.id == USE.c.desk_id))
            .where(USE.c.at >= since)
            .group_by(USE.c.action, AGENT.c.login, DESK.c.slug, USE.c.model)
            .order_by(USE.c.action, AGENT.c.login, DESK.c.slug, USE.c.model)
        )
        if agent_id is not None:
            stmt = stmt.where(USE.c.agent_id == agent_id)
        return [UsageRow(r[0], r[1], r[2], r[3], int(r[4]), int(r[5] or 0), int(r[6] or 0), int(r[7] or 0),
                         int(r[8] or 0)) for r in await self.conn.execute(stmt)]

    async def ai_tokens(self, agent_id: int, since: datetime) -> tuple[int, int]:
        """(calls, tokens) of one agent since *since*: the status bar's figure."""
        row = (await self.conn.execute(select(
            func.count(), func.coalesce(func.sum(USE.c.prompt_tokens + USE.c.completion_tokens), 0))
            .where(USE.c.agent_id == agent_id, USE.c.at >= since))).one()
        return int(row[0]), int(row[1])

    # ------------------------------------------------------------ requester language

    async def requester_language(self, requester_id: int) -> LanguageRow | None:
        row = (await self.conn.execute(select(RL).where(RL.c.requester_id == requester_id))).first()
        return LanguageRow(row.detected, row.detected_entry_id, row.override) if row else None

    async def set_requester_language(self, requester_id: int, **values) -> None:
        """Set ``detected``/``detected_entry_id`` and/or ``override`` (None clears the override)."""
        values["updated_at"] = self.now()
        done = await self.conn.execute(update(RL).where(RL.c.requester_id == requester_id).values(**values))
        if not done.rowcount:
            await self.conn.execute(insert(RL).values(requester_id=requester_id, **values))

    # ------------------------------------------------------------ ticket summary

    async def ticket_summary(self, ticket_id: int) -> SummaryRow | None:
        row = (await self.conn.execute(select(TS).where(TS.c.ticket_id == ticket_id))).first()
        return SummaryRow(row.ticket_id, row.text, row.model, row.last_entry_id, row.created_at) if row else None

    async def put_ticket_summary(self, ticket_id: int, text: str, model: str, last_entry_id: int) -> None:
        await self.conn.execute(delete(TS).where(TS.c.ticket_id == ticket_id))
        await self.conn.execute(insert(TS).values(ticket_id=ticket_id, text=text, model=model,
                                                  last_entry_id=last_entry_id, created_at=self.now()))
