"""A demo desk that shows every feature at once: ``helpdesk demo``.

Everything is written through the services (create, customer messages,
replies, notes, status, assignment, tags, saved views), with the store's clock
stepped through the past two months, so timelines, events, previews, counts
and mentions are exactly what real use would leave behind.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from ..adapters.store import seed as vocab
from ..domain.clock import utcnow
from ..domain.errors import HelpdeskError
from ..domain.model import Agent, Role, Status, TicketType
from .agents import os_login

CHANNELS = [("email", TicketType.EMAIL, 40), ("web", TicketType.LIVE_CHAT, 20), ("whatsapp", TicketType.LIVE_CHAT, 15),
            ("messenger", TicketType.LIVE_CHAT, 10), ("api", TicketType.API, 15)]
STATUSES = [(Status.NEW, 14), (Status.ON_YOU, 20), (Status.ON_CUSTOMER, 16), (Status.ON_HOLD, 8),
            (Status.CLOSED, 34), (Status.CANCELLED, 8)]
LANGS = [("en", 50), ("es", 12), ("de", 11), ("fr", 11), ("pt", 9), ("ja", 7)]
MENTION_NOTES = [
    "@{me} could you take a look? The customer mentions your earlier fix.",
    "@{me} this looks like the billing bug from last week — can you confirm?",
    "Looping in @{me}: enterprise customer, please prioritise.",
    "@{me} FYI the refund was approved; just needs a reply.",
]
LONG_THREAD = [
    ("message", "The export still fails with error 0x{n:04x}. Attaching the log again."),
    ("reply", "Thanks — I see it in the log. Could you try again with the beta build?"),
    ("message", "Tried the beta, same result on {n} rows."),
    ("note", "Engineering thinks it is the date parser. Reproducing with {n} rows."),
    ("reply", "We reproduced it. A fix is on the way; I'll keep you posted."),
]
# A French customer on a recent ticket of mine: with translation on, the app
# shows her messages in English with "show original" on each.
FRENCH_CUSTOMER = ("Camille Lefèvre", "camille.lefevre@exemple.fr")
FRENCH_THREAD = [
    ("message", "Bonjour, j'ai commandé un casque audio il y a trois semaines (commande 58213) et je n'ai "
                "toujours rien reçu. Le suivi indique que le colis est bloqué au dépôt depuis dix jours."),
    ("reply", "Hello Camille, sorry about the wait. I've asked the carrier what is holding the parcel."),
    ("message", "Merci pour votre réponse. Le transporteur me dit maintenant que l'adresse est incomplète, "
                "alors qu'elle est correcte sur ma commande. Pouvez-vous leur confirmer l'adresse ?"),
    ("message", "Je précise que je pars en vacances samedi. Si le colis ne peut pas arriver avant, je préfère "
                "être remboursée plutôt que de le recevoir à mon retour."),
]
SAVED_VIEWS = [
    ("Billing and refunds", "tag:billing,refund status:active", False),
    ("Chats waiting on us", "type:live_chat status:new,on_you", True),
    ("Stale: no reply in a week", "status:on_you last:>7d", True),
]


class _SteppingClock:
    """The store's clock during population: each write happens "at" the time we set."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _pick(rng: random.Random, weighted):
    return rng.choices([w[:-1] if len(w) > 2 else w[0] for w in weighted], [w[-1] for w in weighted])[0]


async def populate_demo(hd, *, tickets: int = 50, bulk: int = 180, seed: int = 7, now: datetime | None = None,
                        progress: Callable[[str], None] | None = None) -> Agent:
    """Fill an empty database; returns the current OS user's agent (an admin).

    *bulk* tickets come from the bulk seeder (coherent threads, in a blink);
    *tickets* more are played through the services with a stepping clock, so
    their timelines carry the real events, assignments and @mentions of me.
    """
    rng = random.Random(seed)
    end = now or utcnow()
    clock = _SteppingClock(end - timedelta(days=75))
    real_clock = hd.store.clock
    hd.store.clock = clock
    # The seeded replies are past history on tickets whose desk may have no
    # support address: they record what was said, they are not sent now, and the
    # events they raise reach no handler (no outbox row, no "not sent" event).
    delivery_check, hd.tickets.delivery_check = hd.tickets.delivery_check, None
    try:
        with hd.tickets.events.quiet():  # nothing of the past is queued, sent, routed or posted to a webhook
            return await _populate(hd, rng, clock, end, tickets=tickets, bulk=bulk, seed=seed, progress=progress)
    finally:
        hd.store.clock = real_clock
        hd.tickets.delivery_check = delivery_check


