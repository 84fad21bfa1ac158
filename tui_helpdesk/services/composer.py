"""The composer's use cases: drafts, presence, the collision check, canned replies.

Everything here is kept in the shared database so it works across terminals
and survives quitting:

- **Drafts** — one per agent and ticket (``draft`` table): the unsent text, its
  mode (reply or note) and the ticket's last entry id when the draft began. A
  draft outlives closing the ticket and quitting the app; sending deletes it.
- **Presence** — who is viewing or typing on a ticket (``presence`` table). Each
  open ticket screen calls :meth:`ComposerService.heartbeat` every few seconds;
  a row older than :data:`PRESENCE_TTL` no longer counts, so a crashed terminal
  disappears on its own.
- **Collision check** — before sending, :meth:`ComposerService.collisions`
  lists customer messages and other agents' replies that arrived after the
  draft began, so the agent can read them first.
- **Canned replies** — read from the config file, ``[[canned]]`` tables with a
  ``name`` and a ``body`` (see :func:`load_canned`); the body may use
  ``{requester}``, ``{requester_first}``, ``{agent}``, ``{agent_first}``,
  ``{ticket}`` and ``{subject}``. Keeping them in the config lets a team keep
  them in git next to its shared views. With none configured, a few
  :data:`DEFAULT_CANNED` are offered.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ..adapters.store.repository import Store
from ..domain.drafts import Draft
from ..domain.errors import ConfigError
from ..domain.model import Agent, EntryKind, Ticket, TicketRow, TimelineEntry
from ..domain.presence import Here
from ..domain.text import clean, one_line

PRESENCE_TTL = timedelta(seconds=15)
"""A presence row older than this no longer counts (the terminal went away)."""

HEARTBEAT_SECONDS = 5.0
"""How often an open ticket screen renews its presence (well inside the TTL)."""

MODES = ("reply", "note")


@dataclass(frozen=True, slots=True)
class FirstView:
    """What the ticket screen shows when it opens, read in one transaction."""

    seq: int  # the change feed's position before the reads: follow live changes from here
    ticket: Ticket
    entries: list[TimelineEntry]  # the newest page, oldest first
    total: int  # entries on the ticket
    previous: list[TicketRow]  # the requester's other tickets
    draft: Draft | None


@dataclass(frozen=True, slots=True)
class CannedReply:
    name: str
    body: str


DEFAULT_CANNED: tuple[CannedReply, ...] = (
    CannedReply("Thanks, looking into it", "Hi {requester_first},\n\nthanks for writing in. I'm looking into this now and will get back to you shortly.\n\n{agent_first}"),
    CannedReply("Need more details", "Hi {requester_first},\n\ncould you tell me a little more: what you did, what you expected, and what happened instead? A screenshot helps too.\n\n{agent_first}"),
    CannedReply("Resolved, closing", "Hi {requester_first},\n\nthis should be sorted now. If anything is still not right, just reply to this message and the ticket reopens.\n\n{agent_first}"),
)

_PLACEHOLDER = re.compile(r"\{(requester|requester_first|agent|agent_first|ticket|subject)\}")


def load_canned(config_file: Path | None) -> list[CannedReply]:
    """Canned replies from ``[[canned]]`` in *config_file*; the defaults when it has none.

    ::

        [[canned]]
        name = "Refund on its way"
        body = '''Hi {requester_first},
        the refund is on its way ...'''
    """
    if config_file is None or not config_file.exists():
        return list(DEFAULT_CANNED)
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{config_file}: cannot read canned replies: {exc}") from None
    items = data.get("canned")
    if not items:
        return list(DEFAULT_CANNED)
    if not isinstance(items, list):
        raise ConfigError(f"{config_file}: 'canned' must be a list of tables ([[canned]])")
    out = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("body"), str) or not item["body"].strip():
            raise ConfigError(f"{config_file}: canned reply {i} needs a 'body'")
        name = one_line(str(item.get("name") or item["body"]), 80)
        out.append(CannedReply(name, clean(item["body"])))
    return out


def expand_canned(reply: CannedReply, ticket: Ticket, me: Agent) -> str:
    """The canned body with its placeholders filled in; other braces stay as they are."""
    requester = one_line(ticket.requester.name) or one_line(ticket.requester.display)
    values = {
        "requester": requester,
        "requester_first": requester.split()[0] if ticket.requester.name.strip() else "there",
        "agent": me.name,
        "agent_first": me.name.split()[0] if me.name.strip() else me.login,
        "ticket": ticket.ref,
        "subject": one_line(ticket.subject),
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], reply.body)


def _draft(row) -> Draft | None:
    if row is None:
        return None
    mode = row.mode if row.mode in MODES else "reply"
    return Draft(row.ticket_id, mode, row.body, row.base_entry_id, row.updated_at)


class ComposerService:
    def __init__(self, store: Store, canned: list[CannedReply] | tuple[CannedReply, ...] | None = None):
        self.store = store
        self.canned: list[CannedReply] = list(DEFAULT_CANNED if canned is None else canned)

    # ----------------------------------------------------------------- opening

    async def first_view(self, me: Agent, ticket_id: int, page: int, previous: int = 20) -> FirstView:
        """The ticket, its newest *page* entries, the requester's other tickets and my draft.

        One read transaction (one snapshot, one round of hand-offs to the
        database) instead of one per question.
        """
        async with self.store.read() as tx:
            seq = await tx.latest_seq()
            ticket = await tx.get_ticket(ticket_id)
            entries = await tx.timeline_tail(ticket_id, page)
            total = await tx.count_entries(ticket_id)
            others = await tx.previous_tickets(ticket.requester.id, exclude=ticket.id, limit=previous)
            row = await tx.get_draft(me.id, ticket_id)
        return FirstView(seq, ticket, entries, total, others, _draft(row))

    async def open(self, me: Agent, ticket_id: int) -> int:
        """*me* opened the ticket: mark my mentions on it read and say I am here.

        Returns how many mentions were marked read. When some were, a change is
        recorded so every terminal's Mentions count drops.
        """
        async with self.store.write() as tx:
            marked = await tx.mark_mentions_read(ticket_id, me.id)
            await tx.touch_presence(me.id, ticket_id, False)
            if marked:
                await tx.record_change(ticket_id, "mentions_read", me.id)
        return marked

    # ------------------------------------------------------------------ drafts

    async def load_draft(self, me: Agent, ticket_id: int) -> Draft | None:
        async with self.store.read() as tx:
            return _draft(await tx.get_draft(me.id, ticket_id))

    async def save_draft(self, me: Agent, ticket_id: int, mode: str, body: str, base_entry_id: int) -> None:
        """Keep the unsent text; an empty body deletes the draft."""
        if mode not in MODES:
            raise ValueError(f"unknown composer mode {mode!r}")
        async with self.store.write() as tx:
            await tx.save_draft(me.id, ticket_id, mode, body, base_entry_id)

    async def delete_draft(self, me: Agent, ticket_id: int) -> None:
        async with self.store.write() as tx:
            await tx.delete_draft(me.id, ticket_id)

    # ---------------------------------------------------------------- presence

    async def heartbeat(self, me: Agent, ticket_id: int, *, typing: bool = False, announce: bool = False) -> None:
        """I am on *ticket_id* (and typing, or not). An agent is on one ticket at a time.

        *announce* (typing started or stopped) also writes a "presence" change to
        the feed, so the other terminals on the ticket show it at their next read
        of the feed instead of at their next presence read.
        """
        async with self.store.write() as tx:
            await tx.touch_presence(me.id, ticket_id, typing)
            if announce:
                await tx.record_change(ticket_id, "presence", me.id)

    async def leave(self, me: Agent) -> None:
        """I closed the ticket: others stop seeing me at once instead of after the TTL."""
        async with self.store.write() as tx:
            await tx.touch_presence(me.id, 0, False)

    async def others_here(self, me: Agent, ticket_id: int, *, max_age: timedelta = PRESENCE_TTL) -> list[Here]:
        """Other agents viewing or typing on *ticket_id*, typing first, then by name."""
        async with self.store.read() as tx:
            rows = await tx.presence(ticket_id, max_age=max_age)
        here = [Here(r.agent_id, r.agent_name, bool(r.typing), r.seen_at) for r in rows if r.agent_id != me.id]
        return sorted(here, key=lambda h: (not h.typing, h.name.lower()))

    # --------------------------------------------------------------- collision

    async def collisions(self, me: Agent, ticket_id: int, since_entry_id: int) -> list[TimelineEntry]:
        """Customer messages and other agents' replies after *since_entry_id*.

        Notes and events do not count: they never reach the customer, so a
        reply written without them is not contradicted by them.
        """
        async with self.store.read() as tx:
            entries = await tx.entries_since(ticket_id, since_entry_id, (EntryKind.MESSAGE, EntryKind.REPLY))
        return [e for e in entries if e.kind is EntryKind.MESSAGE or e.author_agent_id != me.id]

    # ------------------------------------------------------------------ canned

    def canned_for(self, ticket: Ticket, me: Agent) -> list[tuple[CannedReply, str]]:
        """Each canned reply with its body filled in for *ticket*."""
        return [(c, expand_canned(c, ticket, me)) for c in self.canned]
