"""``helpdesk mail``: the mail that became no ticket entry; ``ticket split``/``merge``: fixing threading.

``mail set-aside`` pages through the set-aside messages (newest first, with
their reason), ``mail show ID`` shows one parsed (``--raw``: the message as it
arrived), ``mail release ID`` makes it a ticket after all, through the normal
threading, with no acknowledgement. ``ticket split ENTRY`` splits a customer
message off into a new ticket; ``ticket merge ID INTO`` merges ticket ID into
ticket INTO (one requester's).
"""

from __future__ import annotations

import argparse
import sys

from ..domain.errors import UsageError
from ..domain.text import clean, one_line


def add_arguments(sub) -> None:
    """Register ``helpdesk mail ...`` on the top-level subparsers *sub*."""
    from .main import _Parser

    m = sub.add_parser("mail", help="set-aside mail: list, show, release").add_subparsers(
        dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    x = m.add_parser("set-aside", help="messages that became no ticket entry, newest first, with the reason")
    x.add_argument("--limit", type=int, default=50)
    where = x.add_mutually_exclusive_group()
    where.add_argument("--cursor", type=_positive, help="continue after this id (the next_cursor of a page)")
    where.add_argument("--offset", type=int, default=0, help="skip this many")
    x.add_argument("--all", action="store_true", help="include the ones already released into tickets")
    x.add_argument("--json", action="store_true")
    x = m.add_parser("show", help="show one set-aside message (parsed; --raw: as it arrived)")
    x.add_argument("id", type=_positive)
    x.add_argument("--raw", action="store_true", help="the message as it arrived (exact bytes when piped)")
    x.add_argument("--json", action="store_true")
    x = m.add_parser("release", help="make a set-aside message a ticket after all (no acknowledgement)")
    x.add_argument("id", type=_positive)
    x.add_argument("--json", action="store_true")


def add_ticket_arguments(t) -> None:
    """Register ``helpdesk ticket split`` and ``ticket merge`` on the ticket subparsers *t*."""
    x = t.add_parser("split", help="split a customer message off into a new ticket")
    x.add_argument("entry", type=_positive, metavar="ENTRY", help="the timeline entry id (ticket show --json)")
    x.add_argument("--json", action="store_true")
    x = t.add_parser("merge", help="merge ticket ID into ticket INTO (one requester's); ID is closed")
    x.add_argument("id", type=_ticket_ref, metavar="ID")
    x.add_argument("into", type=_ticket_ref, metavar="INTO")
    x.add_argument("--json", action="store_true")


def _ticket_ref(text: str) -> int:
    value = text.lstrip("#")
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a ticket id (like 123 or #123)")
    return int(value)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not an id (a positive number)")
    return int(text)


def _iso(at) -> str | None:
    return at.isoformat() + "Z" if at else None


def item_json(a) -> dict:
    return {"id": a.id, "account": a.account, "mailbox": a.mailbox, "uidvalidity": a.uidvalidity, "uid": a.uid,
            "message_id": a.message_id, "from": a.from_addr, "subject": a.subject, "reason": a.reason,
            "raw_sha256": a.raw_sha256, "size": a.size, "released_into": a.ticket_id,
            "created_at": _iso(a.created_at)}


def item_line(a) -> str:
    released = f" → #{a.ticket_id}" if a.ticket_id else ""
    return (f"{a.id:>6}  {a.created_at:%Y-%m-%d %H:%M}  {one_line(a.from_addr, 40) or '-':<40}  "
            f"{one_line(a.subject, 50)!r}: {one_line(a.reason, 120)}{released}")


async def mail_set_aside(hd, me, args) -> int:
    page = await hd.mail.set_aside.page(limit=args.limit, cursor=args.cursor, offset=args.offset,
                                        released=args.all)
    if args.json:
        _dump({"total": page.total, "next_cursor": page.next_cursor, "items": [item_json(a) for a in page.items]})
        return 0
    for a in page.items:
        print(item_line(a))
    shown = len(page.items)
    print(f"{shown} of {page.total} set-aside message(s)" + (" (released ones included)" if args.all else "")
          + (f"; more: helpdesk mail set-aside --cursor {page.next_cursor}" if page.next_cursor else ""),
          file=sys.stderr)
    return 0


async def mail_show(hd, me, args) -> int:
    message = await hd.mail.set_aside.get(args.id)
    if args.raw and not args.json:
        if message.raw is None:
            raise UsageError(f"set-aside message {args.id} was never fetched: there is no raw message")
        if sys.stdout.isatty():
            # Mail is untrusted: escape sequences must not reach a terminal.
            print(clean(message.raw.decode("utf-8", "replace")))
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(message.raw)
        return 0
    data = show_json(message)
    if args.json:
        if args.raw and message.raw is not None:
            data["raw"] = message.raw.decode("utf-8", "surrogateescape").encode("utf-8", "replace").decode("utf-8")
        _dump(data)
        return 0
    a = message.item
    print(item_line(a))
    print(f"from {a.account} {a.mailbox} UID {a.uid}, {a.size:,} bytes")
    p = message.parsed
    if p is None:
        print("(never fetched from the server: nothing more is known)")
        return 0
    print(f"From: {one_line(p.from_name)} <{p.from_addr or '-'}>")
    print(f"To: {one_line(', '.join(p.to), 300)}")
    print(f"Subject: {one_line(p.subject)}")
    print(f"Date: {p.date.isoformat() if p.date else '-'}")
    print(f"Message-ID: {one_line(p.message_id or '-')}")
    print(f"Looks like: {message.kind.kind} ({one_line(message.kind.reason, 200)})")
    for att in p.attachments:
        print(f"Attachment: {one_line(att.filename, 100) or '(unnamed)'} {att.content_type} {att.size:,} bytes")
    print()
    print(clean(p.body_text))
    if a.ticket_id:
        print(f"\nreleased into ticket #{a.ticket_id}")
    else:
        print(f"\nto make it a ticket: helpdesk mail release {a.id}")
    return 0


def show_json(message) -> dict:
    data = item_json(message.item)
    p = message.parsed
    data["parsed"] = None if p is None else {
        "from": p.from_addr, "from_name": p.from_name, "to": list(p.to), "cc": list(p.cc), "subject": p.subject,
        "date": p.date.isoformat() if p.date else None, "message_id": p.message_id,
        "classified": {"kind": message.kind.kind, "reason": message.kind.reason},
        "body": p.body_text, "quoted": p.quoted_text, "problems": list(p.problems),
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size}
                        for a in p.attachments],
    }
    return data


async def mail_release(hd, me, args) -> int:
    ticket_id = await hd.mail.set_aside.release(args.id, me.login)
    if args.json:
        _dump({"id": args.id, "ticket_id": ticket_id})
    else:
        print(f"set-aside message {args.id} is now on ticket #{ticket_id}")
    return 0


async def ticket_split(hd, me, args) -> int:
    new_id = await hd.threads.split(args.entry, actor=me)
    if args.json:
        _dump({"entry": args.entry, "ticket_id": new_id})
    else:
        print(f"entry {args.entry} is now ticket #{new_id}")
    return 0


async def ticket_merge(hd, me, args) -> int:
    into = await hd.threads.merge(args.id, args.into, actor=me)
    if args.json:
        _dump({"merged": args.id, "into": into})
    else:
        print(f"#{args.id} merged into #{into} (and closed)")
    return 0


def _dump(data) -> None:
    from .main import dump_json

    dump_json(data)


HANDLERS = {
    ("mail", "set-aside"): mail_set_aside, ("mail", "show"): mail_show, ("mail", "release"): mail_release,
    ("ticket", "split"): ticket_split, ("ticket", "merge"): ticket_merge,
}