async def _populate(hd, rng: random.Random, clock: _SteppingClock, end: datetime, *, tickets: int, bulk: int,
                    seed: int, progress: Callable[[str], None] | None) -> Agent:
    """The demo's past, written through the services at the stepping clock's times."""
    me = await hd.agents.identify(os_login())
    if not me.is_admin:
        me = await hd.agents.set(me, me.login, role="admin")
    team = [me]
    for login, name, role in vocab.AGENTS:
        if login == me.login:
            continue
        try:
            team.append(await hd.agents.add(me, login, name=name, email=f"{login}@helpdesk.example",
                                            role=Role(role).value))
        except HelpdeskError:
            team.append(await hd.agents.get(login))
    others = [a for a in team if a.id != me.id]
    await hd.agents.set(me, others[1].login, availability="away")
    if bulk:
        await vocab.seed(hd.store, tickets=bulk, messages_per_ticket=4, seed=seed, now=end - timedelta(hours=2),
                         progress=progress)

    plans = []
    for i in range(tickets):
        created = end - timedelta(days=(rng.random() ** 1.5) * 60, minutes=rng.randint(5, 600))
        plans.append((created, i))
    plans.sort()
    mention_budget = 12
    people: list[tuple[str, str, str]] = []
    for n, (created, i) in enumerate(plans):
        status = _pick(rng, STATUSES)
        # Most of these are mine, so the Inbox is full.
        if status is Status.NEW:
            assignee = None
        elif rng.random() < 0.7:
            assignee = me
        elif rng.random() < 0.15:
            assignee = None
        else:
            assignee = rng.choice(others)
        mention = mention_budget > 0 and rng.random() < 0.4 and status is not Status.NEW
        mention_budget -= mention
        await _one_ticket(hd, rng, clock, created, end, status, assignee, me, others, mention, people)
        if progress and n % 10 == 0:
            progress(f"demo: {n}/{tickets} tickets")
    await _long_thread(hd, rng, clock, end, me, others)
    await _tricky_text(hd, clock, end, me)
    await _french_customer(hd, clock, end, me)
    clock.now = end
    for name, query, shared in SAVED_VIEWS:
        try:
            await hd.views.save(me, name, query, shared=shared)
        except HelpdeskError:
            pass
    return me


