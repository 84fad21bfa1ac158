"""Route tickets to agents by the desk's method, shifts, caps and time off (SPEC §5).

Every decision is made inside one write transaction that first locks the
desk (PostgreSQL ``SELECT ... FOR UPDATE`` on its row; on SQLite the
transaction began with ``BEGIN IMMEDIATE`` and is the only writer), so two
tickets arriving at once in two processes are decided one after the other and
see each other's counts: balance and caps hold. The settings are read from
the database in that transaction, so a change made in another terminal
applies to the next ticket.

Three moments route: a new ticket (never a takeover), a customer message on a
ticket whose assignee is now off shift, on time off or away, and the periodic
hand-out of the oldest waiting unassigned tickets when someone can take them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from ..adapters.store.repository import Store, Tx
from ..domain.assignment import Candidate, Decision, Method, choose, why_not
from ..domain.desk_config import DeskConfig
from ..domain.events import CustomerMessageAdded, TicketCreated
from ..domain.model import Status
from .desk_settings import DeskSettingsService
from .tickets import TicketService

log = logging.getLogger(__name__)

# Statuses in which a ticket waits on the team, so the hand-out may give it to someone.
WAITING = (Status.NEW, Status.ON_YOU)


@dataclass(frozen=True, slots=True)
class Explanation:
    """Who would get the ticket now, and why each other agent would not."""

    ticket_id: int
    method: str
    decision: Decision
    agents: list[tuple[str, str, str | None]]  # (login, name, why not or None)

    def lines(self) -> list[str]:
        out = [f"#{self.ticket_id}: {self.decision.reason}"]
        for login, name, why in self.agents:
            out.append(f"  {login:<16} {'eligible' if why is None else why}")
        return out


class AssignmentService:
    def __init__(self, store: Store, tickets: TicketService, desk_settings: DeskSettingsService):
        self.store = store
        self.tickets = tickets
        self.desk_settings = desk_settings

    # ------------------------------------------------------------ event handlers

    async def on_ticket_created(self, event: TicketCreated) -> None:
        """After-commit handler: route a new ticket, unless an agent took it over or its desk is manual."""
        if event.source == "takeover":
            return  # the ticket is the taker's already
        # Routing on a manual desk does nothing but costs a write transaction per
        # ticket, which would dominate the first sync of a big mailbox.
        if not await self._routes_automatically(event.desk_id):
            return
        await self.route(event.ticket_id)

    async def on_customer_message(self, event: CustomerMessageAdded) -> None:
        """After-commit handler: a ticket whose assignee is now absent goes back through assignment."""
        # Most desks are manual: a customer message there costs no read at all.
        if not await self.desk_settings.automatic_desks():
            return
        async with self.store.read() as tx:
            ticket = await tx.get_ticket(event.ticket_id)
        if ticket.assignee is None or not await self._routes_automatically(ticket.desk_id):
            return
        await self.route(event.ticket_id, absent_only=True)

    async def _routes_automatically(self, desk_id: int) -> bool:
        config = await self.desk_settings.config(desk_id)
        return config.enabled and Method(config.assignment) is not Method.MANUAL

    # ------------------------------------------------------------ deciding

    async def _candidates(self, tx: Tx) -> list[Candidate]:
        return [
            Candidate(
                agent_id=agent.id, name=agent.name, availability=agent.availability, open_tickets=open_count,
                max_open=agent.max_open, shift=agent.shift,
                last_assigned_at=last.replace(tzinfo=timezone.utc) if last else None,
                time_off=tuple(tuple(r) for r in off),
            )
            for agent, open_count, last, off in await tx.agents_for_assignment()
        ]

    def _now(self, tx: Tx) -> datetime:
        return tx.now().replace(tzinfo=timezone.utc)

    @staticmethod
    def _decide(config: DeskConfig, candidates: list[Candidate], now: datetime) -> Decision:
        return choose(config.assignment, candidates, now=now, shifts=config.shift_map(),
                      next_shift_fallback=config.next_shift_fallback)

    async def route(self, ticket_id: int, *, absent_only: bool = False) -> int | None:
        """Assign a ticket automatically; returns the agent id or None.

        A ticket that has an assignee is left alone, unless *absent_only* and
        that assignee is now off shift, on time off or away.
        """
        async with self.store.write() as tx:
            ticket = await tx.get_ticket(ticket_id, for_update=True)
            await tx.lock_desk(ticket.desk_id)
            config = await self.desk_settings.config(ticket.desk_id, tx, fresh=True)
            if not ticket.status.is_active or not config.enabled or Method(config.assignment) is Method.MANUAL:
                return None
            candidates = await self._candidates(tx)
            now = self._now(tx)
            prefix = ""
            if ticket.assignee is not None:
                if not absent_only:
                    return None
                mine = next((c for c in candidates if c.agent_id == ticket.assignee.id), None)
                why = why_not(mine, config.shift_map(), now) if mine else "no longer an agent"
                if why is None or why.startswith("at cap"):
                    return None  # still here: a cap does not take tickets away
                prefix = f"{ticket.assignee.name} is {why}; "
                candidates = [c for c in candidates if c.agent_id != ticket.assignee.id]
            decision = self._decide(config, candidates, now)
            if decision.agent_id is None:
                if prefix:
                    return None  # nobody else can take it: it stays with its assignee
                await self.tickets.event(tx, ticket_id, f"Not assigned ({decision.reason})",
                                         {"event": "assign", "to": None, "reason": decision.reason})
                await tx.record_change(ticket_id, "assign", None)
                return None
            agent = await tx.get_agent(decision.agent_id)
            await self.tickets.assign_in(tx, ticket_id, agent.login, actor=None, reason=prefix + decision.reason)
            return agent.id

    async def hand_out(self, limit: int = 50) -> int:
        """Give the oldest waiting unassigned tickets to whoever can take them now; how many were assigned.

        Any process may call this (the app and ``helpdesk sync`` do, every few
        seconds): each ticket is decided under the desk's lock.
        """
        assigned = 0
        for state in await self.desk_settings.states():
            config = state.config
            if not config.enabled or Method(config.assignment) is Method.MANUAL:
                continue
            async with self.store.read() as tx:
                waiting = await tx.waiting_unassigned(state.desk_id, [s.value for s in WAITING], limit)
            stuck = False
            for ticket_id in waiting:
                async with self.store.write() as tx:
                    # The ticket first, then the desk: the same order as route(), so the two never deadlock.
                    ticket = await tx.get_ticket(ticket_id, for_update=True)
                    await tx.lock_desk(state.desk_id)
                    if ticket.assignee is not None or ticket.status not in WAITING:
                        continue
                    decision = self._decide(config, await self._candidates(tx), self._now(tx))
                    if decision.agent_id is None:
                        stuck = True  # nobody can take one now; the rest wait too
                        break
                    agent = await tx.get_agent(decision.agent_id)
                    await self.tickets.assign_in(tx, ticket_id, agent.login, actor=None,
                                                 reason=f"waiting since {ticket.created_at:%Y-%m-%d %H:%M}; "
                                                        f"{decision.reason}")
                    assigned += 1
                if stuck:
                    break
        return assigned

    async def explain(self, ticket_id: int) -> Explanation:
        """Who would get *ticket_id* now, and why each other agent would not (nothing is written)."""
        async with self.store.read() as tx:
            ticket = await tx.get_ticket(ticket_id)
            config = await self.desk_settings.config(ticket.desk_id, tx, fresh=True)
            candidates = await self._candidates(tx)
            now = self._now(tx)
            agents = {a.id: a for a in await tx.list_agents()}
        holder = ticket.assignee.id if ticket.assignee is not None and ticket.status.is_active else None
        # The ticket's own assignee counts it already: decide as if it were new.
        candidates = [replace(c, open_tickets=c.open_tickets - 1) if c.agent_id == holder else c for c in candidates]
        if not config.enabled:
            decision = Decision(None, f"desk '{config.slug}' is off")
        else:
            decision = self._decide(config, candidates, now)
        if decision.agent_id is not None:
            decision = Decision(decision.agent_id, f"{agents[decision.agent_id].name} would get it: {decision.reason}")
        if ticket.assignee is not None:
            decision = Decision(decision.agent_id, f"assigned to {ticket.assignee.name} now; {decision.reason}")
        shifts = config.shift_map()
        rows = [(agents[c.agent_id].login, c.name, why_not(c, shifts, now)) for c in candidates if c.agent_id in agents]
        return Explanation(ticket_id, config.assignment, decision, rows)
