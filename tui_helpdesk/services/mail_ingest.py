"""Inbound mail into tickets: one fetched batch, looked up, planned and written in one transaction.

In ONE write transaction: the message keys (account, mailbox, UIDVALIDITY,
UID), the tickets and timeline entries they produce, participants, bounce
results, set-aside messages, the change feed and the mailbox's new high UID.
A crash before the commit leaves nothing, after it everything, so a re-run
never duplicates and never loses a message. The syncer (mail_sync) flags or
moves the messages only after that commit.

Inside it: one round of look-ups for the whole batch, the decisions
(threading, requester, bounce, set aside: :mod:`.mail_plan`), then a handful
of bulk statements that write the plan.

Auto-replies, list mail and bounces never trigger anything automatic; a
bounce marks the outbound message failed and shows an event on its ticket;
our own outgoing mail coming back is never a customer message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy.exc import InterfaceError, OperationalError

from ..domain.mail import loops, msgid
from ..domain.mail.compose import build_reply, render_signature
from ..adapters.store import mailstore as ms
from ..adapters.store import threadstore as ths
from ..adapters.store.repository import Store, Tx
from ..domain.errors import HelpdeskError
from ..domain.events import TicketCreated
from ..domain.mail.transport import Incoming
from ..domain.model import Author
from ..domain.text import one_line
from ..settings import DeskSettings
from .mail_plan import MAX_REFS, BatchPlan, BatchPlanner, Lookups, resolve
from .mail_sync import BatchResult, LeaseLost
from .ports import AttachmentStorage
from .tickets import TicketService

if TYPE_CHECKING:
    from .mail import MailAddress

log = logging.getLogger(__name__)


# -------------------------------------------------------------------- ingest


class MailIngest:
    """The inbound half of :class:`~tui_helpdesk.services.mail.MailService`, which holds one.

    Its dependencies come from MailService: *secret* (the Message-ID key,
    inside a transaction), *desk_id* (a desk's database id, cached),
    *desks_by_id* (the settings of the desks seen so far, shared with
    MailService's cache) and *notify* (wakes this process's outbox worker).
    """

    def __init__(self, store: Store, tickets: TicketService, attachments: AttachmentStorage, *,
                 own_addresses: frozenset[str], secret: Callable[[Tx], Awaitable[bytes]],
                 desk_id: Callable[[Tx, DeskSettings], Awaitable[int]], desks_by_id: dict[int, DeskSettings],
                 notify: Callable[[], None]):
        self.store = store
        self.tickets = tickets
        self.attachments = attachments
        self.own_addresses = own_addresses
        self.secret = secret
        self._desk_id = desk_id
        self._desks_by_id = desks_by_id
        self._notify = notify
        self.planner = BatchPlanner(attachments, own_addresses, desks_by_id)

    async def ingest(self, address: MailAddress, mailbox: str, uidvalidity: int, items: list[Incoming], *,
                     lease: tuple[str, str, timedelta] | None = None, rematch: bool = False) -> BatchResult:
        """Write one batch in one transaction (see the module docstring).

        A batch that cannot be written for a reason other than the database
        being unavailable is split in halves until the message that breaks it
        is found; that one is set aside with the error, so one bad message can
        never hold up the mailbox.
        """
        try:
            return await self._ingest_batch(address, mailbox, uidvalidity, items, lease, rematch)
        except (LeaseLost, OperationalError, InterfaceError):
            raise  # another syncer, or the database is away: retry later, as a whole
        except Exception as exc:  # noqa: BLE001 - see the docstring
            if len(items) > 1:
                half = len(items) // 2
                first = await self.ingest(address, mailbox, uidvalidity, items[:half], lease=lease, rematch=rematch)
                second = await self.ingest(address, mailbox, uidvalidity, items[half:], lease=lease, rematch=rematch)
                return first.merge(second)
            log.exception("mail %s %s UID %s could not be stored", address.address, mailbox, items[0].uid)
            await self._unstorable(address, mailbox, uidvalidity, items[0], exc, lease)
            return BatchResult(set_aside=1)

    async def _unstorable(self, address: MailAddress, mailbox: str, uidvalidity: int, item: Incoming,
                          exc: Exception, lease: tuple[str, str, timedelta] | None) -> None:
        reason = one_line(f"could not be stored: {type(exc).__name__}: {exc}", 500)
        async with self.store.write() as tx:
            if lease is not None and not await tx.acquire_lease(*lease):
                raise LeaseLost(f"{address.address} {mailbox}: another process took over the sync")
            if await ms.existing_uids(tx, address.address, mailbox, uidvalidity, [item.uid]):
                return
            plan = BatchPlan(tx.now())
            key = {
                "account": address.address, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": item.uid,
                "message_id": (item.parsed.message_id or "")[:998] or None, "from_addr": item.parsed.from_addr[:320],
                "raw_sha256": item.sha256, "content_sha": item.content_sha or None, "kind": "set_aside", "ticket_id": None, "entry_id": None, "refs": [],
                "marked": False, "received_at": plan.now,
            }
            self.planner.aside(plan, dict(key), item, reason)
            await ms.insert_keys(tx, [key])
            await ms.insert_set_aside(tx, plan.set_aside)
            await ms.save_sync_state(tx, address.address, mailbox, uidvalidity=uidvalidity, last_uid=item.uid,
                                     last_sync_at=plan.now, add_messages=1)

    async def set_aside_unreadable(self, address: MailAddress, mailbox: str, uidvalidity: int, uid: int,
                                   reason: str, lease: tuple[str, str, timedelta] | None = None) -> None:
        """Record that message *uid* could not be fetched, so the sync can go past it.

        Nothing of it is known but its UID; it stays on the server untouched
        (never flagged or moved), listed with the reason by ``helpdesk sync --status``.
        """
        async with self.store.write() as tx:
            if lease is not None and not await tx.acquire_lease(*lease):
                raise LeaseLost(f"{address.address} {mailbox}: another process took over the sync")
            if await ms.existing_uids(tx, address.address, mailbox, uidvalidity, [uid]):
                return
            now = tx.now()
            await ms.insert_keys(tx, [{
                "account": address.address, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": uid,
                "message_id": None, "from_addr": "", "raw_sha256": "", "kind": "set_aside", "ticket_id": None,
                "entry_id": None, "refs": [], "marked": True, "received_at": now,
            }])
            await ms.insert_set_aside(tx, [{
                "account": address.address, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": uid,
                "message_id": None, "from_addr": "", "subject": "",
                "reason": one_line(f"could not be fetched: {reason}", 500), "raw_sha256": "", "size": 0,
                "ticket_id": None, "created_at": now,
            }])
            await ms.save_sync_state(tx, address.address, mailbox, uidvalidity=uidvalidity, last_uid=uid,
                                     last_sync_at=now, add_messages=1)

    async def _ingest_batch(self, address: MailAddress, mailbox: str, uidvalidity: int, items: list[Incoming],
                            lease: tuple[str, str, timedelta] | None, rematch: bool) -> BatchResult:
        result = BatchResult()
        if not items:
            return result
        async with self.store.write() as tx:
            if lease is not None and not await tx.acquire_lease(*lease):
                raise LeaseLost(f"{address.address} {mailbox}: another process took over the sync")
            queued = await self._ingest_in(tx, address, mailbox, uidvalidity, items, result, rematch)
            # Told as tickets of the address's desk, follow-ups of another desk's ticket too: that desk's
            # assignment method decides whether the batch is routed at all.
            desk_id = await self._desk_id(tx, address.desk)
            quiet = set(result.quiet)
            created = [TicketCreated(ticket_id, desk_id, "mail") for ticket_id in result.created if ticket_id not in quiet]
            for event in created:
                await self.tickets.events.record(tx, event)
        if queued:
            self._notify()
        try:
            for event in created:
                await self.tickets.events.publish(event)
        except Exception:  # noqa: BLE001 - a routing failure must not undo the committed mail
            log.exception("after-create handling failed for %d mail tickets", len(created))
        return result

    async def _ingest_in(self, tx: Tx, address: MailAddress, mailbox: str, uidvalidity: int,
                         items: list[Incoming], result: BatchResult, rematch: bool) -> bool:
        """Plan and write the batch; True when it queued outgoing mail."""
        account = address.address
        secret = await self.secret(tx)
        desk_id = await self._desk_id(tx, address.desk)
        done = await ms.existing_uids(tx, account, mailbox, uidvalidity, [i.uid for i in items])
        todo = [i for i in items if i.uid not in done]
        result.skipped = len(items) - len(todo)
        if not todo:
            await ms.save_sync_state(tx, account, mailbox, uidvalidity=uidvalidity,
                                     last_uid=max(i.uid for i in items), last_sync_at=tx.now())
            return False
        plan = BatchPlan(tx.now())
        found = await self._lookups(tx, todo, secret, rematch)
        self.planner.plan(plan, todo, found, address=address, mailbox=mailbox, uidvalidity=uidvalidity,
                          desk_id=desk_id, secret=secret, rematch=rematch, result=result)

        await self._execute(tx, plan, address)
        result.created = [t.ref() for t in plan.new_tickets]
        result.quiet = [t.ref() for t in plan.quiet]
        await ms.save_sync_state(tx, account, mailbox, uidvalidity=uidvalidity, last_uid=max(i.uid for i in items),
                                 last_sync_at=plan.now, last_error=None, add_messages=len(todo))
        return bool(plan.acks)

    async def _lookups(self, tx: Tx, todo: list[Incoming], secret: bytes, rematch: bool) -> Lookups:
        """One round of look-ups for the whole batch."""
        own_ids = [i.parsed.message_id for i in todo if i.parsed.message_id]
        parent_ids: list[str] = []
        bounce_ids: list[str] = []
        for i in todo:
            p = i.parsed
            parent_ids.extend(([p.in_reply_to] if p.in_reply_to else []) + list(p.references[-MAX_REFS:]))
            if i.kind.kind == loops.BOUNCE and i.kind.original_message_id:
                bounce_ids.append(i.kind.original_message_id)
        known = await ms.known_messages(tx, message_ids=own_ids + parent_ids,
                                        shas=[i.sha256 for i in todo] if rematch else ())
        by_msgid: dict[str, list[ms.KnownMessage]] = {}
        by_sha: dict[str, ms.KnownMessage] = {}
        for k in known:
            if k.message_id:
                by_msgid.setdefault(k.message_id, []).append(k)
            by_sha.setdefault(k.raw_sha256, k)
        sent = await ms.outbox_by_message_ids(tx, parent_ids + bounce_ids)

        candidate_tickets: set[int] = set()
        for i in todo:
            p = i.parsed
            signed = msgid.ticket_from_headers(p.in_reply_to, p.references, secret)
            if signed:
                candidate_tickets.add(signed)
            tag = msgid.find_subject_tag(p.subject)
            if tag:
                candidate_tickets.add(tag)
        for k in known:
            if k.ticket_id:
                candidate_tickets.add(k.ticket_id)
        candidate_tickets.update(t for _o, t in sent.values())
        # A merged ticket's mail lands in the ticket that survived it.
        merged = await ths.merged_into(tx, candidate_tickets) if candidate_tickets else {}
        states = await ms.ticket_states(tx, candidate_tickets | set(merged.values()))
        for source, target in merged.items():
            if target in states:
                states[source] = states[target]
            else:
                states.pop(source, None)
        people = await ms.participants(tx, {state.id for state in states.values()})
        requesters = await ms.find_requesters(tx, {i.parsed.from_addr for i in todo if i.parsed.from_addr})
        return Lookups(known, by_msgid, by_sha, sent, states, people, requesters)

    async def release(self, address: MailAddress, item: ms.SetAside, incoming: Incoming, actor: str) -> int:
        """Make set-aside message *item* a ticket entry after all; returns its ticket's id.

        The normal path (threading onto a ticket it belongs to, or a new ticket),
        in one transaction with the set-aside row marked released; it is treated
        as a customer's mail, and nothing automatic answers it.
        """
        result = BatchResult()
        async with self.store.write() as tx:
            current = await ms.get_set_aside(tx, item.id)
            if current is None or current.ticket_id is not None:
                raise HelpdeskError(f"set-aside message {item.id} was already released"
                                    + (f" into ticket #{current.ticket_id}" if current else ""))
            secret = await self.secret(tx)
            desk_id = await self._desk_id(tx, address.desk)
            plan = BatchPlan(tx.now())
            found = await self._lookups(tx, [incoming], secret, False)
            self.planner.plan(plan, [incoming], found, address=address, mailbox=item.mailbox,
                              uidvalidity=item.uidvalidity, desk_id=desk_id, secret=secret, rematch=False,
                              result=result, release=actor)
            [key] = plan.keys
            if key.get("ticket") is None and key.get("ticket_id") is None:
                raise HelpdeskError(f"set-aside message {item.id} could not be made a ticket")
            await self._execute(tx, plan, address, rekey=True)
            ticket_id = key["ticket_id"]
            await ms.mark_released(tx, item.id, ticket_id)
            created = [TicketCreated(t.ref(), desk_id, "mail") for t in plan.new_tickets]
            for event in created:
                await self.tickets.events.record(tx, event)
        try:
            for event in created:
                await self.tickets.events.publish(event)
        except Exception:  # noqa: BLE001 - a routing failure must not undo the committed mail
            log.exception("after-create handling failed for released mail")
        return ticket_id

    # ---- execution: a handful of statements for the whole batch

    async def _execute(self, tx: Tx, plan: BatchPlan, address: MailAddress, *, rekey: bool = False) -> None:
        now = plan.now
        fresh = [r for r in plan.requesters.values() if r.id is None and r.email]
        fresh += [e.author_requester for e in plan.entries
                  if e.author_requester is not None and e.author_requester.id is None and not e.author_requester.email]
        fresh = list({id(r): r for r in fresh}.values())
        if fresh:
            ids = await ms.insert_requesters(tx, [{"name": r.name, "email": r.email, "language": None,
                                                   "chatbot_user_id": None, "created_at": now} for r in fresh])
            for r, rid in zip(fresh, ids):
                r.id = rid
        await ms.name_requesters(tx, plan.req_names)

        if plan.new_tickets:
            rows = []
            for t in plan.new_tickets:
                rows.append({
                    "desk_id": t.desk_id, "type": t.type, "channel": t.channel, "subject": t.subject,
                    "summary": None, "status": t.status.value, "closed": not t.status.is_active,
                    "closed_at": None, "assignee_id": None, "requester_id": t.requester.id,
                    "created_at": t.created_at, "updated_at": t.updated_at or now,
                    "last_message_at": t.last_message_at or now, "last_message_by": Author.CUSTOMER.value,
                    "preview": t.preview or "", "conversation_id": None, "ai_replies_allowed": False,
                    "language": t.language, "follow_up_of": t.follow_up_of, "version": 1 + t.messages,
                    "updated_by": t.updated_by,
                })
            for t, tid in zip(plan.new_tickets, await ms.insert_tickets(tx, rows)):
                t.id = tid

        if plan.entries:
            rows = [{
                "ticket_id": e.ticket.ref(), "kind": e.kind, "body": resolve(e.body), "search_extra": e.search_extra,
                "author_agent_id": None,
                "author_requester_id": e.author_requester.id if e.author_requester else None,
                "author_name": e.author_name, "meta": resolve(e.meta) or {}, "created_at": now,
            } for e in plan.entries]
            for e, eid in zip(plan.entries, await ms.insert_entries(tx, rows)):
                e.id = eid

        updates = []
        for t in plan.tickets.values():
            if t.messages:
                updates.append({
                    "id": t.ref(), "status": t.status.value, "closed": not t.status.is_active,
                    "closed_at": t.closed_at if not t.status.is_active else None, "preview": t.preview,
                    "last_message_at": t.last_message_at, "last_message_by": Author.CUSTOMER.value,
                    "updated_at": t.updated_at, "updated_by": t.updated_by,
                })
        await ms.update_tickets(tx, updates)

        keys = []
        for k in plan.keys:
            ticket, entry = k.pop("ticket"), k.pop("entry")
            k.setdefault("ticket_id", ticket.ref() if ticket is not None else None)
            k.setdefault("entry_id", entry.id if entry is not None else None)
            keys.append(k)
        if rekey:
            for k in keys:
                await ms.rekey_message(tx, k)
        else:
            await ms.insert_keys(tx, keys)

        await ms.add_participants(tx, [
            {"ticket_id": t.ref(), "address": addr, "name": name, "role": role, "added_at": now}
            for t, addr, name, role in plan.participants
        ])
        await ms.insert_set_aside(tx, plan.set_aside)
        await self._apply_bounces(tx, plan)
        await self._queue_acks(tx, plan, address)
        await ms.record_changes(tx, [(t.ref(), kind) for t, kind in plan.changes])

    async def _apply_bounces(self, tx: Tx, plan: BatchPlan) -> None:
        for outbox_id, update in plan.outbox_updates.items():
            item = await ms.get_outbox(tx, outbox_id)
            if item is None:
                continue
            results = dict(item.results)
            failed = dict(update["failed"])
            if update.get("all"):
                for r in item.recipients:
                    failed.setdefault(r, {"state": "failed", "code": None, "text": "bounced"})
            results.update(failed)
            pending = [r for r in item.pending if r not in failed]
            values = {"id": outbox_id, "results": results, "pending": pending,
                      "last_error": next(iter(failed.values()))["text"] if failed else item.last_error}
            if item.status in ("sent", "unknown", "queued", "failed") and not pending:
                values["status"] = "failed"
            await ms.update_outbox(tx, [values])

    async def _queue_acks(self, tx: Tx, plan: BatchPlan, address: MailAddress) -> None:
        if not plan.acks:
            return
        template = address.email.acknowledge
        secret = await self.secret(tx)
        domain = address.address.rpartition("@")[2] or "localhost"
        ids = await ms.insert_outbox_many(tx, [{
            "ticket_id": t.ref(), "entry_id": None, "account": address.address, "status": "queued",
            "automatic": True, "mail_from": address.address, "recipients": [to], "pending": [to], "results": {},
            "attempts": 0, "next_attempt_at": plan.now, "raw": b"", "created_at": plan.now, "updated_at": plan.now,
        } for t, to, _parent, _subject, _refs in plan.acks])
        messages = []
        fixed = address.email.display_name
        for (t, to, parent, subject, refs), outbox_id in zip(plan.acks, ids):
            body = render_signature(template.replace("{ticket_id}", str(t.ref())), "", "", address.desk.name)
            message_id = msgid.make_message_id(t.ref(), outbox_id, secret, domain)
            try:
                raw = build_reply(
                    from_addr=address.address, from_name=address.desk.name if fixed == "auto" else fixed, to=to,
                    subject=msgid.reply_subject(subject, t.ref()), body=body, message_id=message_id,
                    in_reply_to=parent, references=[*refs[-(MAX_REFS - 1):], *([parent] if parent else [])],
                    ticket_id=t.ref(), date=plan.now.replace(tzinfo=timezone.utc),
                )
            except ValueError:
                continue  # an address we cannot write to: no acknowledgement, the ticket is there
            # RFC 3834: an automatic response says so, so that other robots do not answer it.
            messages.append((outbox_id, message_id, b"Auto-Submitted: auto-replied\r\n" + raw))
        await ms.set_outbox_messages(tx, messages)


__all__ = ["MailIngest"]
