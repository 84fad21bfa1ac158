"""Realistic synthetic tickets in bulk, for demos and benchmarks.

Writes rows straight through the tables in large batches (the services would
be ~100x slower for a million messages) while keeping every ticket coherent:
its status matches who wrote last, its preview is its last message, notes
mention real agents, and customers write in their own language.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import insert, select, text

from ...domain.model import Role
from ...domain.clock import utcnow
from .repository import Store
from .tables import ENTRY, MENTION, TICKET
from .tables import REQUESTER as REQ
from .tables import TICKET_TAG as TAGS

AGENTS = [
    ("ana", "Ana Lima", Role.ADMIN), ("ben", "Ben Okafor", Role.AGENT), ("chloe", "Chloé Martin", Role.AGENT),
    ("dev", "Dev Patel", Role.AGENT), ("emi", "Emi Tanaka", Role.AGENT), ("finn", "Finn Berg", Role.AGENT),
]
FIRST = {
    "en": ["Olivia", "Liam", "Emma", "Noah", "Ava", "James", "Mia", "Lucas", "Grace", "Henry"],
    "es": ["Lucía", "Mateo", "Sofía", "Hugo", "Valentina", "Diego", "Carmen", "Javier"],
    "de": ["Mia", "Leon", "Hannah", "Paul", "Lena", "Jonas", "Klara", "Felix"],
    "fr": ["Léa", "Louis", "Chloé", "Gabriel", "Manon", "Arthur", "Camille", "Jules"],
    "pt": ["Ana", "João", "Beatriz", "Pedro", "Mariana", "Tiago", "Inês", "Rafael"],
    "ja": ["Yui", "Haruto", "Sakura", "Ren", "Aoi", "Sota", "Hina", "Yuto"],
}
LAST = {
    "en": ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Clarke", "Evans", "Walker"],
    "es": ["García", "Fernández", "López", "Martínez", "Sánchez", "Romero"],
    "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner"],
    "fr": ["Dubois", "Moreau", "Laurent", "Lefèvre", "Roux", "Fournier"],
    "pt": ["Silva", "Santos", "Oliveira", "Costa", "Pereira", "Almeida"],
    "ja": ["Sato", "Suzuki", "Takahashi", "Watanabe", "Ito", "Yamamoto"],
}
LANG_WEIGHTS = [("en", 55), ("es", 12), ("de", 10), ("fr", 10), ("pt", 8), ("ja", 5)]
SUBJECTS = {
    "en": ["Refund for order {n}", "Cannot log in to my account", "Invoice {n} is wrong", "Package {n} never arrived",
           "How do I change my plan?", "App crashes on startup", "Double charged this month", "Password reset email missing",
           "Cancel my subscription", "Discount code {n} not working", "Wrong size delivered", "Export to CSV fails"],
    "es": ["Reembolso del pedido {n}", "No puedo iniciar sesión", "La factura {n} es incorrecta", "El paquete {n} no llegó"],
    "de": ["Rückerstattung für Bestellung {n}", "Ich kann mich nicht anmelden", "Rechnung {n} ist falsch", "Paket {n} nie angekommen"],
    "fr": ["Remboursement de la commande {n}", "Impossible de me connecter", "La facture {n} est erronée", "Colis {n} jamais reçu"],
    "pt": ["Reembolso do pedido {n}", "Não consigo entrar na conta", "A fatura {n} está errada", "O pacote {n} não chegou"],
    "ja": ["注文{n}の返金について", "ログインできません", "請求書{n}が間違っています", "荷物{n}が届きません"],
}
CUSTOMER = {
    "en": ["Hi, I ordered last week and still have nothing. Order {n}. Can you check the tracking?",
           "I was charged twice for the same invoice. Please refund the duplicate payment.",
           "The app shows an error when I try to export my data. Screenshot attached.",
           "Thanks, but it still does not work. I tried clearing the cache like you said.",
           "Any update on this? It has been three days.", "That worked, thank you so much!",
           "Could you send the invoice to my accountant as well?", "I need this fixed before Friday, it blocks our payroll."],
    "es": ["Hola, hice un pedido hace una semana y todavía no llega. ¿Pueden revisar?",
           "Me cobraron dos veces. Por favor devuelvan el pago duplicado.", "Sigue sin funcionar, gracias."],
    "de": ["Hallo, meine Bestellung ist seit einer Woche unterwegs. Können Sie das prüfen?",
           "Mir wurde doppelt abgebucht. Bitte erstatten Sie den Betrag.", "Es funktioniert immer noch nicht."],
    "fr": ["Bonjour, ma commande n'est toujours pas arrivée. Pouvez-vous vérifier ?",
           "J'ai été débité deux fois. Merci de me rembourser.", "Cela ne fonctionne toujours pas."],
    "pt": ["Olá, meu pedido ainda não chegou. Podem verificar?", "Fui cobrado duas vezes. Por favor, reembolsem.",
           "Ainda não funciona, obrigado."],
    "ja": ["先週注文しましたが、まだ届いていません。確認していただけますか？", "二重に請求されました。返金をお願いします。",
           "まだ動作しません。"],
}
AGENT_REPLIES = [
    "Thanks for reaching out! I've checked your order and the carrier shows it in transit; it should arrive within two days.",
    "Sorry about the double charge. I've issued a refund for the duplicate payment; it takes 3–5 business days.",
    "Could you tell me which version of the app you are using and send a screenshot of the error?",
    "I've reset your account access. Please try logging in again and let me know if it works.",
    "Good news: the fix is live. Please update the app and try the export again.",
    "I've forwarded this to our billing team and will get back to you tomorrow.",
]
NOTES = [
    "@{a} can you check the payment logs for this one?", "Customer is on the enterprise plan, prioritise.",
    "Looks like the carrier bug again. @{a} FYI.", "Refund approved by finance.", "Waiting on engineering, see incident 2231.",
    "@{a} this is the third report today — escalate?",
]
CHANNELS = [("email", "email", 45), ("web", "live_chat", 20), ("whatsapp", "live_chat", 12), ("messenger", "live_chat", 5),
            ("api", "api", 8), ("email", "email", 10)]
STATUS_WEIGHTS = [("new", 12), ("on_you", 18), ("on_customer", 15), ("on_hold", 5), ("closed", 45), ("cancelled", 5)]
TAGS_POOL = ["billing", "refund", "shipping", "bug", "vip", "login", "feature-request", "urgent"]
# Rare words let a benchmark search for something that matches only a few rows.
RARE = ["xylophone", "quokka", "zeppelin", "obsidian", "marzipan"]


def _pick(rng: random.Random, weighted):
    return rng.choices([w[:-1] if len(w) > 2 else w[0] for w in weighted], [w[-1] for w in weighted])[0]


async def ensure_agents(store: Store) -> list[tuple[int, str, str]]:
    async with store.write() as tx:
        for login, name, role in AGENTS:
            if await tx.find_agent(login) is None:
                await tx.add_agent(login, name, f"{login}@helpdesk.example", role)
        return [(a.id, a.login, a.name) for a in await tx.list_agents()]


async def seed(
    store: Store, *, tickets: int, messages_per_ticket: int, seed: int = 1,
    progress: Callable[[str], None] | None = None, now: datetime | None = None, batch: int = 2000,
) -> str:
    """Insert *tickets* tickets of about *messages_per_ticket* entries each; return a summary line."""
    rng = random.Random(seed)
    started = time.perf_counter()
    agents = await ensure_agents(store)
    now = now or utcnow()
    async with store.read() as tx:
        desk_id = (await tx.get_desk()).id
    made_tickets = made_entries = 0
    while made_tickets < tickets:
        n = min(batch, tickets - made_tickets)
        async with store.write() as tx:
            made_entries += await tx.conn.run_sync(
                lambda conn: _batch(conn, rng, n, messages_per_ticket, agents, desk_id, now)
            )
            await tx.record_change(None, "seed", None)
        made_tickets += n
        if progress:
            rate = made_entries / max(time.perf_counter() - started, 1e-9)
            progress(f"seeded {made_tickets:,}/{tickets:,} tickets, {made_entries:,} entries ({rate:,.0f} entries/s)")
    if store.dialect == "sqlite":
        async with store.write() as tx:
            await tx.conn.execute(text("ANALYZE"))
    else:
        async with store.write() as tx:
            await tx.conn.execute(text("ANALYZE"))
    took = time.perf_counter() - started
    return f"seeded {made_tickets:,} tickets with {made_entries:,} timeline entries in {took:.1f} s"


def _batch(conn, rng: random.Random, n: int, per_ticket: int, agents, desk_id: int, now: datetime) -> int:
    requesters, ticket_rows, plans = [], [], []
    for _ in range(n):
        lang = _pick(rng, LANG_WEIGHTS)
        first, last = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
        email = f"{first}.{last}{rng.randint(1, 99999)}@example.{rng.choice(['com', 'org', 'net'])}".lower()
        channel, ttype = _pick(rng, CHANNELS)
        status = _pick(rng, STATUS_WEIGHTS)
        created = now - timedelta(days=rng.random() ** 1.6 * 365, seconds=rng.randint(0, 86400))
        requesters.append({"name": f"{first} {last}", "email": email, "language": lang, "created_at": created,
                           "chatbot_user_id": f"u{rng.getrandbits(40):x}" if ttype == "live_chat" else None})
        plans.append((lang, channel, ttype, status, created))
    first_req = _insert_ids(conn, REQ, requesters)
    for i, (lang, channel, ttype, status, created) in enumerate(plans):
        assignee = None if status == "new" or rng.random() < 0.15 else rng.choice(agents)[0]
        subject = rng.choice(SUBJECTS[lang]).format(n=rng.randint(10000, 99999))
        ticket_rows.append({
            "desk_id": desk_id, "type": ttype, "channel": channel, "subject": subject, "status": status,
            "closed": status in ("closed", "cancelled"), "closed_at": None, "assignee_id": assignee,
            "requester_id": first_req + i, "created_at": created, "updated_at": created, "last_message_at": created,
            "last_message_by": "customer", "preview": "", "language": lang, "version": 1,
            "conversation_id": f"conv_{rng.getrandbits(48):x}" if ttype == "live_chat" else None,
            "ai_replies_allowed": False, "updated_by": None, "summary": None,
        })
    first_ticket = _insert_ids(conn, TICKET, ticket_rows)
    entries, tags, mention_plan = [], [], []
    for i, row in enumerate(ticket_rows):
        ticket_id = first_ticket + i
        lang, status = row["language"], row["status"]
        # A New ticket has only the customer's first message(s): nobody picked it up.
        count = 1 if status == "new" else max(1, int(rng.gauss(per_ticket, per_ticket / 4)))
        at = row["created_at"]
        by = "customer"
        body = ""
        name = requesters[i]["name"]
        for k in range(count):
            at = min(at + timedelta(minutes=rng.randint(3, 60 * 30)), now)
            if k == 0 or (k % 2 == 0 and rng.random() < 0.8):
                kind, author, author_agent = "message", name, None
                body = rng.choice(CUSTOMER[lang]).format(n=rng.randint(10000, 99999))
            elif rng.random() < 0.2:
                kind, (author_agent, _, author) = "note", rng.choice(agents)
                body = rng.choice(NOTES).format(a=rng.choice(agents)[1])
            else:
                kind, (author_agent, _, author) = "reply", rng.choice(agents)
                body = rng.choice(AGENT_REPLIES)
            if rng.random() < 0.001:
                body += f" ({rng.choice(RARE)})"
            entries.append({
                "ticket_id": ticket_id, "kind": kind, "body": body, "author_name": author,
                "author_agent_id": author_agent, "author_requester_id": None if author_agent else row["requester_id"],
                "meta": {}, "created_at": at, "search_extra": row["subject"] if k == 0 else None,
            })
            if kind == "note" and "@" in body:
                mention_plan.append((len(entries) - 1, ticket_id, body.split("@", 1)[1].split()[0]))
            if kind != "note":
                by = "customer" if kind == "message" else "agent"
                row["preview"] = body[:200]
                row["last_message_at"] = at
        # Keep the status believable: waiting on the customer means an agent spoke last.
        if status == "on_customer":
            by = "agent"
        elif status in ("new", "on_you"):
            by = "customer"
        row.update(last_message_by=by, updated_at=at, closed_at=at if row["closed"] else None)
        for tag in rng.sample(TAGS_POOL, k=rng.choice([0, 0, 1, 1, 2])):
            tags.append({"ticket_id": ticket_id, "tag": tag})
    first_entry = _insert_ids(conn, ENTRY, entries)
    by_login = {login: agent_id for agent_id, login, _ in agents}
    mentions = [{"entry_id": first_entry + idx, "ticket_id": tid, "agent_id": by_login[login], "read_at": None}
                for idx, tid, login in mention_plan if login in by_login]
    if mentions:
        conn.execute(insert(MENTION), mentions)
    if tags:
        conn.execute(insert(TAGS), tags)
    # Fix up the derived columns computed while writing entries.
    from sqlalchemy import bindparam, update

    t = TICKET.c
    conn.execute(
        update(TICKET).where(t.id == bindparam("tid")).values(
            preview=bindparam("p"), last_message_at=bindparam("lm"), last_message_by=bindparam("lb"),
            updated_at=bindparam("u"), closed_at=bindparam("ca")),
        [{"tid": first_ticket + i, "p": r["preview"], "lm": r["last_message_at"], "lb": r["last_message_by"],
          "u": r["updated_at"], "ca": r["closed_at"]} for i, r in enumerate(ticket_rows)],
    )
    return len(entries)


def _insert_ids(conn, table, rows: list[dict]) -> int:
    """Bulk insert *rows*; return the first new id (ids are consecutive inside our write lock)."""
    before = conn.execute(select(table.c.id).order_by(table.c.id.desc()).limit(1)).scalar() or 0
    conn.execute(insert(table), rows)
    first = conn.execute(
        select(table.c.id).where(table.c.id > before).order_by(table.c.id).limit(1)
    ).scalar()
    return first
