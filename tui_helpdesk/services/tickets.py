"""Ticket use cases: create, customer messages, replies, notes, status, assignment, tags.

Each use case is one write transaction: the decision (SPEC §2 lifecycle) is
made on the ticket as it is inside that transaction, the timeline only grows,
and a change-feed row tells every other terminal. Effects on other use cases
(queueing a reply on its channel, routing a new ticket) are domain events on
the :class:`~.events.EventBus`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..adapters.store.repository import Store, Tx
from ..domain import lifecycle
from ..domain.clock import naive_utc
from ..domain.errors import CannotDeliver, ConflictError, NotFound, UsageError
from ..domain.events import AssigneeChanged, CustomerMessageAdded, ReplyAdded, StatusChanged, TicketCreated
from ..domain.mentions import find_mentions
from ..domain.model import (
    Agent,
    Author,
    EntryKind,
    SearchHit,
    Status,
    Ticket,
    TicketRow,
    TicketType,
    TimelineEntry,
)
from ..domain.text import clean, one_line
from .events import EventBus

PREVIEW_CHARS = 200
MAX_BODY = 1_000_000
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class WriteResult:
    ticket: Ticket
    entry: TimelineEntry | None
    # Set when something happened on the ticket since the writer last looked,
    # e.g. "Ann replied meanwhile": the write still landed, nothing was lost.
    notice: str | None = None
    # A customer message past the reopen window lands on a new linked ticket.
    follow_up: bool = False
    unknown_mentions: tuple[str, ...] = field(default=())


def _body(text: str, what: str = "body") -> str:
    text = clean(text)
    if not text.strip():
        raise UsageError(f"the {what} is empty")
    if len(text) > MAX_BODY:
        raise UsageError(f"the {what} is longer than {MAX_BODY:,} characters")
    return text


# Asked inside the reply's transaction, before anything is written: why the
# ticket's channel cannot carry a reply now, or None when it can.
DeliveryCheck = Callable[[Tx, Ticket], Awaitable[str | None]]


class TicketService:
    def __init__(self, store: Store, events: EventBus | None = None):
        self.store = store
        self.events = events or EventBus()
        self.delivery_check: DeliveryCheck | None = None

    # ----------------------------------------------------------------- reading

    async def get(self, ticket_id: int) -> Ticket:
        async with self.store.read(quick=True) as tx:
            return await tx.get_ticket(ticket_id)

    async def timeline(self, ticket_id: int, *, after_id: int = 0, limit: int | None = None) -> list[TimelineEntry]:
        async with self.store.read() as tx:
            await tx.get_ticket(ticket_id)
            return await tx.timeline(ticket_id, after_id=after_id, limit=limit)

    async def timeline_tail(self, ticket_id: int, limit: int = 100) -> tuple[list[TimelineEntry], int]:
        """The newest *limit* entries (oldest first) and the total count."""
        async with self.store.read() as tx:
            return await tx.timeline_tail(ticket_id, limit), await tx.count_entries(ticket_id)

    async def timeline_before(self, ticket_id: int, before_id: int, limit: int = 100) -> list[TimelineEntry]:
        async with self.store.read() as tx:
            return await tx.timeline_before(ticket_id, before_id, limit)

    async def previous_tickets(self, ticket: Ticket, limit: int = 20) -> list[TicketRow]:
        async with self.store.read() as tx:
            return await tx.previous_tickets(ticket.requester.id, exclude=ticket.id, limit=limit)

    async def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        if not text.strip():
            raise UsageError("search for what? (give some words)")
        async with self.store.read() as tx:
            return await tx.search(text, limit=limit)

    async def last_entry_id(self, ticket_id: int) -> int:
        async with self.store.read() as tx:
            return await tx.last_entry_id(ticket_id)

    async def collisions(self, ticket_id: int, since_entry_id: int, me: Agent) -> list[TimelineEntry]:
        """Customer messages and other agents' replies since *since_entry_id*."""
        async with self.store.read() as tx:
            entries = await tx.entries_since(ticket_id, since_entry_id, (EntryKind.MESSAGE, EntryKind.REPLY))
        return [e for e in entries if e.kind is EntryKind.MESSAGE or e.author_agent_id != me.id]

    # ---------------------------------------------------------------- creating

    async def create(
        self, *, subject: str, body: str, requester_email: str | None = None, requester_name: str = "",
        channel: str = "api", type: TicketType = TicketType.API, desk: str | int | None = None,
        language: str | None = None, chatbot_user_id: str | None = None, conversation_id: str | None = None,
        summary: str | None = None, actor: Agent | None = None, at: datetime | None = None,
        meta: dict | None = None, assignee: Agent | None = None, status: Status = Status.NEW,
        tags: Sequence[str] = (),
    ) -> Ticket:
        subject = one_line(subject)
        if not subject:
            raise UsageError("a ticket needs a subject")
        if len(subject) > 998:
            raise UsageError("the subject is longer than 998 characters")
        body = _body(body)
        if requester_email is not None:
            requester_email = _email(requester_email)
        elif not chatbot_user_id:
            raise UsageError("a ticket needs a requester (an email address)")
        async with self.store.write(quick=True) as tx:
            desk_row = await tx.get_desk(desk)
            ticket_id = await self._create_in(
                tx, desk_id=desk_row.id, subject=subject, body=body, requester_email=requester_email,
                requester_name=one_line(requester_name, 300), channel=channel, type=type, language=language,
                chatbot_user_id=chatbot_user_id, conversation_id=conversation_id, summary=summary,
                actor=actor, at=at, meta=meta, assignee=assignee, status=status, tags=tags,
            )
            ticket = await tx.get_ticket(ticket_id)
            created = TicketCreated(ticket.id, ticket.desk_id, "create")
            await self.events.record(tx, created)
        await self.events.publish(created)
        return ticket

    async def _create_in(
        self, tx: Tx, *, desk_id: int, subject: str, body: str, requester_email: str | None, requester_name: str,
        channel: str, type: TicketType, language: str | None, chatbot_user_id: str | None,
        conversation_id: str | None, summary: str | None, actor: Agent | None, at: datetime | None,
        meta: dict | None, assignee: Agent | None = None, status: Status = Status.NEW,
        tags: Sequence[str] = (), follow_up_of: int | None = None,
    ) -> int:
        requester = await tx.find_or_create_requester(
            email=requester_email, name=requester_name, language=language, chatbot_user_id=chatbot_user_id
        )
        # The ticket is written with its first message's preview and time (the same *at*):
        # one INSERT, no UPDATE after the entry.
        ticket_id = await tx.insert_ticket(
            desk_id=desk_id, type=type, channel=channel.lower(), subject=subject, requester_id=requester.id,
            conversation_id=conversation_id, language=language or requester.language, summary=summary,
            follow_up_of=follow_up_of, at=at, actor=requester.display,
            status=status, assignee_id=assignee.id if assignee else None, preview=one_line(body, PREVIEW_CHARS),
        )
        await tx.insert_entry(
            ticket_id=ticket_id, kind=EntryKind.MESSAGE, body=body, author_name=requester.display,
            author_requester_id=requester.id, meta=meta, search_extra=subject, at=at,
        )
        if follow_up_of:
            await self.event(tx, ticket_id, f"Follow-up of #{follow_up_of}", {"event": "follow_up", "of": follow_up_of})
        if tags:
            await tx.add_new_tags(ticket_id, _tags(tags))
        await tx.record_change(ticket_id, "created", actor.id if actor else None)
        return ticket_id

    # -------------------------------------------------------- customer message

    async def add_customer_message(
        self, ticket_id: int, body: str, *, at: datetime | None = None, meta: dict | None = None,
    ) -> WriteResult:
        """A customer wrote on *ticket_id*: append, move status, or start a follow-up."""
        body = _body(body)
        async with self.store.write(quick=True) as tx:
            ticket = await tx.get_ticket(ticket_id, for_update=True)
            desk = await tx.get_desk(ticket.desk_id)
            now = tx.now()
            outcome = lifecycle.after_customer_message(
                ticket.status, closed_at=await tx.ticket_closed_at(ticket_id), now=now, reopen_days=desk.reopen_days
            )
            if outcome.follow_up:
                new_id = await self._create_in(
                    tx, desk_id=ticket.desk_id, subject=ticket.subject, body=body,
                    requester_email=ticket.requester.email, requester_name=ticket.requester.name,
                    channel=ticket.channel, type=ticket.type, language=ticket.language,
                    chatbot_user_id=ticket.requester.chatbot_user_id, conversation_id=ticket.conversation_id,
                    summary=None, actor=None, at=at, meta=meta, follow_up_of=ticket_id,
                )
                await self.event(tx, ticket_id, f"Customer wrote again after the reopen window: follow-up #{new_id}",
                                 {"event": "follow_up_created", "ticket": new_id})
                await tx.record_change(ticket_id, "follow_up", None)
                new_ticket = await tx.get_ticket(new_id)
                entries = await tx.timeline(new_id, limit=1)
                result = WriteResult(new_ticket, entries[0] if entries else None, follow_up=True)
                event = TicketCreated(new_id, new_ticket.desk_id, "follow_up")
            else:
                entry = await tx.insert_entry(
                    ticket_id=ticket_id, kind=EntryKind.MESSAGE, body=body, author_name=ticket.requester.display,
                    author_requester_id=ticket.requester.id, meta=meta, at=at,
                )
                values = dict(preview=one_line(body, PREVIEW_CHARS), last_message_at=entry.created_at,
                              last_message_by=Author.CUSTOMER, updated_at=entry.created_at)
                if outcome.new_status and outcome.new_status is not ticket.status:
                    values["status"] = outcome.new_status
                    values["closed_at"] = None
                    reason = "customer wrote again; reopened" if outcome.reopened else "customer replied"
                    await self.status_event(tx, ticket, outcome.new_status, None, reason)
                await tx.update_ticket(ticket_id, expected_version=None, actor=ticket.requester.display, **values)
                await tx.record_change(ticket_id, "message", None)
                result = WriteResult(await tx.get_ticket(ticket_id), entry)
                event = CustomerMessageAdded(ticket_id, entry.id)
            await self.events.record(tx, event)
        await self.events.publish(event)
        return result

    # -------------------------------------------------------- agents' writing

    async def start_email(self, *, to: str, subject: str, body: str, actor: Agent, name: str = "",
                          cc: Sequence[str] = (), desk: str | int | None = None) -> WriteResult:
        """An agent writes first: a new email ticket whose first entry is the agent's message to *to*.

        The ticket is the agent's, On customer, and the message goes out as
        any reply does (the outbox); a desk that cannot send email refuses it
        before anything is written.
        """
        subject = one_line(subject)
        if not subject:
            raise UsageError("a ticket needs a subject")
        body = _body(body, "message")
        to, cc = _email(to), [_email(a) for a in cc if a.strip()]
        async with self.store.write() as tx:
            desk_row = await tx.get_desk(desk)
            requester = await tx.find_or_create_requester(email=to, name=one_line(name, 300), language=None,
                                                          chatbot_user_id=None)
            ticket_id = await tx.insert_ticket(
                desk_id=desk_row.id, type=TicketType.EMAIL, channel="email", subject=subject,
                requester_id=requester.id, conversation_id=None, language=requester.language, summary=None,
                follow_up_of=None, at=None, actor=actor.name, status=Status.ON_CUSTOMER, assignee_id=actor.id)
            ticket = await tx.get_ticket(ticket_id)
            if self.delivery_check is not None and (reason := await self.delivery_check(tx, ticket)):
                raise CannotDeliver(ticket_id, reason)  # the transaction rolls back: no ticket
            entry = await tx.insert_entry(ticket_id=ticket_id, kind=EntryKind.REPLY, body=body,
                                          author_name=actor.name, author_agent_id=actor.id, search_extra=subject,
                                          meta={"cc": cc} if cc else None)
            await tx.update_ticket(ticket_id, expected_version=None, actor=actor.name,
                                   preview=one_line(body, PREVIEW_CHARS), last_message_at=entry.created_at,
                                   last_message_by=Author.AGENT, updated_at=entry.created_at)
            await self.event(tx, ticket_id, f"Started by {actor.name}: an email to {to}",
                             {"event": "started", "by": actor.login, "to": to, "cc": cc})
            await tx.record_change(ticket_id, "created", actor.id)
            ticket = await tx.get_ticket(ticket_id)
            created = TicketCreated(ticket.id, ticket.desk_id, "start")
            await self.events.record(tx, created)
            await self.events.record(tx, ReplyAdded(ticket, entry, actor))
        await self.events.publish(created)
        return WriteResult(await self.get(ticket_id), entry)

    async def reply(self, ticket_id: int, body: str, *, actor: Agent, seen_entry_id: int | None = None,
                    cc: Sequence[str] | None = None, original: str | None = None,
                    original_language: str | None = None) -> WriteResult:
        """An agent's reply to the customer. Moves New / On you to On customer.

        A reply that lands stays (the timeline is append-only); when a customer
        message or another agent's reply arrived after ``seen_entry_id``, the
        result says so. A ticket whose channel cannot deliver it refuses the
        reply with :class:`CannotDeliver`, before anything is written, so the
        status never moves for a reply the customer will not get. A reply sent
        translated keeps the agent's own text as *original* (in the entry's
        meta, with the language it was translated into): both stay visible.
        """
        body = _body(body, "reply")
        meta: dict = {}
        if cc is not None:
            meta["cc"] = [_email(a) for a in cc if a.strip()]
        if original and original.strip() and clean(original).strip() != body.strip():
            meta["original"] = {"text": clean(original).strip(), "language": original_language or None}
        async with self.store.write() as tx:
            ticket = await tx.get_ticket(ticket_id, for_update=True)
            if self.delivery_check is not None:
                reason = await self.delivery_check(tx, ticket)
                if reason:
                    raise CannotDeliver(ticket_id, reason)
            notice = await self._meanwhile(tx, ticket_id, seen_entry_id, actor)
            entry = await tx.insert_entry(
                ticket_id=ticket_id, kind=EntryKind.REPLY, body=body, author_name=actor.name, author_agent_id=actor.id,
                meta=meta or None,
            )
            values = dict(preview=one_line(body, PREVIEW_CHARS), last_message_at=entry.created_at,
                          last_message_by=Author.AGENT, updated_at=entry.created_at)
            new_status = lifecycle.after_agent_reply(ticket.status)
            if new_status:
                values["status"] = new_status
                await self.status_event(tx, ticket, new_status, None, f"{actor.name} replied")
            await tx.update_ticket(ticket_id, expected_version=None, actor=actor.name, **values)
            await self.events.record(tx, ReplyAdded(ticket, entry, actor))
            await tx.delete_draft(actor.id, ticket_id)
            await tx.record_change(ticket_id, "reply", actor.id)
            return WriteResult(await tx.get_ticket(ticket_id), entry, notice)

    async def note(self, ticket_id: int, body: str, *, actor: Agent) -> WriteResult:
        """An internal note; @login mentions notify those agents. Never moves status."""
        body = _body(body, "note")
        async with self.store.write() as tx:
            ticket = await tx.get_ticket(ticket_id, for_update=True)
            logins = find_mentions(body)
            mentioned: list[Agent] = []
            unknown: list[str] = []
            for login in logins:
                agent = await tx.find_agent(login)
                (mentioned.append(agent) if agent else unknown.append(login))
            entry = await tx.insert_entry(
                ticket_id=ticket_id, kind=EntryKind.NOTE, body=body, author_name=actor.name, author_agent_id=actor.id,
                meta={"mentions": [a.login for a in mentioned]} if mentioned else None,
            )
            await tx.insert_mentions(entry.id, ticket_id, [a.id for a in mentioned if a.id != actor.id])
            await tx.update_ticket(ticket_id, expected_version=None, actor=actor.name, updated_at=entry.created_at)
            await tx.delete_draft(actor.id, ticket_id)
            await tx.record_change(ticket_id, "note", actor.id)
            notice = f"no agent named: {', '.join('@' + u for u in unknown)}" if unknown else None
            return WriteResult(await tx.get_ticket(ticket_id), entry, notice, unknown_mentions=tuple(unknown))

    async def set_status(
        self, ticket_id: int, status: Status | str, *, actor: Agent, expected_version: int | None = None,
        reason: str | None = None, hold_until: datetime | None = None,
    ) -> Ticket:
        """Set a status by hand; with ``expected_version`` a lost race raises ConflictError.

        *hold_until* (naive UTC, On hold only) is when the ticket comes back to
        On you by itself (:meth:`wake_held`); setting it on a ticket already On
        hold moves the time.
        """
        status = _status(status)
        if hold_until is not None and status is not Status.ON_HOLD:
            raise UsageError("a time to come back ('until') is for On hold only")
        reason = (one_line(reason, 200) or None) if reason else None
        async with self.store.write() as tx:
            if hold_until is not None and hold_until <= tx.now():
                raise UsageError("the time to come back is not in the future")
            ticket = await tx.get_ticket(ticket_id, for_update=True)
            if ticket.status is status and (status is not Status.ON_HOLD or hold_until in (None, ticket.hold_until)):
                if expected_version is not None and expected_version != ticket.version:
                    raise ConflictError(ticket_id, ticket.updated_by)
                return ticket
            await tx.update_ticket(ticket_id, expected_version=expected_version, actor=actor.name,
                                   status=status, updated_at=tx.now(), closed_at=None if status.is_active else tx.now(),
                                   **({"hold_until": hold_until} if status is Status.ON_HOLD else {}))
            if ticket.status is status:  # only the time moved
                await self.event(tx, ticket_id, f"On hold until {_utc(hold_until)}, set by {actor.name}"
                                 + (f" ({reason})" if reason else ""),
                                 {"event": "hold", "until": hold_until.isoformat(), "by": actor.login, "reason": reason})
            else:
                until = f"until {_utc(hold_until)}" if hold_until else None
                await self.status_event(tx, ticket, status, actor, "; ".join(p for p in (reason, until) if p) or None,
                                        until=hold_until)
            await tx.record_change(ticket_id, "status", actor.id)
            return await tx.get_ticket(ticket_id)

    async def wake_held(self) -> int:
        """Bring back to On you every ticket whose "On hold until" has come; returns how many.

        Any process that looks does it (the app every few seconds, ``helpdesk
        sync``, the CLI before it reads), so a hold ends on time even when no
        app is open; two processes at once wake each ticket once.
        """
        async with self.store.read() as tx:
            due = await tx.held_until_due(tx.now())
        woke = 0
        for ticket_id in due:
            async with self.store.write() as tx:
                ticket = await tx.get_ticket(ticket_id, for_update=True)
                if ticket.status is not Status.ON_HOLD or ticket.hold_until is None or ticket.hold_until > tx.now():
                    continue  # woken, or put back on hold, by another process meanwhile
                await tx.update_ticket(ticket_id, expected_version=ticket.version, actor=SYSTEM,
                                       status=Status.ON_YOU, updated_at=tx.now())
                await self.status_event(tx, ticket, Status.ON_YOU, None, f"on hold until {_utc(ticket.hold_until)}")
                await tx.record_change(ticket_id, "status", None)
                woke += 1
        return woke

    async def assign(
        self, ticket_id: int, login: str | None, *, actor: Agent | None, expected_version: int | None = None,
        reason: str | None = None,
    ) -> Ticket:
        """Assign to *login* (None = unassign). Keeps the status; manual assignment ignores caps."""
        async with self.store.write() as tx:
            return await self.assign_in(tx, ticket_id, login, actor=actor, expected_version=expected_version, reason=reason)

    async def assign_in(
        self, tx: Tx, ticket_id: int, login: str | None, *, actor: Agent | None,
        expected_version: int | None = None, reason: str | None = None,
    ) -> Ticket:
        ticket = await tx.get_ticket(ticket_id, for_update=True)
        agent = None
        if login is not None:
            agent = await tx.find_agent(login)
            if agent is None:
                raise NotFound(f"no agent '{login}'")
            if not agent.active:
                raise UsageError(f"agent '{agent.login}' is deactivated; an admin can bring them back with: "
                                 f"helpdesk agent activate {agent.login}")
        if (agent.id if agent else None) == (ticket.assignee.id if ticket.assignee else None):
            if expected_version is not None and expected_version != ticket.version:
                raise ConflictError(ticket_id, ticket.updated_by)
            return ticket
        await tx.update_ticket(ticket_id, expected_version=expected_version, actor=actor.name if actor else SYSTEM,
                               assignee_id=agent.id if agent else None, updated_at=tx.now())
        if agent is not None:
            await tx.update_agent(agent.id, last_assigned_at=tx.now())
        who = f" by {actor.name}" if actor else " automatically"
        what = f"Assigned to {agent.name}" if agent else "Unassigned"
        if agent and actor and agent.id == actor.id:
            what, who = f"Taken by {agent.name}", ""
        why = f" ({reason})" if reason else ""
        await self.event(tx, ticket_id, f"{what}{who}{why}", {
            "event": "assign", "to": agent.login if agent else None,
            "from": ticket.assignee.login if ticket.assignee else None,
            "by": actor.login if actor else None, "reason": reason,
        })
        await self.events.record(tx, AssigneeChanged(ticket_id, ticket.assignee.id if ticket.assignee else None,
                                                     agent.id if agent else None, actor.id if actor else None))
        await tx.record_change(ticket_id, "assign", actor.id if actor else None)
        return await tx.get_ticket(ticket_id)

    async def change_tags(self, ticket_id: int, *, add: Iterable[str] = (), remove: Iterable[str] = (), actor: Agent) -> Ticket:
        add, remove = _tags(add), _tags(remove)
        async with self.store.write() as tx:
            ticket = await tx.get_ticket(ticket_id, for_update=True)
            before = set(ticket.tags)
            after = await tx.change_tags(ticket_id, add, remove)
            if set(after) != before:
                added, removed = sorted(set(after) - before), sorted(before - set(after))
                parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"] if removed else [])
                await self.event(tx, ticket_id, f"Tags {' and '.join(parts)} by {actor.name}",
                                 {"event": "tags", "added": added, "removed": removed, "by": actor.login})
                await tx.update_ticket(ticket_id, expected_version=None, actor=actor.name, updated_at=tx.now())
                await tx.record_change(ticket_id, "tags", actor.id)
            return await tx.get_ticket(ticket_id)

    async def snapshot(self, ticket_ids: Sequence[int]) -> list[Snapshot]:
        """What an undo would put back: each ticket's status, hold, assignee, tags and version."""
        async with self.store.read() as tx:
            out = []
            for ticket_id in ticket_ids:
                t = await tx.get_ticket(ticket_id)
                out.append(Snapshot(t.id, t.status, t.hold_until, t.assignee.login if t.assignee else None, t.tags,
                                    t.version))
            return out

    async def undo(self, before: Sequence[Snapshot], after: Sequence[Snapshot], *, actor: Agent) -> tuple[int, list[str]]:
        """Put tickets back as *before*, where nobody changed them since *after*; returns (undone, why not).

        A ticket someone else changed in between is left as it is and named,
        so an undo never overwrites a teammate's work.
        """
        now_versions = {s.ticket_id: s for s in after}
        undone, skipped = 0, []
        for old in before:
            new = now_versions.get(old.ticket_id)
            if new is None or new == old:
                continue
            try:
                if (old.status, old.hold_until) != (new.status, new.hold_until):
                    until = old.hold_until if old.hold_until and old.hold_until > naive_utc(self.store.clock()) else None
                    await self.set_status(old.ticket_id, old.status, actor=actor, reason="undo",
                                          hold_until=until if old.status is Status.ON_HOLD else None,
                                          expected_version=new.version)
                    expected = None
                else:
                    expected = new.version
                if old.assignee != new.assignee:
                    await self.assign(old.ticket_id, old.assignee, actor=actor, reason="undo", expected_version=expected)
                    expected = None
                if old.tags != new.tags:
                    await self.change_tags(old.ticket_id, add=set(old.tags) - set(new.tags),
                                           remove=set(new.tags) - set(old.tags), actor=actor)
                undone += 1
            except ConflictError as exc:
                skipped.append(f"#{old.ticket_id}: changed by {exc.changed_by or 'someone else'} meanwhile")
        return undone, skipped

    async def known_tags(self) -> list[str]:
        async with self.store.read() as tx:
            return await tx.known_tags()

    async def bulk(self, ticket_ids: Sequence[int], *, actor: Agent, status: Status | str | None = None,
                   assignee: str | None | type(...) = ..., add_tags: Iterable[str] = (),
                   remove_tags: Iterable[str] = (), reason: str | None = None,
                   hold_until: datetime | None = None) -> int:
        """Apply one change to many tickets; returns how many changed."""
        changed = 0
        # "(bulk)" says the change was one of several; a single ticket is an ordinary change.
        why = "; ".join(p for p in (reason, "bulk" if len(ticket_ids) > 1 else None) if p) or None
        for ticket_id in ticket_ids:
            if status is not None:
                before = await self.get(ticket_id)
                after = await self.set_status(ticket_id, status, actor=actor, reason=why, hold_until=hold_until)
                changed += after.version != before.version
            if assignee is not ...:
                await self.assign(ticket_id, assignee, actor=actor, reason="bulk" if len(ticket_ids) > 1 else None)
                changed += 1
            if add_tags or remove_tags:
                await self.change_tags(ticket_id, add=add_tags, remove=remove_tags, actor=actor)
                changed += 1
        return changed

    # ----------------------------------------------------------------- events

    async def add_event(self, ticket_id: int, text: str, meta: dict) -> TimelineEntry:
        async with self.store.write() as tx:
            entry = await self.event(tx, ticket_id, text, meta)
            await tx.record_change(ticket_id, "event", None)
            return entry

    async def event(self, tx: Tx, ticket_id: int, text: str, meta: dict) -> TimelineEntry:
        """A system event on the timeline, inside the caller's transaction."""
        return await tx.insert_entry(ticket_id=ticket_id, kind=EntryKind.EVENT, body=text, author_name=SYSTEM, meta=meta)

    async def status_event(self, tx: Tx, ticket: Ticket, new: Status, actor: Agent | None, reason: str | None,
                           *, until: datetime | None = None) -> None:
        """The timeline event of *ticket* moving to *new*, and its StatusChanged, inside the caller's transaction.

        The caller updates the ticket's row itself (with its other changes).
        """
        text = lifecycle.status_event_text(ticket.status, new, by=actor.name if actor else None, reason=reason)
        meta = {"event": "status", "from": ticket.status.value, "to": new.value,
                "by": actor.login if actor else None, "manual": actor is not None, "reason": reason}
        if until is not None:
            meta["until"] = until.isoformat()
        await self.event(tx, ticket.id, text, meta)
        await self.events.record(tx, StatusChanged(ticket.id, ticket.status, new, actor.id if actor else None))

    async def _meanwhile(self, tx: Tx, ticket_id: int, seen_entry_id: int | None, actor: Agent) -> str | None:
        if seen_entry_id is None:
            return None
        entries = await tx.entries_since(ticket_id, seen_entry_id, (EntryKind.MESSAGE, EntryKind.REPLY))
        others = [e for e in entries if e.kind is EntryKind.MESSAGE or e.author_agent_id != actor.id]
        if not others:
            return None
        names = ", ".join(dict.fromkeys(e.author for e in others))
        return f"changed by {names} meanwhile: {len(others)} new message(s) arrived before yours was sent"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A ticket's undoable state at one moment (see :meth:`TicketService.undo`)."""

    ticket_id: int
    status: Status
    hold_until: datetime | None
    assignee: str | None
    tags: tuple[str, ...]
    version: int


def _utc(at: datetime) -> str:
    """A naive-UTC moment for a timeline event every teammate reads, wherever they are."""
    return f"{at:%a %d %b %Y %H:%M} UTC"


def _status(value: Status | str) -> Status:
    if isinstance(value, Status):
        return value
    try:
        return Status.parse(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _email(value: str) -> str:
    value = one_line(value).strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or " " in value or len(value) > 320:
        raise UsageError(f"'{value}' is not an email address")
    return value


def _tags(tags: Iterable[str]) -> list[str]:
    out = []
    for tag in tags:
        tag = one_line(tag).strip().lower().replace(" ", "-")
        if tag:
            if len(tag) > 64:
                raise UsageError(f"tag '{tag[:20]}…' is longer than 64 characters")
            out.append(tag)
    return out
