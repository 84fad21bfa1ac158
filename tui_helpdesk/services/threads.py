"""Fixing how mail was threaded: split a message off into a new ticket, merge two tickets of one requester.

**Split** (:meth:`ThreadService.split`): a customer message that started a
new matter on an existing ticket becomes the first message of a new ticket
(same desk, its sender the requester). The original entry stays where it was,
marked with where it went, so the old ticket's story still reads; the mail
behind it is re-keyed, so replies to that message thread onto the new ticket.

**Merge** (:meth:`ThreadService.merge`): two tickets of one requester about
one matter. The merged ticket's entries move to the survivor; entry ids keep
their order, so the combined timeline is in the order things happened. The
merged ticket is closed with an event linking the survivor, the survivor
gets one linking back, and ``ticket_merge`` remembers it, so mail that would
thread onto the merged ticket (our signed Message-IDs, a ``[#id]`` tag, a
known Message-ID) lands in the survivor (see ``MailIngest._lookups``).

Both are one transaction each and bump the change feed of both tickets, so
every open terminal follows.
"""

from __future__ import annotations

import logging

from ..adapters.store import threadstore as ths
from ..adapters.store.repository import Store
from ..domain.errors import HelpdeskError, UsageError
from ..domain.events import TicketCreated
from ..domain.model import Agent, EntryKind, Status, TicketType
from ..domain.text import one_line
from .tickets import PREVIEW_CHARS, TicketService

log = logging.getLogger(__name__)


