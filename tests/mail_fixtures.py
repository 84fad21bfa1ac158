"""Mail for the mail tests and the mail benchmark: builders and a config writer.

Every builder returns the raw bytes an IMAP server would hold. ``varied_messages``
makes a reproducible mix like a real support mailbox (plain, HTML, alternative,
attachments, other charsets, follow-ups in existing threads, auto-replies, list
mail, bounces), used by ``bench/mail_bench.py`` and the larger sync tests.

Nothing here imports pytest, so the benchmark can use it.
"""

from __future__ import annotations

import base64
import random
import textwrap
from dataclasses import dataclass
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

SUPPORT = "support@desk.test"
IMAP_PASSWORD_ENV = "HELPDESK_TEST_IMAP_PASSWORD"
SMTP_PASSWORD_ENV = "HELPDESK_TEST_SMTP_PASSWORD"

_DATE = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def customer_mail(
    *,
    sender: str = "Dana Example <dana@example.com>",
    to: str = SUPPORT,
    cc: str | None = None,
    subject: str = "Printer on fire",
    body: str = "Hello,\n\nthe printer in room 4 is on fire again.\n\nDana\n",
    message_id: str | None = "<m1@mail.example.com>",
    in_reply_to: str | None = None,
    references: str | None = None,
    extra: str = "",
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
    date: datetime | None = None,
) -> bytes:
    """One message; ``attachments`` are (filename, content type, data)."""
    head = [f"From: {sender}", f"To: {to}"]
    if cc:
        head.append(f"Cc: {cc}")
    head.append(f"Subject: {subject}")
    head.append(f"Date: {format_datetime(date or _DATE)}")
    if message_id:
        head.append(f"Message-ID: {message_id}")
    if in_reply_to:
        head.append(f"In-Reply-To: {in_reply_to}")
    if references:
        head.append(f"References: {references}")
    head.append("MIME-Version: 1.0")
    if extra:
        head.extend(line for line in extra.strip("\n").split("\n"))
    if not attachments and html is None:
        head.append("Content-Type: text/plain; charset=utf-8")
        head.append("Content-Transfer-Encoding: 8bit")
        return ("\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8")
    boundary = "=_b0undary_42"
    parts: list[str] = []
    if html is not None:
        alt = "=_alt_42"
        parts.append(
            f"Content-Type: multipart/alternative; boundary=\"{alt}\"\r\n\r\n"
            f"--{alt}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            f"--{alt}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{alt}--\r\n"
        )
    else:
        parts.append(f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")
    for filename, ctype, data in attachments:
        encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
        parts.append(
            f"Content-Type: {ctype}; name=\"{filename}\"\r\nContent-Disposition: attachment; "
            f"filename=\"{filename}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}"
        )
    head.append(f"Content-Type: multipart/mixed; boundary=\"{boundary}\"")
    body_text = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return ("\r\n".join(head) + "\r\n\r\n" + body_text).encode("utf-8")


def auto_reply(*, sender: str = "Dana Example <dana@example.com>", in_reply_to: str | None = None,
               message_id: str = "<ooo1@mail.example.com>", subject: str = "Out of office") -> bytes:
    return customer_mail(
        sender=sender, subject=subject, message_id=message_id, in_reply_to=in_reply_to,
        references=in_reply_to, extra="Auto-Submitted: auto-replied\nX-Autoreply: yes",
        body="I am away until Monday and will read your mail then.\n",
    )


def list_mail(*, message_id: str = "<list1@lists.example.org>") -> bytes:
    return customer_mail(
        sender="Weekly News <news@lists.example.org>", subject="This week in printers",
        message_id=message_id, extra="List-Id: <printers.lists.example.org>\nPrecedence: list",
        body="Ten things you did not know about toner.\n",
    )


def bounce(original_message_id: str, recipient: str, *, status: str = "5.1.1",
           message_id: str = "<bounce1@mx.example.net>", to: str = SUPPORT) -> bytes:
    """A standard RFC 3464 delivery status notification about our message."""
    b = "=_dsn_42"
    return textwrap.dedent(f"""\
        From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
        To: {to}
        Subject: Undelivered Mail Returned to Sender
        Date: {format_datetime(_DATE)}
        Message-ID: {message_id}
        Auto-Submitted: auto-replied
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="{b}"

        --{b}
        Content-Type: text/plain; charset=us-ascii

        This is the mail system at host mx.example.net.
        I'm sorry to have to inform you that your message could not
        be delivered to one or more recipients.

        <{recipient}>: host mx.example.net said: 550 {status} User unknown

        --{b}
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example.net

        Final-Recipient: rfc822; {recipient}
        Original-Recipient: rfc822;{recipient}
        Action: failed
        Status: {status}
        Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown

        --{b}
        Content-Type: text/rfc822-headers

        From: Support <{SUPPORT}>
        To: {recipient}
        Subject: Re: Printer on fire
        Message-ID: {original_message_id}

        --{b}--
        """).replace("\n", "\r\n").encode("ascii")


# --------------------------------------------------------------------------
# A varied mailbox

_FIRST = ["Ann", "Bo", "Chen", "Dörte", "Émile", "Farah", "Goran", "Hana", "Ivan", "Júlia", "Kenji", "Lea",
          "Mateo", "Nia", "Olu", "Priya", "Quinn", "Rafa", "Sven", "Tomás", "Uma", "Vik", "Wen", "Yara", "Zoë"]
_LAST = ["Adams", "Brown", "Castro", "Dubois", "Eklund", "Fischer", "García", "Hoang", "Ivanova", "Jensen",
         "Kowalski", "López", "Müller", "Nakamura", "O'Brien", "Petrov", "Rossi", "Schmidt", "Tanaka", "Weber"]
_TOPICS = ["invoice", "refund", "login", "password reset", "export", "printer", "shipping", "order", "API key",
           "billing address", "subscription", "crash on start", "slow dashboard", "missing email", "2FA"]
_WORDS = ("please could you help me with the account because since yesterday nothing works when I try to "
          "open the page it shows an error and my team cannot finish the monthly report which is due "
          "tomorrow morning thanks a lot for looking into this quickly").split()


@dataclass
class _Thread:
    sender: str
    subject: str
    ids: list[str]


def _paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return textwrap.fill(text.capitalize() + ".", 72)


def varied_messages(n: int, seed: int = 1, *, domain: str = "mail.example.com") -> list[bytes]:
    """*n* reproducible messages: mostly new requests, about a quarter follow-ups
    in an earlier thread (same sender, In-Reply-To their previous message),
    and a few percent auto-replies, list mail and bounces."""
    rng = random.Random(seed)
    threads: list[_Thread] = []
    out: list[bytes] = []
    for i in range(n):
        msgid = f"<v{seed}.{i}.{rng.randrange(10**9)}@{domain}>"
        roll = rng.random()
        date = _DATE + timedelta(seconds=i * 7)
        if roll < 0.02:
            out.append(auto_reply(sender=f"Away {i} <away{i % 97}@example.net>", message_id=msgid))
            continue
        if roll < 0.04:
            out.append(list_mail(message_id=msgid))
            continue
        if roll < 0.05:
            out.append(bounce(f"<unknown{i}@{domain}>", f"gone{i}@example.org", message_id=msgid))
            continue
        if roll < 0.30 and threads:
            thread = rng.choice(threads)
            body = _paragraph(rng, rng.randint(10, 60))
            quoted = "\n".join("> " + line for line in _paragraph(rng, 40).split("\n"))
            raw = customer_mail(
                sender=thread.sender, subject="Re: " + thread.subject, message_id=msgid,
                in_reply_to=thread.ids[-1], references=" ".join(thread.ids[-5:]),
                body=f"{body}\n\nOn Monday you wrote:\n{quoted}\n", date=date,
            )
            thread.ids.append(msgid)
            out.append(raw)
            continue
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        sender = f"\"{first} {last}\" <{first.lower()}.{i}@customer{rng.randrange(500)}.example>"
        sender = sender.encode("ascii", "ignore").decode() if rng.random() < 0.5 else sender
        topic = rng.choice(_TOPICS)
        subject = f"{topic.capitalize()} problem #{i}"
        body = "\n\n".join(_paragraph(rng, rng.randint(15, 80)) for _ in range(rng.randint(1, 4)))
        kind = rng.random()
        if kind < 0.15:
            html = "<html><body>" + "".join(f"<p>{p}</p>" for p in body.split("\n\n")) + \
                   "<ul><li>one</li><li>two</li></ul></body></html>"
            raw = customer_mail(sender=sender, subject=subject, message_id=msgid, body=body, html=html, date=date)
        elif kind < 0.25:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(200, 4000)))
            raw = customer_mail(sender=sender, subject=subject, message_id=msgid, body=body, date=date,
                                attachments=[(f"screenshot-{i}.png", "image/png", data)])
        elif kind < 0.35:
            encoded = base64.b64encode(f"{subject} — ünïcödé ✓".encode()).decode()
            raw = customer_mail(sender=sender, subject=f"=?utf-8?b?{encoded}?=", message_id=msgid,
                                body=body + "\n\nGrüße, Jürgen — 谢谢\n", date=date)
        else:
            raw = customer_mail(sender=sender, subject=subject, message_id=msgid, body=body, date=date,
                                cc=f"colleague{i % 50}@customer.example" if kind > 0.9 else None)
        threads.append(_Thread(sender, subject, [msgid]))
        out.append(raw)
    return out


