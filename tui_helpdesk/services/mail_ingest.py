"""Inbound mail into tickets: one fetched batch, planned and written in one transaction.

In ONE write transaction: the message keys (account, mailbox, UIDVALIDITY,
UID), the tickets and timeline entries they produce, participants, bounce
results, set-aside messages, the change feed and the mailbox's new high UID.
A crash before the commit leaves nothing, after it everything, so a re-run
never duplicates and never loses a message. The syncer (mail_sync) flags or
moves the messages only after that commit.

Threading, in order: one of our HMAC-signed Message-IDs in In-Reply-To or
References (unforgeable); then In-Reply-To/References matching a stored
Message-ID, and then a ``[#123]`` subject tag — both only when the sender is
already a participant of that ticket, so a stranger's forged header can never
post into someone else's ticket; otherwise a new ticket. Whoever sent it, an
entry is authored by its real sender, never "as" the requester.

Auto-replies, list mail and bounces never trigger anything automatic; a
bounce marks the outbound message failed and shows an event on its ticket;
our own outgoing mail coming back is never a customer message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import InterfaceError, OperationalError

from ..adapters.mail import loops, msgid
from ..adapters.mail.attachments import AttachmentStore
from ..adapters.mail.compose import build_reply, render_signature
from ..adapters.mail.parse import ParsedMessage
from ..adapters.store import mailstore as ms
from ..adapters.store.repository import Store, Tx
from ..domain import lifecycle
from ..domain.mail.transport import Incoming
from ..domain.events import TicketCreated
from ..domain.model import Author, EntryKind, Status, TicketType
from ..domain.text import one_line
from ..settings import DeskSettings
from .mail_sync import BatchResult, LeaseLost
from .tickets import MAX_BODY, PREVIEW_CHARS, SYSTEM, TicketService

if TYPE_CHECKING:
    from .mail import MailAddress

log = logging.getLogger(__name__)

MAX_REFS = 20


# ------------------------------------------------------------ batch planning


class _Deferred:
    """A value known only after the tickets are inserted (a follow-up's id)."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn


def _resolve(value: Any) -> Any:
    return value.fn() if isinstance(value, _Deferred) else value


@dataclass(eq=False, slots=True)
class _Req:
    email: str | None
    name: str
    id: int | None = None

    @property
    def display(self) -> str:
        return self.name or self.email or f"requester {self.id}"


@dataclass(eq=False, slots=True)
class _Ticket:
    """A ticket touched by the batch: existing (id set) or new (id after insert)."""

    id: int | None
    desk_id: int
    subject: str
    status: Status
    closed_at: datetime | None
    requester: _Req
    type: str = TicketType.EMAIL.value
    channel: str = "email"
    language: str | None = None
    new: bool = False
    follow_up_of: int | None = None
    created_at: datetime | None = None
    # end state, written once per batch
    preview: str | None = None
    last_message_at: datetime | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    messages: int = 0
    entries: int = 0

    def ref(self) -> int:
        assert self.id is not None
        return self.id


@dataclass(eq=False, slots=True)
class _Entry:
    ticket: _Ticket
    kind: str
    body: Any
    author_name: str
    author_requester: _Req | None = None
    meta: Any = None
    search_extra: str | None = None
    id: int | None = None


class _Plan:
    def __init__(self, now: datetime):
        self.now = now
        self.requesters: dict[str, _Req] = {}
        self.tickets: dict[int, _Ticket] = {}  # existing, by id
        self.new_tickets: list[_Ticket] = []
        self.entries: list[_Entry] = []
        self.keys: list[dict] = []
        self.participants: list[tuple[_Ticket, str, str, str]] = []
        self.set_aside: list[dict] = []
        self.changes: list[tuple[_Ticket, str]] = []
        self.outbox_updates: dict[int, dict] = {}
        self.acks: list[tuple[_Ticket, str, str | None, str, list[str]]] = []
        self.req_names: dict[int, str] = {}


# -------------------------------------------------------------------- ingest


class MailIngest:
    """The inbound half of :class:`~tui_helpdesk.services.mail.MailService`.

    MailService provides the attributes below and ``secret``, ``_desk_id``
    and ``_notify``.
    """

    store: Store
    attachments: AttachmentStore
    own_addresses: frozenset[str]
    tickets: TicketService
    _desk_ids: dict[str, int]
    _desks_by_id: dict[int, DeskSettings]

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
            plan = _Plan(tx.now())
            key = {
                "account": address.address, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": item.uid,
                "message_id": (item.parsed.message_id or "")[:998] or None, "from_addr": item.parsed.from_addr[:320],
                "raw_sha256": item.sha256, "kind": "set_aside", "ticket_id": None, "entry_id": None, "refs": [],
                "marked": False, "received_at": plan.now,
            }
            self._aside(plan, dict(key), item, reason)
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
            desk_id = self._desk_ids[address.desk.slug]
            created = [TicketCreated(ticket_id, desk_id, "mail") for ticket_id in result.created]
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
        plan = _Plan(tx.now())

        # ---- one round of look-ups for the whole batch
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
        states = await ms.ticket_states(tx, candidate_tickets)
        people = await ms.participants(tx, states)
        msgid_ticket: dict[str, _Ticket] = {}
        for k in known:
            if k.message_id and k.ticket_id in states and k.kind in ("message", "duplicate", "rematched"):
                msgid_ticket.setdefault(k.message_id, self._existing(plan, states[k.ticket_id]))
        for mid, (_oid, tid) in sent.items():
            if tid in states:
                msgid_ticket.setdefault(mid, self._existing(plan, states[tid]))
        requesters = await ms.find_requesters(tx, {i.parsed.from_addr for i in todo if i.parsed.from_addr})
        for email_addr, (rid, name) in requesters.items():
            plan.requesters[email_addr] = _Req(email_addr, name, rid)
        participants: dict[int, dict[str, str]] = {t: dict(v) for t, v in people.items()}
        new_participants: dict[int, dict[str, str]] = {}  # id(_Ticket) → {address: role}
        seen_in_batch: dict[tuple[str, str], dict] = {}  # (Message-ID, sender) → its key

        def is_participant(ticket: _Ticket, addr: str) -> bool:
            if not addr:
                return False
            if ticket.id is not None and addr in participants.get(ticket.id, {}):
                return True
            return addr in new_participants.get(id(ticket), {})

        def add_people(ticket: _Ticket, p: ParsedMessage, sender_role: str) -> None:
            entries = [(p.from_addr, p.from_name, sender_role)] if p.from_addr else []
            entries += [(a, "", "cc") for a in (*p.cc, *p.to)]
            for addr, name, role in entries:
                if (not addr or "@" not in addr or len(addr) > 320 or addr in self.own_addresses
                        or is_participant(ticket, addr)):
                    continue
                new_participants.setdefault(id(ticket), {})[addr] = role
                plan.participants.append((ticket, addr, one_line(name, 300), role))

        for item in todo:
            p = item.parsed
            cls = item.kind
            key = {
                "account": account, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": item.uid,
                "message_id": (p.message_id or "")[:998] or None, "from_addr": p.from_addr[:320],
                "raw_sha256": item.sha256,
                "kind": "message", "ticket": None, "entry": None, "refs": [], "marked": False,
                "received_at": plan.now,
            }
            plan.keys.append(key)

            # ---- seen before? (a re-delivery, a second address of the desk, a new
            # UIDVALIDITY): the same Message-ID from the same sender is handled once.
            prior = None
            if p.message_id:
                sender_key = (key["message_id"], key["from_addr"])
                matches = [k for k in by_msgid.get(p.message_id, ()) if k.from_addr == key["from_addr"]]
                prior = next((k for k in matches if k.entry_id is not None), matches[0] if matches else None)
                if prior is None and sender_key in seen_in_batch:
                    first = seen_in_batch[sender_key]
                    key.update(kind="duplicate", ticket=first["ticket"], entry=first["entry"], refs=first["refs"])
                    result.duplicates += 1
                    continue
                seen_in_batch[sender_key] = key
            if prior is None and rematch and item.sha256 in by_sha:
                prior = by_sha[item.sha256]
            if prior is not None:
                key.update(kind="rematched" if rematch else "duplicate", refs=list(prior.refs))
                key["ticket_id"], key["entry_id"] = prior.ticket_id, prior.entry_id
                result.duplicates += 1
                continue

            reason = p.set_aside_reason
            if reason:
                self._aside(plan, key, item, reason)
                result.set_aside += 1
                continue

            # ---- our own mail coming back (a Bcc to ourselves, a forwarding loop)
            if msgid.parse_message_id(p.message_id, secret) or p.header("x-helpdesk-ticket"):
                key["kind"] = "own"
                result.own += 1
                continue
            if p.from_addr in self.own_addresses:
                self._aside(plan, key, item, "sent from one of our own support addresses")
                result.set_aside += 1
                continue

            if cls.kind == loops.BOUNCE:
                if self._bounce(plan, key, item, secret, sent, states):
                    result.bounces += 1
                else:
                    self._aside(plan, key, item, f"bounce for a message we cannot match ({cls.reason})")
                    result.set_aside += 1
                continue

            # ---- threading
            ticket, how = self._thread(plan, p, secret, states, msgid_ticket, is_participant)
            if cls.kind == loops.AUTO_REPLY:
                if ticket is None:
                    self._aside(plan, key, item, f"automatic reply not about a ticket ({cls.reason})")
                    result.set_aside += 1
                    continue
                text = one_line(f"Automatic reply from {p.from_name or p.from_addr}: {p.subject}", 300)
                plan.entries.append(_Entry(ticket, EntryKind.EVENT.value, text, SYSTEM, meta={
                    "event": "auto_reply", "reason": cls.reason, "from": p.from_addr,
                    "text": p.body_text[:4000], "message_id": p.message_id}))
                plan.changes.append((ticket, "event"))
                key.update(kind="auto_reply", ticket=ticket)
                result.auto += 1
                continue

            body = _entry_body(p)
            meta = self._meta(item, address, how, cls)
            sender = self._requester(plan, p)
            if ticket is None:
                subject = one_line(p.subject, 998) or "(no subject)"
                ticket = _Ticket(None, desk_id, subject, Status.NEW, None, sender, new=True, created_at=plan.now)
                plan.new_tickets.append(ticket)
                entry = _Entry(ticket, EntryKind.MESSAGE.value, body, sender.display, sender, meta,
                               search_extra=subject)
                plan.entries.append(entry)
                self._touch(ticket, body, sender, plan.now)
                plan.changes.append((ticket, "created"))
                add_people(ticket, p, "requester")
                if cls.kind == loops.HUMAN and address.email.acknowledge.strip() and p.from_addr:
                    plan.acks.append((ticket, p.from_addr, p.message_id, subject, list(p.references)))
            else:
                ticket, entry = self._customer_message(plan, ticket, body, sender, meta)
                add_people(ticket, p, "cc")
            if p.message_id:
                msgid_ticket[p.message_id] = ticket
            key.update(kind="message", ticket=ticket, entry=entry,
                       refs=list(p.references[-(MAX_REFS - 1):]) if p.references else [])
            result.entries += 1

        await self._execute(tx, plan, address)
        result.created = [t.ref() for t in plan.new_tickets]
        await ms.save_sync_state(tx, account, mailbox, uidvalidity=uidvalidity, last_uid=max(i.uid for i in items),
                                 last_sync_at=plan.now, last_error=None, add_messages=len(todo))
        return bool(plan.acks)

    # ---- planning helpers

    def _existing(self, plan: _Plan, state: ms.TicketState) -> _Ticket:
        ticket = plan.tickets.get(state.id)
        if ticket is None:
            requester = _Req(state.requester_email, state.requester_name, state.requester_id)
            ticket = _Ticket(state.id, state.desk_id, state.subject, Status(state.status), state.closed_at, requester,
                             type=state.type, channel=state.channel, language=state.language)
            plan.tickets[state.id] = ticket
        return ticket

    def _thread(self, plan: _Plan, p: ParsedMessage, secret: bytes, states: dict[int, ms.TicketState],
                msgid_ticket: dict[str, _Ticket], is_participant) -> tuple[_Ticket | None, str | None]:
        signed = msgid.ticket_from_headers(p.in_reply_to, p.references, secret)
        if signed and signed in states:
            return self._existing(plan, states[signed]), "signed"
        for mid in ([p.in_reply_to] if p.in_reply_to else []) + list(reversed(p.references[-MAX_REFS:])):
            ticket = msgid_ticket.get(mid)
            if ticket is not None:
                if is_participant(ticket, p.from_addr):
                    return ticket, "references"
                break  # a stranger quoting someone's Message-ID: no
        tag = msgid.find_subject_tag(p.subject)
        if tag and tag in states:
            ticket = self._existing(plan, states[tag])
            if is_participant(ticket, p.from_addr):
                return ticket, "tag"
        return None, None

    def _requester(self, plan: _Plan, p: ParsedMessage) -> _Req:
        addr = p.from_addr if p.from_addr and "@" in p.from_addr and len(p.from_addr) <= 320 else None
        name = one_line(p.from_name, 300)
        if addr is None:
            return _Req(None, name or "(unknown sender)")
        req = plan.requesters.get(addr)
        if req is None:
            req = plan.requesters[addr] = _Req(addr, name)
        elif name and not req.name:
            req.name = name
            if req.id is not None:
                plan.req_names[req.id] = name
        return req

    @staticmethod
    def _touch(ticket: _Ticket, body: str, sender: _Req, now: datetime) -> None:
        ticket.preview = _preview(body)
        ticket.last_message_at = now
        ticket.updated_at = now
        ticket.updated_by = sender.display
        ticket.messages += 1

    def _customer_message(self, plan: _Plan, ticket: _Ticket, body: str, sender: _Req,
                          meta: dict) -> tuple[_Ticket, _Entry]:
        """TicketService.add_customer_message, for a ticket inside a batch."""
        desk = self._desks_by_id.get(ticket.desk_id)
        reopen_days = desk.reopen_days if desk else lifecycle.DEFAULT_REOPEN_DAYS
        outcome = lifecycle.after_customer_message(ticket.status, closed_at=ticket.closed_at, now=plan.now,
                                                   reopen_days=reopen_days)
        if outcome.follow_up:
            old = ticket
            new = _Ticket(None, old.desk_id, old.subject, Status.NEW, None, old.requester, type=old.type,
                          channel=old.channel, language=old.language, new=True, follow_up_of=old.ref(),
                          created_at=plan.now)
            plan.new_tickets.append(new)
            entry = _Entry(new, EntryKind.MESSAGE.value, body, sender.display, sender, meta, search_extra=new.subject)
            plan.entries.append(entry)
            plan.entries.append(_Entry(new, EntryKind.EVENT.value, f"Follow-up of #{old.ref()}", SYSTEM,
                                       meta={"event": "follow_up", "of": old.ref()}))
            plan.entries.append(_Entry(
                old, EntryKind.EVENT.value,
                _Deferred(lambda: f"Customer wrote again after the reopen window: follow-up #{new.ref()}"), SYSTEM,
                meta=_Deferred(lambda: {"event": "follow_up_created", "ticket": new.ref()})))
            self._touch(new, body, sender, plan.now)
            plan.changes.append((new, "created"))
            plan.changes.append((old, "follow_up"))
            return new, entry
        entry = _Entry(ticket, EntryKind.MESSAGE.value, body, sender.display, sender, meta)
        plan.entries.append(entry)
        if outcome.new_status and outcome.new_status is not ticket.status:
            reason = "customer wrote again; reopened" if outcome.reopened else "customer replied"
            plan.entries.append(_Entry(ticket, EntryKind.EVENT.value,
                                       lifecycle.status_event_text(ticket.status, outcome.new_status, by=None,
                                                                   reason=reason), SYSTEM,
                                       meta={"event": "status", "from": ticket.status.value, "to": outcome.new_status.value,
                                        "by": None, "manual": False, "reason": reason}))
            ticket.status = outcome.new_status
            ticket.closed_at = None
        self._touch(ticket, body, sender, plan.now)
        plan.changes.append((ticket, "message"))
        return ticket, entry

    def _bounce(self, plan: _Plan, key: dict, item: Incoming, secret: bytes,
                sent: dict[str, tuple[int, int]], states: dict[int, ms.TicketState]) -> bool:
        cls = item.kind
        original = cls.original_message_id
        if not original:
            return False
        info = msgid.parse_message_id(original, secret)
        target = (info.outbox_id, info.ticket_id) if info else sent.get(original)
        if target is None or target[1] not in states:
            return False
        outbox_id, ticket_id = target
        ticket = self._existing(plan, states[ticket_id])
        failed = cls.failed_recipients
        delayed = [r for r in cls.recipients if not r.failed]
        raw_sha = self.attachments.put(item.raw)
        if failed or not cls.recipients:
            who = ", ".join(r.address for r in failed) or "the recipient"
            why = "; ".join(filter(None, (f"{r.status} {r.diagnostic}".strip() for r in failed)))
            text = one_line(f"Reply not delivered to {who}: bounced" + (f" ({why})" if why else ""), 400)
            update = plan.outbox_updates.setdefault(outbox_id, {"failed": {}})
            for r in failed or ():
                update["failed"][r.address] = {"state": "failed", "code": None,
                                               "text": one_line(f"bounce: {r.status} {r.diagnostic}", 300)}
            update["all"] = update.get("all", False) or not failed
            event = "delivery_failed"
        else:
            who = ", ".join(r.address for r in delayed)
            text = one_line(f"Delivery to {who} is delayed; the receiving server keeps trying", 300)
            event = "delivery_delayed"
        plan.entries.append(_Entry(ticket, EntryKind.EVENT.value, text, SYSTEM, meta={
            "event": event, "source": "bounce", "outbox": outbox_id, "reason": cls.reason,
            "recipients": [{"address": r.address, "action": r.action, "status": r.status,
                            "diagnostic": r.diagnostic} for r in cls.recipients],
            "raw": raw_sha,
        }))
        plan.changes.append((ticket, "event"))
        key.update(kind="bounce", ticket=ticket)
        return True

    def _aside(self, plan: _Plan, key: dict, item: Incoming, reason: str) -> None:
        p = item.parsed
        sha = self.attachments.put(item.raw)
        key["kind"] = "set_aside"
        plan.set_aside.append({
            "account": key["account"], "mailbox": key["mailbox"], "uidvalidity": key["uidvalidity"],
            "uid": key["uid"], "message_id": (p.message_id or "")[:998] or None, "from_addr": p.from_addr[:320],
            "subject": one_line(p.subject, 998), "reason": reason, "raw_sha256": sha, "size": len(item.raw),
            "ticket_id": None, "created_at": plan.now,
        })

    def _meta(self, item: Incoming, address: MailAddress, how: str | None, cls: loops.Classification) -> dict:
        p = item.parsed
        meta: dict[str, Any] = {"mail": {
            "message_id": p.message_id, "from": p.from_addr, "to": list(p.to[:20]), "cc": list(p.cc[:20]),
            "subject": p.subject, "date": p.date.isoformat() if p.date else None, "via": address.address,
        }}
        if how:
            meta["mail"]["threaded_by"] = how
        if cls.kind == loops.LIST:
            meta["mail"]["list"] = cls.reason
        if p.quoted_text:
            meta["quoted"] = p.quoted_text
        if p.body_from_html:
            meta["mail"]["html"] = True
        if p.attachments:
            meta["attachments"] = [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size,
                 "sha256": self.attachments.put(a.data), "inline": a.inline}
                for a in p.attachments
            ]
        if p.problems:
            meta["mail"]["problems"] = list(p.problems[:10])
        return meta

    # ---- execution: a handful of statements for the whole batch

    async def _execute(self, tx: Tx, plan: _Plan, address: MailAddress) -> None:
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
                "ticket_id": e.ticket.ref(), "kind": e.kind, "body": _resolve(e.body), "search_extra": e.search_extra,
                "author_agent_id": None,
                "author_requester_id": e.author_requester.id if e.author_requester else None,
                "author_name": e.author_name, "meta": _resolve(e.meta) or {}, "created_at": now,
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
        await ms.insert_keys(tx, keys)

        await ms.add_participants(tx, [
            {"ticket_id": t.ref(), "address": addr, "name": name, "role": role, "added_at": now}
            for t, addr, name, role in plan.participants
        ])
        await ms.insert_set_aside(tx, plan.set_aside)
        await self._apply_bounces(tx, plan)
        await self._queue_acks(tx, plan, address)
        await ms.record_changes(tx, [(t.ref(), kind) for t, kind in plan.changes])

    async def _apply_bounces(self, tx: Tx, plan: _Plan) -> None:
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

    async def _queue_acks(self, tx: Tx, plan: _Plan, address: MailAddress) -> None:
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


def _entry_body(p: ParsedMessage) -> str:
    # parse_message has cleaned the text already (escapes, controls, bidi).
    body = p.body_text.strip("\n")
    if not body.strip():
        body = "(attachments only)" if p.attachments else "(no text)"
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY - 40] + "\n\n[… message cut at 1,000,000 characters]"
    return body


def _preview(body: str) -> str:
    """``one_line(body, PREVIEW_CHARS)`` for text parse_message already cleaned.

    one_line() re-cleans every character of the body in Python; the preview
    needs only the start, with whitespace collapsed.
    """
    head = body[:PREVIEW_CHARS * 4]
    text = " ".join(head.split())
    if len(text) < PREVIEW_CHARS and len(body) > len(head):
        text = " ".join(body.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"


__all__ = ["MAX_REFS", "MailIngest"]
