"""``helpdesk ai``: draft, polish, translate and summarise from scripts and ``$EDITOR``; usage figures.

``draft`` and ``summarize`` read the ticket; ``polish`` and ``translate`` read
the draft from stdin. The answer streams to stdout as it arrives (cleaned:
model output is untrusted text). Nothing is ever sent to the customer.
"""

from __future__ import annotations

import argparse
import sys

from ..domain.ai import Action
from ..domain.errors import UsageError
from ..domain.text import clean

TONES = {"friendlier": "friendlier", "formal": "more formal", "shorter": "shorter"}


def add_arguments(sub) -> None:
    from .main import _Parser, _ticket_id

    a = sub.add_parser("ai", help="AI compose, summaries and usage").add_subparsers(
        dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    x = a.add_parser("draft", help="draft a reply to a ticket from its conversation")
    x.add_argument("ticket", type=_ticket_id)
    x.add_argument("--instruction", default="", help='one line for the model, e.g. "mention the refund policy"')
    x.add_argument("--to", metavar="LANG", help="write in this language (default: the customer's)")
    x.add_argument("--json", action="store_true")
    x = a.add_parser("polish", help="polish the draft read from stdin")
    x.add_argument("ticket", type=_ticket_id)
    x.add_argument("--tone", choices=sorted(TONES), help="friendlier, formal or shorter")
    x.add_argument("--instruction", default="")
    x.add_argument("--json", action="store_true")
    x = a.add_parser("translate", help="translate the draft read from stdin into the customer's language")
    x.add_argument("ticket", type=_ticket_id)
    x.add_argument("--to", metavar="LANG", help="the target language (default: the customer's)")
    x.add_argument("--json", action="store_true")
    x = a.add_parser("summarize", help="summarise a ticket as an internal note (only when it changed)")
    x.add_argument("ticket", type=_ticket_id)
    x.add_argument("--json", action="store_true")
    x = a.add_parser("language", help="show or override the customer's language of a ticket")
    x.add_argument("ticket", type=_ticket_id)
    x.add_argument("code", nargs="?", help="a language code (fr, pt-BR), or 'auto' to go back to the detected one")
    x.add_argument("--json", action="store_true")
    x = a.add_parser("usage", help="AI calls, tokens and time by action, agent, desk and model")
    x.add_argument("--since", default="7d", help="7d, 12h, 2w or a date (default 7d)")
    x.add_argument("--json", action="store_true")


async def dispatch(args: argparse.Namespace, open_desk) -> int:
    hd, me = await open_desk(args)
    try:
        return await _run(hd, me, args)
    finally:
        await hd.close()


async def _run(hd, me, args) -> int:
    from .commands import _dump

    ai = hd.ai
    if args.action == "usage":
        from ..services.ai.service import since

        async with hd.store.read() as tx:
            start = since(args.since, tx.now())
        rows = await ai.usage(start)
        if args.json:
            _dump({"since": start.isoformat() + "Z", "usage": [
                {"action": r.action, "agent": r.agent or None, "desk": r.desk or None, "model": r.model,
                 "calls": r.calls, "failed": r.failed, "prompt_tokens": r.prompt_tokens,
                 "completion_tokens": r.completion_tokens, "ms": r.ms} for r in rows]})
            return 0
        print(f"since {start:%Y-%m-%d %H:%M} UTC")
        for r in rows:
            print(f"{r.action:<18} {r.agent or '-':<12} {r.desk or '-':<10} {r.model:<20} {r.calls:>5} calls "
                  f"{r.failed:>3} failed {r.prompt_tokens + r.completion_tokens:>8} tokens {r.ms / 1000:>8.1f} s")
        if not rows:
            print("no AI calls")
        return 0
    if args.action == "language":
        ticket = await hd.tickets.get(args.ticket)
        if args.code:
            await ai.set_customer_language(ticket.id, None if args.code == "auto" else args.code, me)
        code = await ai.customer_language(ticket)
        _dump({"ticket": ticket.id, "language": code}) if args.json else print(code or "unknown")
        return 0
    if args.action == "summarize":
        stream = None if args.json else (lambda chunk: _out(chunk))
        result = await ai.summarize(args.ticket, me, on_chunk=stream)
        if args.json:
            _dump({"ticket": args.ticket, "summary": result.text, "regenerated": result.regenerated})
        elif not result.regenerated:
            print(clean(result.text))
            print("(unchanged since the last summary)", file=sys.stderr)
        else:
            print()
        return 0
    draft = ""
    if args.action in ("polish", "translate"):
        if sys.stdin.isatty():
            raise UsageError(f"ai {args.action} reads the draft from stdin (e.g. helpdesk ai {args.action} 12 < draft.txt)")
        draft = sys.stdin.read()
    action = {"draft": Action.DRAFT, "polish": Action.POLISH, "translate": Action.TRANSLATE}[args.action]
    chunks: list[str] = []
    async for chunk in ai.compose(action, args.ticket, me, draft=draft, tone=TONES.get(getattr(args, "tone", None) or "", ""),
                                  instruction=getattr(args, "instruction", "") or "", to=getattr(args, "to", None)):
        chunks.append(chunk)
        if not args.json:
            _out(chunk)
    text = clean("".join(chunks)).strip()
    if args.json:
        _dump({"ticket": args.ticket, "action": args.action, "text": text})
    else:
        print()
    return 0


def _out(chunk: str) -> None:
    sys.stdout.write(clean(chunk))
    sys.stdout.flush()