# --------------------------------------------------------------------------
# Config


def write_config(path: Path, *, database_url: str, imap_port: int | None = None, smtp_port: int | None = None,
                 processed_folder: str = "", signature: str = "-- \n{agent_name}, {desk_name}",
                 display_name: str = "auto", acknowledge: str = "", poll_seconds: int = 60,
                 mailbox: str = "INBOX", assignment: str = "manual", history: str = "import",
                 history_days: int = 0) -> Path:
    """A config file for one desk with one address on the test servers.

    Passwords come from the environment (``IMAP_PASSWORD_ENV`` and
    ``SMTP_PASSWORD_ENV``), so the file holds no secret.
    """
    lines = [
        "[database]", f'url = "{database_url}"', "",
        "[[desks]]", 'slug = "support"', 'name = "Support"', "",
        "[desks.assignment]", f'method = "{assignment}"', "",
        "[[desks.email]]", f'address = "{SUPPORT}"', f'display_name = "{display_name}"',
        f"signature = {_toml_str(signature)}", f'mailbox = "{mailbox}"', f'processed_folder = "{processed_folder}"',
        f"poll_seconds = {poll_seconds}", f"acknowledge = {_toml_str(acknowledge)}",
        f'history = "{history}"', f"history_days = {history_days}", "",
    ]
    if imap_port is not None:
        lines += ["[desks.email.imap]", 'host = "127.0.0.1"', f"port = {imap_port}", 'username = "support"',
                  f'password_env = "{IMAP_PASSWORD_ENV}"', 'security = "none"', ""]
    if smtp_port is not None:
        lines += ["[desks.email.smtp]", 'host = "127.0.0.1"', f"port = {smtp_port}", 'username = ""',
                  'security = "none"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)
    return path


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def fetched(raws: list[bytes], first_uid: int = 1):
    """Raw messages as the IMAP adapter hands them over (for ingest without a server)."""
    from tui_helpdesk.adapters.mail.imap import Fetched

    return [Fetched(first_uid + i, raw, None) for i, raw in enumerate(raws)]
