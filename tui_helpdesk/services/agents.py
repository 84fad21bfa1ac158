"""Agents: who am I (the OS login), the team list, adding and changing agents."""

from __future__ import annotations

import os
import pwd

from ..adapters.store.repository import Store
from ..domain.errors import NotFound, PermissionDenied, UsageError
from ..domain.model import Agent, Availability, Role


def os_login() -> str:
    """The login of this process's user: on a shared host the agent *is* the login."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no passwd entry (containers)
        return os.environ.get("USER") or f"uid{os.getuid()}"


def os_full_name(login: str) -> str:
    try:
        gecos = pwd.getpwnam(login).pw_gecos.split(",")[0].strip()
    except KeyError:
        gecos = ""
    return gecos or login


class AgentService:
    def __init__(self, store: Store):
        self.store = store

    async def identify(self, login: str | None = None, *, act_as: str | None = None) -> Agent:
        """The agent for *login* (default: the OS login).

        The first agent of a new database is its admin. An admin may act as
        another agent (``act_as``), for scripts and integrations.
        """
        login = login or os_login()
        async with self.store.write() as tx:
            agent = await tx.find_agent(login)
            if agent is None:
                if await tx.count_agents() == 0:
                    agent = await tx.add_agent(login, os_full_name(login), role=Role.ADMIN)
                else:
                    raise PermissionDenied(
                        f"'{login}' is not an agent of this help desk; an admin can add you with: helpdesk agent add {login}"
                    )
            if not agent.active:
                raise PermissionDenied(
                    f"'{agent.login}' is deactivated on this help desk; an admin can reactivate you with: "
                    f"helpdesk agent activate {agent.login}"
                )
            if act_as and act_as.lower() != agent.login.lower():
                if not agent.is_admin:
                    raise PermissionDenied("only an admin may act as another agent")
                other = await tx.find_agent(act_as)
                if other is None:
                    raise NotFound(f"no agent '{act_as}'")
                if not other.active:
                    raise PermissionDenied(f"'{other.login}' is deactivated and cannot act")
                return other
            return agent

    async def list(self, *, include_inactive: bool = False) -> list[Agent]:
        """The active agents by login (with *include_inactive*, the deactivated ones too)."""
        async with self.store.read() as tx:
            return await tx.list_agents(include_inactive=include_inactive)

    async def get(self, login: str) -> Agent:
        async with self.store.read() as tx:
            agent = await tx.find_agent(login)
        if agent is None:
            raise NotFound(f"no agent '{login}'")
        return agent

    async def add(self, actor: Agent, login: str, *, name: str = "", email: str = "", role: str = "agent") -> Agent:
        if not actor.is_admin:
            raise PermissionDenied("only an admin can add agents")
        login = login.strip()
        if not login or any(c.isspace() for c in login) or len(login) > 64:
            raise UsageError(f"'{login}' is not a valid login")
        try:
            role_value = Role(role)
        except ValueError:
            raise UsageError(f"unknown role '{role}' (admin or agent)") from None
        async with self.store.write() as tx:
            if await tx.find_agent(login):
                raise UsageError(f"agent '{login}' already exists")
            return await tx.add_agent(login, name or os_full_name(login), email, role_value)

    async def set(
        self, actor: Agent, login: str, *, name: str | None = None, email: str | None = None,
        role: str | None = None, availability: str | None = None, max_open: int | None = None,
        shift: str | None = None,
    ) -> Agent:
        target = await self.get(login)
        changes: dict = {}
        if name is not None:
            changes["name"] = name
        if email is not None:
            changes["email"] = email
        if availability is not None:
            try:
                changes["availability"] = Availability(availability)
            except ValueError:
                opts = ", ".join(a.value for a in Availability)
                raise UsageError(f"unknown availability '{availability}' ({opts})") from None
        if role is not None:
            try:
                changes["role"] = Role(role)
            except ValueError:
                raise UsageError(f"unknown role '{role}' (admin or agent)") from None
        if max_open is not None:
            if max_open < 0:
                raise UsageError("max open tickets is 0 (no cap) or more")
            changes["max_open"] = max_open
        if shift is not None:
            changes["shift"] = shift or None
        self_service = set(changes) <= {"availability", "name", "email"} and target.id == actor.id
        if not (actor.is_admin or self_service):
            raise PermissionDenied("only an admin can change other agents, roles, caps and shifts")
        if not changes:
            return target
        async with self.store.write() as tx:
            return await tx.update_agent(target.id, **changes)

    async def deactivate(self, actor: Agent, login: str) -> Agent:
        """Take an agent off the team: no more assignments, gone from the lists; their tickets stay."""
        if not actor.is_admin:
            raise PermissionDenied("only an admin can deactivate agents")
        target = await self.get(login)
        if target.id == actor.id:
            raise UsageError("you cannot deactivate yourself")
        async with self.store.write() as tx:
            return await tx.update_agent(target.id, active=False)

    async def activate(self, actor: Agent, login: str) -> Agent:
        """Bring a deactivated agent back: they can act and be assigned again."""
        if not actor.is_admin:
            raise PermissionDenied("only an admin can activate agents")
        target = await self.get(login)
        if target.active:
            return target
        async with self.store.write() as tx:
            return await tx.update_agent(target.id, active=True)