def _person(rng: random.Random, people: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    """A customer; one in four has written before, so their earlier tickets show beside the new one."""
    if people and rng.random() < 0.25:
        return rng.choice(people)
    lang = _pick(rng, LANGS)
    first, last = rng.choice(vocab.FIRST[lang]), rng.choice(vocab.LAST[lang])
    email = f"{first}.{last}{rng.randint(1, 999)}@example.com".lower()
    people.append((lang, f"{first} {last}", email))
    return people[-1]


# Small files customers attach: what they are called, their type, and how their bytes are made.
ATTACHMENTS = [
    ("screenshot.png", "image/png", lambda n: _png(n)),
    ("invoice-{n}.pdf", "application/pdf",
     lambda n: b"%PDF-1.4\n% demo invoice " + str(n).encode() + b"\n%%EOF\n"),
    ("export-{n}.csv", "text/csv", lambda n: "order,amount,status\n".encode() + f"{n},49.90,failed\n".encode() * 20),
    ("error-log.txt", "text/plain", lambda n: f"2026-11-02 03:00:01 ERROR export {n}: date out of range\n".encode() * 8),
]


def _png(n: int) -> bytes:
    """A real 1x1 PNG (so an image viewer opens it), different per ticket."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    pixel = zlib.compress(bytes([0, n % 256, (n // 256) % 256, 200]))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", pixel) + chunk(b"IEND", b""))


def _attachment(hd, rng: random.Random, number: int) -> dict:
    """Store one file as the mail service stores attachments; the entry's meta entry for it."""
    name, content_type, make = rng.choice(ATTACHMENTS)
    data = make(number)
    return {"filename": name.format(n=number), "content_type": content_type, "size": len(data),
            "sha256": hd.mail.attachments.put(data), "inline": False}


async def _one_ticket(hd, rng, clock, created, end, status, assignee, me, others, mention, people) -> None:
    lang, name, email = _person(rng, people)
    channel, ttype = _pick(rng, CHANNELS)
    clock.now = created
    number = rng.randint(10000, 99999)
    tags = rng.sample(vocab.TAGS_POOL, k=rng.choice([0, 0, 1, 1, 2]))
    files = [_attachment(hd, rng, number)] if ttype is TicketType.EMAIL and rng.random() < 0.3 else []
    ticket = await hd.tickets.create(
        subject=rng.choice(vocab.SUBJECTS[lang]).format(n=number),
        body=rng.choice(vocab.CUSTOMER[lang]).format(n=number), requester_email=email, requester_name=name,
        channel=channel, type=ttype, language=lang, at=created, tags=tags,
        meta={"attachments": files} if files else None,
        chatbot_user_id=f"u{rng.getrandbits(32):x}" if ttype is TicketType.LIVE_CHAT else None,
        conversation_id=f"conv_{rng.getrandbits(40):x}" if ttype is TicketType.LIVE_CHAT else None,
    )
    tid = ticket.id
    t = created

    def step() -> datetime:
        nonlocal t
        room = max(timedelta(minutes=1), end - t)
        t = t + min(timedelta(minutes=rng.randint(4, 60 * 20)), room * rng.uniform(0.05, 0.3))
        clock.now = t
        return t

    if status is Status.NEW:
        if rng.random() < 0.3:
            await hd.tickets.add_customer_message(tid, rng.choice(vocab.CUSTOMER[lang]).format(n=number), at=step())
        return
    agent = assignee or rng.choice(others)
    step()
    if assignee is not None:
        await hd.tickets.assign(tid, assignee.login, actor=agent if assignee.id != agent.id else assignee)
    rounds = rng.choice([1, 1, 2, 2, 3, 4])
    for r in range(rounds):
        step()
        await hd.tickets.reply(tid, rng.choice(vocab.AGENT_REPLIES), actor=agent)
        if rng.random() < 0.25:
            step()
            body = rng.choice(vocab.NOTES).format(a=rng.choice(others).login)
            await hd.tickets.note(tid, body, actor=rng.choice(others))
        if r < rounds - 1 or status is Status.ON_YOU:
            await hd.tickets.add_customer_message(tid, rng.choice(vocab.CUSTOMER[lang]).format(n=number), at=step())
    if mention:
        step()
        author = rng.choice(others)
        await hd.tickets.note(tid, rng.choice(MENTION_NOTES).format(me=me.login), actor=author)
    if status in (Status.ON_HOLD, Status.CLOSED, Status.CANCELLED):
        step()
        await hd.tickets.set_status(tid, status, actor=agent,
                                    reason="waiting on the carrier" if status is Status.ON_HOLD else None)


async def _long_thread(hd, rng, clock, end, me, others) -> None:
    """One ticket with 200+ entries, to show that long threads stay fast."""
    start = end - timedelta(days=40)
    clock.now = start
    ticket = await hd.tickets.create(
        subject="Nightly export keeps failing (long-running investigation)",
        body="Our nightly CSV export has failed every night since the upgrade. Log attached.",
        requester_email="ops@bigcustomer.example", requester_name="Morgan Reyes", channel="email",
        type=TicketType.EMAIL, language="en", at=start, tags=["bug", "vip"],
    )
    await hd.tickets.assign(ticket.id, me.login, actor=me)
    t = start
    for k in range(205):
        t = t + timedelta(minutes=rng.randint(20, 260))
        clock.now = min(t, end - timedelta(minutes=2))
        kind, text = LONG_THREAD[k % len(LONG_THREAD)]
        body = text.format(n=rng.randint(1, 65535))
        if kind == "message":
            await hd.tickets.add_customer_message(ticket.id, body, at=clock.now)
        elif kind == "reply":
            await hd.tickets.reply(ticket.id, body, actor=rng.choice([me, *others[:2]]))
        else:
            await hd.tickets.note(ticket.id, body, actor=rng.choice(others))
    clock.now = end - timedelta(minutes=1)
    await hd.tickets.add_customer_message(ticket.id, "Any news? It failed again last night.", at=clock.now)


async def _tricky_text(hd, clock, end, me) -> None:
    """A customer whose text looks like markup and escapes: shown literally, harmless."""
    clock.now = end - timedelta(hours=3)
    await hd.tickets.create(
        subject="Re: [/] invoice [b]urgent[/b] \x1b]0;PWNED\x07",
        body="Click [@click=app.quit]here[/] to see the invoice\u202efdp.exe \x1b[2J — thanks!",
        requester_email="mallory@example.net", requester_name="[link=https://evil.example]Mallory[/link]",
        channel="email", type=TicketType.EMAIL, language="en", at=clock.now, tags=["security"],
    )


async def _french_customer(hd, clock, end, me) -> None:
    """A French-speaking customer waiting on me: her messages are shown translated, the originals a key away."""
    start = end - timedelta(hours=5)
    clock.now = start
    name, email = FRENCH_CUSTOMER
    kind, body = FRENCH_THREAD[0]
    ticket = await hd.tickets.create(
        subject="Colis 58213 bloqué au dépôt", body=body, requester_email=email, requester_name=name,
        channel="email", type=TicketType.EMAIL, language="fr", at=start, tags=["shipping"],
    )
    await hd.tickets.assign(ticket.id, me.login, actor=me)
    for n, (kind, body) in enumerate(FRENCH_THREAD[1:], start=1):
        clock.now = start + timedelta(minutes=50 * n)
        if kind == "message":
            await hd.tickets.add_customer_message(ticket.id, body, at=clock.now)
        else:
            await hd.tickets.reply(ticket.id, body, actor=me)
