"""Agents: who they are, their open tickets and time off (what assignment needs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, update

from ....domain.errors import NotFound
from ....domain.model import Agent, Availability, Role
from ..tables import AGENT, TIME_OFF
from ..viewsql import T
from .base import TxPart
from .rows import _agent


class AgentQueries(TxPart):
    """The agent and time-off tables."""

    async def count_agents(self) -> int:
        return (await self.conn.execute(select(func.count()).select_from(AGENT))).scalar_one()

    async def list_agents(self, *, include_inactive: bool = False) -> list[Agent]:
        query = select(AGENT).order_by(AGENT.c.login)
        rows = await self.conn.execute(query if include_inactive else query.where(AGENT.c.active))
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