class ThreadService:
    def __init__(self, store: Store, tickets: TicketService):
        self.store = store
        self.tickets = tickets

    # ------------------------------------------------------------------ split

    async def split(self, entry_id: int, *, actor: Agent) -> int:
        """Split customer message *entry_id* off into a new ticket; returns the new ticket's id."""
        async with self.store.write() as tx:
            source = await ths.entry(tx, entry_id)
            if source is None:
                raise HelpdeskError(f"no timeline entry {entry_id}")
            if source.kind != EntryKind.MESSAGE.value:
                raise UsageError(f"entry {entry_id} is a {source.kind}, not a customer message: only those can be split off")
            if source.meta.get("split_to"):
                raise HelpdeskError(f"entry {entry_id} was already split off into #{source.meta['split_to']}")
            old = await tx.get_ticket(source.ticket_id, for_update=True)
            if await ths.count_messages(tx, old.id) < 2:
                raise UsageError(f"entry {entry_id} is the only customer message of #{old.id}: there is nothing to split it from")
            requester_id = source.author_requester_id or old.requester.id
            mail = source.meta.get("mail") if isinstance(source.meta.get("mail"), dict) else {}
            subject = one_line(str(mail.get("subject") or ""), 998) or old.subject
            new_id = await tx.insert_ticket(
                desk_id=old.desk_id, type=old.type, channel=old.channel, subject=subject, requester_id=requester_id,
                language=old.language, actor=actor.name, at=source.created_at)
            meta = dict(source.meta)
            meta["mail"] = {**mail, "threaded_by": "split"}
            meta["split_from"] = {"ticket": old.id, "entry": source.id, "by": actor.login}
            new_entry = await ths.copy_entry(tx, source, new_id, meta, search_extra=subject)
            await ths.set_entry_meta(tx, source.id, {**source.meta, "split_to": new_id})
            await ths.rekey_entry_mail(tx, source.id, new_id, new_entry)
            sender = mail.get("from") if isinstance(mail.get("from"), str) else None
            if sender:
                await ths.add_participant(tx, new_id, sender, "", "requester")
            await tx.update_ticket(new_id, expected_version=None, actor=actor.name,
                                   preview=one_line(source.body, PREVIEW_CHARS), last_message_at=source.created_at)
            who = one_line(source.author_name, 80)
            await self.tickets.event(tx, new_id, f"Split off from #{old.id} by {actor.name}",
                                     {"event": "split_from", "ticket": old.id, "entry": source.id, "by": actor.login})
            await self.tickets.event(tx, old.id, f"Message from {who} split off into #{new_id} by {actor.name}",
                                     {"event": "split_to", "ticket": new_id, "entry": source.id, "by": actor.login})
            await tx.update_ticket(old.id, expected_version=None, actor=actor.name, updated_at=tx.now())
            await tx.record_change(new_id, "created", actor.id)
            await tx.record_change(old.id, "split", actor.id)
            created = TicketCreated(new_id, old.desk_id, "split")
            await self.tickets.events.record(tx, created)
        try:
            await self.tickets.events.publish(created)
        except Exception:  # noqa: BLE001 - routing must not undo the committed split
            log.exception("after-create handling failed for split ticket #%s", new_id)
        return new_id

    # ------------------------------------------------------------------ merge

    async def merge(self, ticket_id: int, into_id: int, *, actor: Agent) -> int:
        """Merge ticket *ticket_id* into *into_id* (see the module docstring); returns *into_id*."""
        if ticket_id == into_id:
            raise UsageError("a ticket cannot be merged into itself")
        async with self.store.write() as tx:
            merged = await ths.merged_into(tx, [ticket_id, into_id])
            if ticket_id in merged:
                raise HelpdeskError(f"#{ticket_id} was already merged into #{merged[ticket_id]}")
            if into_id in merged:
                raise HelpdeskError(f"#{into_id} was merged into #{merged[into_id]}: merge into #{merged[into_id]} instead")
            # Lock in id order, so two agents merging the same pair both ways cannot deadlock.
            first, second = sorted((ticket_id, into_id))
            a = await tx.get_ticket(first, for_update=True)
            b = await tx.get_ticket(second, for_update=True)
            source, target = (a, b) if a.id == ticket_id else (b, a)
            if source.requester.id != target.requester.id:
                raise UsageError(f"#{source.id} and #{target.id} have different requesters "
                                 f"({one_line(source.requester.display, 60)}, {one_line(target.requester.display, 60)}): "
                                 f"only tickets of one requester can be merged")
            if TicketType.LIVE_CHAT in (source.type, target.type):
                raise UsageError("a live chat is tied to its conversation and cannot be merged")
            before = await ths.count_entries(tx, target.id)
            moved = await ths.move_ticket_rows(tx, source.id, target.id)
            await ths.unindex_moved(tx, source.id, moved)
            await ths.index_moved(tx, target.id, before, moved)
            await ths.merge_row(tx, source.id, target.id, actor.login)

            values: dict = {"updated_at": tx.now()}
            if source.last_message_at > target.last_message_at:
                values.update(last_message_at=source.last_message_at, last_message_by=source.last_message_by)
                newest = next((e for e in reversed(moved) if e.kind in ("message", "reply")), None)
                if newest is not None:
                    values["preview"] = one_line(newest.body, PREVIEW_CHARS)
            if not target.status.is_active and source.status.is_active:
                # Work still open on the merged ticket stays open on the survivor.
                values["status"] = source.status
                await self.tickets.status_event(tx, target, source.status, actor, f"merged with #{source.id}")
            await tx.update_ticket(target.id, expected_version=None, actor=actor.name, **values)
            await self.tickets.event(tx, target.id, f"#{source.id} merged into this ticket by {actor.name}",
                                     {"event": "merged", "ticket": source.id, "entries": len(moved), "by": actor.login})

            await self.tickets.event(tx, source.id, f"Merged into #{target.id} by {actor.name}",
                                     {"event": "merged_into", "ticket": target.id, "by": actor.login})
            if source.status.is_active:
                await self.tickets.status_event(tx, source, Status.CLOSED, actor, f"merged into #{target.id}")
                await tx.update_ticket(source.id, expected_version=None, actor=actor.name, status=Status.CLOSED,
                                       updated_at=tx.now())
            else:
                await tx.update_ticket(source.id, expected_version=None, actor=actor.name, updated_at=tx.now())
            await tx.record_change(source.id, "merged", actor.id)
            await tx.record_change(target.id, "merged", actor.id)
        return target.id

    async def links(self, ticket_id: int) -> dict:
        """{"merged_into": id or None, "merged_from": [ids]} for *ticket_id*."""
        async with self.store.read() as tx:
            into = (await ths.merged_into(tx, [ticket_id])).get(ticket_id)
            sources = await ths.merged_from(tx, ticket_id)
        return {"merged_into": into, "merged_from": sources}


__all__ = ["ThreadService"]
