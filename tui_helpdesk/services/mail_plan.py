"""Planning one fetched mail batch: what each message becomes, decided before anything is written.

For every message of the batch, given what the database already knows (read
in one round of look-ups, :class:`Lookups`): a duplicate or a re-delivery, a
message set aside, our own mail coming back, a bounce, an automatic reply,
a message on an existing ticket (threading, SPEC §6) or a new ticket, with
its requester and participants. The decisions fill a :class:`BatchPlan` of
requesters, tickets, entries and keys that mail_ingest then writes with a
handful of bulk statements, in the same transaction.

Threading, in order: one of our HMAC-signed Message-IDs in In-Reply-To or
References (unforgeable); then In-Reply-To/References matching a stored
Message-ID, and then a ``[#123]`` subject tag — both only when the sender is
already a participant of that ticket, so a stranger's forged header can never
post into someone else's ticket; otherwise a new ticket. Whoever sent it, an
entry is authored by its real sender, never "as" the requester.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..domain.mail import loops, msgid
from ..domain.mail.message import ParsedMessage
from ..adapters.store import mailstore as ms
from ..domain import lifecycle
from ..domain.mail.transport import Incoming
from ..domain.model import EntryKind, Status, TicketType
from ..domain.text import one_line
from ..settings import DeskSettings
from .ports import AttachmentStorage
from .tickets import MAX_BODY, PREVIEW_CHARS, SYSTEM

if TYPE_CHECKING:
    from .mail import MailAddress
    from .mail_sync import BatchResult

MAX_REFS = 20


class Deferred:
    """A value known only after the tickets are inserted (a follow-up's id)."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn


def resolve(value: Any) -> Any:
    return value.fn() if isinstance(value, Deferred) else value


@dataclass(eq=False, slots=True)
class PlannedRequester:
    email: str | None
    name: str
    id: int | None = None

    @property
    def display(self) -> str:
        return self.name or self.email or f"requester {self.id}"


@dataclass(eq=False, slots=True)
class PlannedTicket:
    """A ticket touched by the batch: existing (id set) or new (id after insert)."""

    id: int | None
    desk_id: int
    subject: str
    status: Status
    closed_at: datetime | None
    requester: PlannedRequester
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
class PlannedEntry:
    ticket: PlannedTicket
    kind: str
    body: Any
    author_name: str
    author_requester: PlannedRequester | None = None
    meta: Any = None
    search_extra: str | None = None
    id: int | None = None


class BatchPlan:
    def __init__(self, now: datetime):
        self.now = now
        self.requesters: dict[str, PlannedRequester] = {}
        self.tickets: dict[int, PlannedTicket] = {}  # existing, by id
        self.new_tickets: list[PlannedTicket] = []
        self.entries: list[PlannedEntry] = []
        self.keys: list[dict] = []
        self.participants: list[tuple[PlannedTicket, str, str, str]] = []
        self.set_aside: list[dict] = []
        self.changes: list[tuple[PlannedTicket, str]] = []
        self.outbox_updates: dict[int, dict] = {}
        self.acks: list[tuple[PlannedTicket, str, str | None, str, list[str]]] = []
        self.req_names: dict[int, str] = {}
        self.quiet: list[PlannedTicket] = []  # new tickets made of history: not routed, not acknowledged



@dataclass(slots=True)
class Lookups:
    """What the database knows about a batch's messages, read in one round before planning."""

    known: list[ms.KnownMessage]  # stored messages with the batch's Message-IDs (and raw hashes on a rematch)
    by_msgid: dict[str, list[ms.KnownMessage]]
    by_sha: dict[str, ms.KnownMessage]
    sent: dict[str, tuple[int, int]]  # our outgoing Message-ID -> (outbox id, ticket id)
    states: dict[int, ms.TicketState]  # the tickets the batch may thread onto
    people: dict[int, dict[str, str]]  # their participants: ticket id -> {address: role}
    requesters: dict[str, tuple[int, str]]  # known senders: address -> (requester id, name)


def same_message(known: ms.KnownMessage, item: Incoming, from_addr: str) -> bool:
    """Whether a stored message with *item*'s Message-ID is *item* seen again.

    Rows stored before content fingerprints existed fall back to the old rule:
    the same sender.
    """
    if known.content_sha and item.content_sha:
        return known.content_sha == item.content_sha
    return known.from_addr == from_addr


class BatchPlanner:
    """Decides what each message of a batch becomes (see the module docstring).

    Raw messages and attachments are put in the attachment store while
    planning: content-addressed, so a batch that is not committed leaves
    only unreferenced blobs behind.
    """

    def __init__(self, attachments: AttachmentStorage, own_addresses: frozenset[str],
                 desks_by_id: dict[int, DeskSettings]):
        self.attachments = attachments
        self.own_addresses = own_addresses
        self._desks_by_id = desks_by_id

    def plan(self, plan: BatchPlan, todo: list[Incoming], found: Lookups, *, address: MailAddress, mailbox: str,
             uidvalidity: int, desk_id: int, secret: bytes, rematch: bool, result: BatchResult,
             release: str | None = None) -> None:
        """Fill *plan* with what *todo* becomes, counting the outcomes in *result*.

        *release* (who released it) is set when an agent makes a set-aside message
        a ticket after all: it is threaded like a customer's mail whatever it looks
        like, and nothing automatic answers it.
        """
        account = address.address
        known, by_msgid, by_sha, sent = found.known, found.by_msgid, found.by_sha, found.sent
        states, people, requesters = found.states, found.people, found.requesters
        msgid_ticket: dict[str, PlannedTicket] = {}
        for k in known:
            if k.message_id and k.ticket_id in states and k.kind in ("message", "duplicate", "rematched"):
                msgid_ticket.setdefault(k.message_id, self.existing(plan, states[k.ticket_id]))
        for mid, (_oid, tid) in sent.items():
            if tid in states:
                msgid_ticket.setdefault(mid, self.existing(plan, states[tid]))
        for email_addr, (rid, name) in requesters.items():
            plan.requesters[email_addr] = PlannedRequester(email_addr, name, rid)
        participants: dict[int, dict[str, str]] = {t: dict(v) for t, v in people.items()}
        new_participants: dict[int, dict[str, str]] = {}  # id(PlannedTicket) → {address: role}
        seen_in_batch: dict[tuple[str, str], dict] = {}  # (Message-ID, content fingerprint) → its key

        def is_participant(ticket: PlannedTicket, addr: str) -> bool:
            if not addr:
                return False
            if ticket.id is not None and addr in participants.get(ticket.id, {}):
                return True
            return addr in new_participants.get(id(ticket), {})

        def add_people(ticket: PlannedTicket, p: ParsedMessage, sender_role: str) -> None:
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
                "raw_sha256": item.sha256, "content_sha": item.content_sha or None,
                "kind": "message", "ticket": None, "entry": None, "refs": [], "marked": False,
                "received_at": plan.now,
            }
            plan.keys.append(key)

            # ---- seen before? (a re-delivery, a second address of the desk, a new
            # UIDVALIDITY): the same Message-ID with the same content is handled once.
            # Broken mailers reuse Message-IDs, so another content is another message.
            prior = None
            if p.message_id:
                same_key = (key["message_id"], item.content_sha or f"from:{key['from_addr']}")
                matches = [k for k in by_msgid.get(p.message_id, ()) if same_message(k, item, key["from_addr"])
                           and (release is None or k.entry_id is not None)]
                prior = next((k for k in matches if k.entry_id is not None), matches[0] if matches else None)
                if prior is None and same_key in seen_in_batch:
                    first = seen_in_batch[same_key]
                    key.update(kind="duplicate", ticket=first["ticket"], entry=first["entry"], refs=first["refs"])
                    result.duplicates += 1
                    continue
                seen_in_batch[same_key] = key
            if prior is None and rematch and item.sha256 in by_sha:
                prior = by_sha[item.sha256]
            if prior is not None:
                key.update(kind="rematched" if rematch else "duplicate", refs=list(prior.refs))
                key["ticket_id"], key["entry_id"] = prior.ticket_id, prior.entry_id
                result.duplicates += 1
                continue

            if release is not None:
                cls = loops.Classification(loops.HUMAN, f"released by {release}")
            reason = None if release is not None else p.set_aside_reason
            if reason:
                self.aside(plan, key, item, reason)
                result.set_aside += 1
                continue

            # ---- our own mail coming back (a Bcc to ourselves, a forwarding loop)
            if msgid.parse_message_id(p.message_id, secret) or p.header("x-helpdesk-ticket"):
                key["kind"] = "own"
                result.own += 1
                continue
            if p.from_addr in self.own_addresses and release is None:
                self.aside(plan, key, item, "sent from one of our own support addresses")
                result.set_aside += 1
                continue

            if cls.kind == loops.BOUNCE:
                if self._bounce(plan, key, item, secret, sent, states):
                    result.bounces += 1
                else:
                    self.aside(plan, key, item, f"bounce for a message we cannot match ({cls.reason})")
                    result.set_aside += 1
                continue

            # ---- threading
            ticket, how = self._thread(plan, p, secret, states, msgid_ticket, is_participant)
            if cls.kind == loops.AUTO_REPLY:
                if ticket is None:
                    self.aside(plan, key, item, f"automatic reply not about a ticket ({cls.reason})")
                    result.set_aside += 1
                    continue
                text = one_line(f"Automatic reply from {p.from_name or p.from_addr}: {p.subject}", 300)
                plan.entries.append(PlannedEntry(ticket, EntryKind.EVENT.value, text, SYSTEM, meta={
                    "event": "auto_reply", "reason": cls.reason, "from": p.from_addr,
                    "text": p.body_text[:4000], "message_id": p.message_id}))
                plan.changes.append((ticket, "event"))
                key.update(kind="auto_reply", ticket=ticket)
                result.auto += 1
                continue

            body = entry_body(p)
            meta = self._meta(item, address, how, cls)
            sender = self._requester(plan, p)
            if release is not None:
                meta["mail"]["released_by"] = release
            if ticket is None and sender.email is None and release is None:
                # An empty sender is never a customer: nobody to answer, nobody to follow up.
                self.aside(plan, key, item, f"no sender address, not a customer ({cls.reason})")
                result.set_aside += 1
                continue
            if item.history:
                meta["mail"]["history"] = True
                result.history += 1
            if ticket is None:
                subject = one_line(p.subject, 998) or "(no subject)"
                ticket = PlannedTicket(None, desk_id, subject, Status.NEW, None, sender, new=True, created_at=plan.now)
                plan.new_tickets.append(ticket)
                entry = PlannedEntry(ticket, EntryKind.MESSAGE.value, body, sender.display, sender, meta,
                               search_extra=subject)
                plan.entries.append(entry)
                self._touch(ticket, body, sender, plan.now)
                plan.changes.append((ticket, "created"))
                add_people(ticket, p, "requester")
                if item.history:
                    plan.quiet.append(ticket)
                elif release is None and address.email.acknowledge.strip() and loops.answerable(p, cls):
                    plan.acks.append((ticket, p.from_addr, p.message_id, subject, list(p.references)))
            else:
                ticket, entry = self._customer_message(plan, ticket, body, sender, meta)
                add_people(ticket, p, "cc")
            if p.message_id:
                msgid_ticket[p.message_id] = ticket
            key.update(kind="message", ticket=ticket, entry=entry,
                       refs=list(p.references[-(MAX_REFS - 1):]) if p.references else [])
            result.entries += 1

    def existing(self, plan: BatchPlan, state: ms.TicketState) -> PlannedTicket:
        ticket = plan.tickets.get(state.id)
        if ticket is None:
            requester = PlannedRequester(state.requester_email, state.requester_name, state.requester_id)
            ticket = PlannedTicket(state.id, state.desk_id, state.subject, Status(state.status), state.closed_at, requester,
                             type=state.type, channel=state.channel, language=state.language)
            plan.tickets[state.id] = ticket
        return ticket

    def _thread(self, plan: BatchPlan, p: ParsedMessage, secret: bytes, states: dict[int, ms.TicketState],
                msgid_ticket: dict[str, PlannedTicket], is_participant) -> tuple[PlannedTicket | None, str | None]:
        signed = msgid.ticket_from_headers(p.in_reply_to, p.references, secret)
        if signed and signed in states:
            return self.existing(plan, states[signed]), "signed"
        for mid in ([p.in_reply_to] if p.in_reply_to else []) + list(reversed(p.references[-MAX_REFS:])):
            ticket = msgid_ticket.get(mid)
            if ticket is not None:
                if is_participant(ticket, p.from_addr):
                    return ticket, "references"
                break  # a stranger quoting someone's Message-ID: no
        tag = msgid.find_subject_tag(p.subject)
        if tag and tag in states:
            ticket = self.existing(plan, states[tag])
            if is_participant(ticket, p.from_addr):
                return ticket, "tag"
        return None, None

    def _requester(self, plan: BatchPlan, p: ParsedMessage) -> PlannedRequester:
        addr = p.from_addr if p.from_addr and "@" in p.from_addr and len(p.from_addr) <= 320 else None
        name = one_line(p.from_name, 300)
        if addr is None:
            return PlannedRequester(None, name or "(unknown sender)")
        req = plan.requesters.get(addr)
        if req is None:
            req = plan.requesters[addr] = PlannedRequester(addr, name)
        elif name and not req.name:
            req.name = name
            if req.id is not None:
                plan.req_names[req.id] = name
        return req

    @staticmethod
    def _touch(ticket: PlannedTicket, body: str, sender: PlannedRequester, now: datetime) -> None:
        ticket.preview = preview_of(body)
        ticket.last_message_at = now
        ticket.updated_at = now
        ticket.updated_by = sender.display
        ticket.messages += 1

    def _customer_message(self, plan: BatchPlan, ticket: PlannedTicket, body: str, sender: PlannedRequester,
                          meta: dict) -> tuple[PlannedTicket, PlannedEntry]:
        """TicketService.add_customer_message, for a ticket inside a batch."""
        desk = self._desks_by_id.get(ticket.desk_id)
        reopen_days = desk.reopen_days if desk else lifecycle.DEFAULT_REOPEN_DAYS
        outcome = lifecycle.after_customer_message(ticket.status, closed_at=ticket.closed_at, now=plan.now,
                                                   reopen_days=reopen_days)
        if outcome.follow_up:
            old = ticket
            new = PlannedTicket(None, old.desk_id, old.subject, Status.NEW, None, old.requester, type=old.type,
                          channel=old.channel, language=old.language, new=True, follow_up_of=old.ref(),
                          created_at=plan.now)
            plan.new_tickets.append(new)
            entry = PlannedEntry(new, EntryKind.MESSAGE.value, body, sender.display, sender, meta, search_extra=new.subject)
            plan.entries.append(entry)
            plan.entries.append(PlannedEntry(new, EntryKind.EVENT.value, f"Follow-up of #{old.ref()}", SYSTEM,
                                       meta={"event": "follow_up", "of": old.ref()}))
            plan.entries.append(PlannedEntry(
                old, EntryKind.EVENT.value,
                Deferred(lambda: f"Customer wrote again after the reopen window: follow-up #{new.ref()}"), SYSTEM,
                meta=Deferred(lambda: {"event": "follow_up_created", "ticket": new.ref()})))
            self._touch(new, body, sender, plan.now)
            plan.changes.append((new, "created"))
            plan.changes.append((old, "follow_up"))
            return new, entry
        entry = PlannedEntry(ticket, EntryKind.MESSAGE.value, body, sender.display, sender, meta)
        plan.entries.append(entry)
        if outcome.new_status and outcome.new_status is not ticket.status:
            reason = "customer wrote again; reopened" if outcome.reopened else "customer replied"
            plan.entries.append(PlannedEntry(ticket, EntryKind.EVENT.value,
                                       lifecycle.status_event_text(ticket.status, outcome.new_status, by=None,
                                                                   reason=reason), SYSTEM,
                                       meta={"event": "status", "from": ticket.status.value, "to": outcome.new_status.value,
                                        "by": None, "manual": False, "reason": reason}))
            ticket.status = outcome.new_status
            ticket.closed_at = None
        self._touch(ticket, body, sender, plan.now)
        plan.changes.append((ticket, "message"))
        return ticket, entry

    def _bounce(self, plan: BatchPlan, key: dict, item: Incoming, secret: bytes,
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
        ticket = self.existing(plan, states[ticket_id])
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
        plan.entries.append(PlannedEntry(ticket, EntryKind.EVENT.value, text, SYSTEM, meta={
            "event": event, "source": "bounce", "outbox": outbox_id, "reason": cls.reason,
            "recipients": [{"address": r.address, "action": r.action, "status": r.status,
                            "diagnostic": r.diagnostic} for r in cls.recipients],
            "raw": raw_sha,
        }))
        plan.changes.append((ticket, "event"))
        key.update(kind="bounce", ticket=ticket)
        return True

    def aside(self, plan: BatchPlan, key: dict, item: Incoming, reason: str) -> None:
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
        # Why it joined its ticket, shown with the message: "new" until threading finds one.
        meta["mail"]["threaded_by"] = how or "new"
        if cls.kind == loops.LIST:
            meta["mail"]["list"] = cls.reason
        if cls.evidence:
            # What looked automatic about it, and was weighed (a person's mail: not enough to count).
            meta["mail"]["signs"] = list(cls.evidence[:10])
        if p.signatures:
            meta["mail"]["signed"] = list(p.signatures)
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


def entry_body(p: ParsedMessage) -> str:
    # parse_message has cleaned the text already (escapes, controls, bidi).
    body = p.body_text.strip("\n")
    if not body.strip():
        body = "(attachments only)" if p.attachments else "(no text)"
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY - 40] + "\n\n[… message cut at 1,000,000 characters]"
    return body


def preview_of(body: str) -> str:
    """``one_line(body, PREVIEW_CHARS)`` for text parse_message already cleaned.

    one_line() re-cleans every character of the body in Python; the preview
    needs only the start, with whitespace collapsed.
    """
    head = body[:PREVIEW_CHARS * 4]
    text = " ".join(head.split())
    if len(text) < PREVIEW_CHARS and len(body) > len(head):
        text = " ".join(body.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"


__all__ = [
    "MAX_REFS", "BatchPlan", "BatchPlanner", "Deferred", "Lookups", "PlannedEntry", "PlannedRequester",
    "PlannedTicket", "resolve",
]
