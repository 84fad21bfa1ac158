"""Route new tickets to agents by the desk's method, shifts, caps and time off."""

from __future__ import annotations

from datetime import timezone

from ..adapters.store.repository import Store
from ..domain.assignment import Candidate, Method, choose
from ..domain.events import TicketCreated
from ..settings import DeskSettings, Settings
from .tickets import TicketService


class AssignmentService:
    def __init__(self, store: Store, tickets: TicketService, settings: Settings):
        self.store = store
        self.tickets = tickets
        self.desks: dict[str, DeskSettings] = {d.slug: d for d in settings.desks}
        self._slugs: dict[int, str] = {}

    async def on_ticket_created(self, event: TicketCreated) -> None:
        """After-commit handler: route a new ticket, unless an agent took it over or its desk is manual."""
        if event.source == "takeover":
            return  # the ticket is the taker's already
        # Routing on a manual desk does nothing but costs a transaction per
        # ticket, which would dominate the first sync of a big mailbox.
        if not await self._routes_automatically(event.desk_id):
            return
        await self.route(event.ticket_id)

    async def _routes_automatically(self, desk_id: int) -> bool:
        slug = self._slugs.get(desk_id)
        if slug is None:
            async with self.store.read() as tx:
                slug = self._slugs[desk_id] = (await tx.get_desk(desk_id)).slug
        settings = self.desks.get(slug)
        return settings is not None and Method(settings.assignment) is not Method.MANUAL

    async def route(self, ticket_id: int) -> int | None:
        """Assign a new ticket automatically; returns the agent id or None.

        Tickets that already have an assignee (a takeover) are left alone.
        """
        async with self.store.write() as tx:
            ticket = await tx.get_ticket(ticket_id, for_update=True)
            if ticket.assignee is not None or not ticket.status.is_active:
                return None
            desk = await tx.get_desk(ticket.desk_id)
            settings = self.desks.get(desk.slug)
            if settings is None or Method(settings.assignment) is Method.MANUAL:
                return None
            candidates = [
                Candidate(
                    agent_id=agent.id, name=agent.name, availability=agent.availability, open_tickets=open_count,
                    max_open=agent.max_open, shift=agent.shift,
                    last_assigned_at=last.replace(tzinfo=timezone.utc) if last else None,
                    time_off=tuple(off),
                )
                for agent, open_count, last, off in await tx.agents_for_assignment()
            ]
            now = tx.now().replace(tzinfo=timezone.utc)
            decision = choose(
                settings.assignment, candidates, now=now, shifts={s.name: s for s in settings.shifts},
                next_shift_fallback=settings.next_shift_fallback,
            )
            if decision.agent_id is None:
                await self.tickets.event(tx, ticket_id, f"Not assigned ({decision.reason})",
                                         {"event": "assign", "to": None, "reason": decision.reason})
                await tx.record_change(ticket_id, "assign", None)
                return None
            agent = await tx.get_agent(decision.agent_id)
            await self.tickets.assign_in(tx, ticket_id, agent.login, actor=None, reason=decision.reason)
            return agent.id
