"""The public API's use cases that are not ticket writes: tokens, and what a token may read.

Tokens are per desk and made by an admin (:meth:`ApiAccess.create_token`):
the token is returned once and only its hash is stored. :meth:`authenticate`
finds a token by its public prefix and compares the hash in constant time.
Reads go through the desk of the token: a ticket of another desk is "not
found", so a token never learns what another desk holds. The public
timeline is customer messages and agents' replies only; internal notes and
events never leave.
"""

from __future__ import annotations

from ..adapters.store.apistore import ApiTx
from ..adapters.store.repository import Store
from ..domain import api as api_rules
from ..domain.api import ApiToken
from ..domain.errors import NotFound, PermissionDenied, UsageError
from ..domain.model import Agent, Desk, Ticket, TimelineEntry
from ..domain.query import ME, Condition, Field, Op, ViewSpec
from ..domain.views import Page
from ..domain.text import one_line

MAX_PAGE = 100


class ApiAccess:
    def __init__(self, store: Store):
        self.store = store

    # ----------------------------------------------------------------- tokens

    async def create_token(self, actor: Agent, name: str, *, scopes: str = "read,write",
                           desk: str | None = None) -> tuple[ApiToken, str]:
        """A new token for *desk* (the first desk by default): (its record, the token, shown once)."""
        _admin(actor, "make API tokens")
        name = one_line(name, 100).strip()
        if not name:
            raise UsageError("give the token a name (what uses it, e.g. 'web form')")
        wanted = api_rules.parse_scopes(scopes)
        prefix, token = api_rules.new_token()
        async with self.store.write() as tx:
            d = await tx.get_desk(desk)
            record = await ApiTx(tx).insert_token(desk_id=d.id, name=name, prefix=prefix,
                                                  token_hash=api_rules.hash_token(token), scopes=wanted,
                                                  created_by=actor.id)
        return record, token

    async def tokens(self, actor: Agent) -> list[ApiToken]:
        _admin(actor, "list API tokens")
        async with self.store.read() as tx:
            return await ApiTx(tx).tokens()

    async def revoke_token(self, actor: Agent, token_id: int) -> ApiToken:
        _admin(actor, "revoke API tokens")
        async with self.store.write() as tx:
            api = ApiTx(tx)
            record = await api.token(token_id)
            if record is None:
                raise NotFound(f"no API token {token_id}")
            if record.revoked_at is None:
                await api.revoke_token(token_id)
            return await api.token(token_id)

    async def authenticate(self, token: str) -> ApiToken | None:
        """The live token *token* is, or None (unknown, malformed or revoked)."""
        prefix = api_rules.token_prefix(token)
        if prefix is None:
            return None
        async with self.store.read(quick=True) as tx:
            record = await ApiTx(tx).token_by_prefix(prefix)
        if record is None or not api_rules.token_matches(token, record.token_hash) or not record.active:
            return None
        return record

    async def desk_count(self) -> int:
        """A cheap read, for the health check: the database answers."""
        async with self.store.read(quick=True) as tx:
            return len(await tx.list_desks())

    async def desk(self, desk_id: int) -> Desk:
        async with self.store.read(quick=True) as tx:
            return await tx.get_desk(desk_id)

    # ------------------------------------------------------------------ reads

    async def ticket(self, desk_id: int, ticket_id: int) -> Ticket:
        """Ticket *ticket_id* if it belongs to *desk_id*; NotFound otherwise (never says it exists elsewhere)."""
        async with self.store.read(quick=True) as tx:
            return await _in_desk(tx, desk_id, ticket_id)

    async def public_timeline(self, desk_id: int, ticket_id: int, *, after_id: int = 0,
                              limit: int = 50) -> tuple[Ticket, list[TimelineEntry], bool]:
        """(ticket, up to *limit* public entries after *after_id*, whether more follow), in one read."""
        limit = max(1, min(limit, MAX_PAGE))
        async with self.store.read(quick=True) as tx:
            ticket = await _in_desk(tx, desk_id, ticket_id)
            entries = await ApiTx(tx).public_entries(ticket_id, after_id=after_id, limit=limit + 1)
        return ticket, entries[:limit], len(entries) > limit

    async def page(self, desk_id: int, spec: ViewSpec, *, limit: int, after: tuple | None) -> Page:
        """A page of *spec* within desk *desk_id*, as no agent in particular (``assignee:me`` is refused)."""
        for c in spec.conditions:
            if c.field is Field.MENTIONS_ME or (c.field is Field.ASSIGNEE and ME in c.values):
                raise UsageError("'me' means an agent; an API token is not one (name the agent's login)")
        spec = spec.and_(ViewSpec((Condition(Field.DESK, Op.ANY_OF, (str(desk_id),)),)))
        offset = 0
        if after is not None and after[0] == "offset":
            offset, after = int(after[1]), None
        async with self.store.read() as tx:
            return await tx.page(spec, None, limit=limit, after=after, offset=offset)

    async def entry(self, entry_id: int) -> TimelineEntry | None:
        async with self.store.read(quick=True) as tx:
            return await ApiTx(tx).entry(entry_id)


async def _in_desk(tx, desk_id: int, ticket_id: int) -> Ticket:
    try:
        ticket = await tx.get_ticket(ticket_id)
    except NotFound:
        ticket = None
    if ticket is None or ticket.desk_id != desk_id:
        raise NotFound(f"no ticket #{ticket_id}")
    return ticket


def _admin(actor: Agent, what: str) -> None:
    if not actor.is_admin:
        raise PermissionDenied(f"only an admin can {what}")
