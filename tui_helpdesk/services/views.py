"""Views: the rail (system, shared, personal and config views with counts), pages, saved views."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..adapters.store.repository import Store
from ..domain import querylang
from ..domain.errors import LimitReached, NotFound, PermissionDenied, QueryError, UsageError
from ..domain.model import Agent
from ..domain.query import ME, NOBODY, MAX_PERSONAL_VIEWS, MAX_SHARED_VIEWS, Field, ViewSpec, validate_view_name
from ..domain.views import SYSTEM_VIEW_KEYS, SYSTEM_VIEWS, Page, SavedView, Visibility


@dataclass(frozen=True, slots=True)
class RailItem:
    key: str  # "inbox", "saved:12", "config:Billing"
    name: str
    count: int | None  # None: not counted (e.g. Conversations before the chatbot is set up)
    kind: str  # "system" | "shared" | "personal" | "config"
    spec: ViewSpec | None


# An assignee token of a typed query, to point at the one naming an unknown agent.
_ASSIGNEE_TOKEN = re.compile(r'(?<!\S)-?(?:assignee|assigned):("(?:[^"\\]|\\.)*"?|\S*)', re.IGNORECASE)


class ViewService:
    def __init__(self, store: Store, config_views: list[SavedView] | None = None):
        self.store = store
        self.config_views = config_views or []
        # Set by the chatbot integration: counts live conversations not yet tickets.
        self.conversation_counter = None
        # The desk chosen in the desk switcher (None: all desks): every view and count follows it.
        self.desk_id: int | None = None

    def scoped(self, spec: ViewSpec) -> ViewSpec:
        """*spec* limited to the chosen desk, when one is chosen."""
        from dataclasses import replace

        from ..domain.query import MAX_CONDITIONS, Condition, Field, Op

        if self.desk_id is None or len(spec.conditions) >= MAX_CONDITIONS:
            return spec

        return replace(spec, conditions=spec.conditions + (Condition(Field.DESK, Op.ANY_OF, (str(self.desk_id),)),))

    async def saved(self, me: Agent) -> list[SavedView]:
        async with self.store.read() as tx:
            return list(self.config_views) + await tx.saved_views(me.id)

    async def resolve(self, name_or_key: str, me: Agent) -> tuple[str, ViewSpec]:
        """A view by key or name (case-insensitive): 'inbox', 'All', 'saved:3', 'Billing'."""
        key = name_or_key.strip().lower()
        system = SYSTEM_VIEW_KEYS.get(key) or next((v for v in SYSTEM_VIEWS if v.name.lower() == key), None)
        if system is not None:
            if system.spec is None:
                raise UsageError(f"'{system.name}' is not a ticket view")
            return system.name, system.spec
        for view in await self.saved(me):
            if key in (view.key.lower(), view.name.lower(), str(view.id)):
                return view.name, view.spec
        names = ", ".join([v.key for v in SYSTEM_VIEWS if v.spec] + [v.name for v in await self.saved(me)])
        raise NotFound(f"no view '{name_or_key}' (views: {names})")

    async def parse(self, query: str) -> ViewSpec:
        """*query* as a view spec, with every agent it names checked against the team."""
        spec = querylang.parse(query)
        await self.check_agents(spec, query)
        return spec

    async def check_agents(self, spec: ViewSpec, query: str = "") -> None:
        """Refuse an ``assignee:`` naming no agent, which would silently match nothing.

        The query language is parsed in the domain, which cannot see the team;
        the CLI and the app's filter bar both ask here. With the typed *query*
        the error is a :class:`QueryError` pointing at the token.
        """
        named = [v for c in spec.conditions if c.field is Field.ASSIGNEE for v in c.values if v not in (ME, NOBODY)]
        if not named:
            return
        async with self.store.read() as tx:
            logins = sorted(a.login for a in await tx.list_agents())
        known = {login.lower() for login in logins}
        for login in named:
            if login not in known:
                message = f"unknown agent '{login}' (agents: {', '.join(logins)}; or {ME}, {NOBODY})"
                if not query:
                    raise UsageError(message)
                start, end = _token_naming(query, login)
                raise QueryError(message, query, start, end)

    async def rail(self, me: Agent) -> list[RailItem]:
        """Every view with its count: one small query per view, all in one read."""
        items: list[RailItem] = []
        async with self.store.read() as tx:
            for view in SYSTEM_VIEWS:
                if view.key == "conversations":
                    count = await self.conversation_counter() if self.conversation_counter else None
                elif view.key == "mentions":
                    count = await tx.unread_mentions(me.id)
                else:
                    count = await tx.count(self.scoped(view.spec), me.id)
                items.append(RailItem(view.key, view.name, count, "system", view.spec))
            saved = list(self.config_views) + await tx.saved_views(me.id)
            for view in saved:
                kind = "config" if view.from_config else view.visibility.value
                items.append(RailItem(view.key, view.name, await tx.count(self.scoped(view.spec), me.id), kind,
                                      view.spec))
        return items

    async def count(self, spec: ViewSpec, me: Agent) -> int:
        async with self.store.read() as tx:
            return await tx.count(self.scoped(spec), me.id)

    async def page(self, spec: ViewSpec, me: Agent, *, limit: int = 50, after: tuple | None = None,
                   offset: int = 0, reverse: bool = False) -> Page:
        if after is not None and after[0] == "offset":
            offset, after = after[1], None
        async with self.store.read() as tx:
            return await tx.page(self.scoped(spec), me.id, limit=limit, after=after, offset=offset, reverse=reverse)

    async def count_and_page(self, spec: ViewSpec, me: Agent, *, limit: int = 50) -> tuple[int, Page]:
        async with self.store.read() as tx:
            spec = self.scoped(spec)
            return await tx.count(spec, me.id), await tx.page(spec, me.id, limit=limit)

    async def save(self, me: Agent, name: str, spec: ViewSpec | str, *, shared: bool = False,
                   desk_id: int | None = None) -> SavedView:
        name = validate_view_name(name)
        if isinstance(spec, str):
            spec = await self.parse(spec)
        else:
            await self.check_agents(spec)
        if any(name.lower() == v.name.lower() for v in SYSTEM_VIEWS):
            raise UsageError(f"'{name}' is a system view name")
        async with self.store.write() as tx:
            wanted = Visibility.SHARED if shared else Visibility.PERSONAL
            for existing in await tx.saved_views(me.id):
                if existing.name.lower() == name.lower() and existing.visibility is wanted:
                    raise UsageError(f"a view named '{name}' already exists")
            if shared:
                if not me.is_admin:
                    raise PermissionDenied("only an admin can create shared views")
                if await tx.count_saved_views(shared_desk=desk_id) >= MAX_SHARED_VIEWS:
                    raise LimitReached(f"a desk has at most {MAX_SHARED_VIEWS} shared views; delete one first")
                view = SavedView(None, name, spec, Visibility.SHARED, None, desk_id)
            else:
                if await tx.count_saved_views(owner_id=me.id) >= MAX_PERSONAL_VIEWS:
                    raise LimitReached(f"you have {MAX_PERSONAL_VIEWS} personal views, the most allowed; delete one first")
                view = SavedView(None, name, spec, Visibility.PERSONAL, me.id, desk_id)
            return await tx.insert_saved_view(view)

    async def _editable(self, me: Agent, key: str) -> SavedView:
        for view in await self.saved(me):
            if key.lower() in (view.key.lower(), view.name.lower(), str(view.id)):
                if view.from_config:
                    raise PermissionDenied(f"'{view.name}' is declared in the config file; edit it there")
                if view.visibility is Visibility.SHARED and not me.is_admin:
                    raise PermissionDenied("only an admin can change shared views")
                return view
        if key.lower() in SYSTEM_VIEW_KEYS or any(key.lower() == v.name.lower() for v in SYSTEM_VIEWS):
            raise PermissionDenied(f"'{key}' is a system view; it cannot be edited or deleted")
        raise NotFound(f"no saved view '{key}'")

    async def update(self, me: Agent, key: str, *, name: str | None = None, spec: ViewSpec | str | None = None) -> SavedView:
        view = await self._editable(me, key)
        if isinstance(spec, str):
            spec = await self.parse(spec)
        elif spec is not None:
            await self.check_agents(spec)
        if name is not None:
            name = validate_view_name(name)
        async with self.store.write() as tx:
            await tx.update_saved_view(view.id, name=name, spec=spec)
            return await tx.get_saved_view(view.id)

    async def delete(self, me: Agent, key: str) -> SavedView:
        view = await self._editable(me, key)
        async with self.store.write() as tx:
            await tx.delete_saved_view(view.id)
        return view


def _token_naming(query: str, login: str) -> tuple[int, int]:
    """Where in *query* the assignee token naming *login* is (the whole query if not found)."""
    for match in _ASSIGNEE_TOKEN.finditer(query):
        values = match.group(1).strip('"').lstrip("!").lower().split(",")
        if login in (v.strip() for v in values):
            return match.start(), match.end()
    return 0, len(query)
