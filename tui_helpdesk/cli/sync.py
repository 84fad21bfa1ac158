"""``helpdesk sync``: the channel service — IMAP in, SMTP out, and the chatbot poller.

``helpdesk sync`` runs until stopped (SIGINT/SIGTERM): every configured
mailbox is kept in sync with IDLE (or polling), and the outbox is sent as
replies are queued. ``--once`` does one pass of each mailbox and chatbot desk and
sends what is due (mail and chat replies), for cron and tests. ``--status`` shows each mailbox's state, warnings
(a UIDVALIDITY change), set-aside messages and the outbox.

Progress (count and rate) goes to stderr; the summary to stdout. With
``--json``, ``--once`` and ``--status`` print one JSON document instead and
nothing on stderr (warnings and errors are in the document). Only one
process syncs a mailbox at a time (a lease in the database): a second one
reports who holds it and leaves that mailbox alone. The chatbot platform's
poller and chat outbox run here too, so escalations become tickets even when
no terminal is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time

from ..bootstrap import bootstrap
from ..domain.errors import HelpdeskError, UsageError
from ..domain.text import one_line
from ..services.mail_sync import SyncProgress
from .main import dump_json


class _Printer:
    """Progress lines on stderr: rewritten in place on a terminal, throttled otherwise."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p: SyncProgress) -> None:
        if self.quiet and p.phase not in ("warning", "error", "busy"):
            return
        now = time.monotonic()
        if p.phase == "syncing" and p.done not in (0, p.total) and now - self.last < (0.2 if self.tty else 2.0):
            return
        self.last = now
        line = one_line(p.line(), 300)
        if self.tty and p.phase == "syncing":
            print(f"\r{line}\x1b[K", end="", file=sys.stderr, flush=True)
            return
        if self.tty:
            print("\r\x1b[K", end="", file=sys.stderr)
        prefix = "warning: " if p.phase == "warning" else ""
        print(f"helpdesk: {prefix}{line}", file=sys.stderr, flush=True)


async def sync(args, load) -> int:
    if args.json and not (args.once or args.status):
        raise UsageError("--json needs --once or --status (the running service has no single document to print)")
    settings = load(args)
    hd = await bootstrap(settings)
    try:
        if not args.json:
            for note in hd.notes:  # a one-time settings import, said once
                print(f"helpdesk: {note}", file=sys.stderr)
        chat = hd.conversations.configured
        hooks = await hd.webhooks.configured()
        # A desk switched off still counts: switching it on in the app starts its channels here.
        if not any(d.emails or d.chatbot.base_url for d in hd.settings.desks) and not hooks:
            raise HelpdeskError("no email address, chatbot platform or webhook is configured "
                                "(see [[desks.email]] and [desks.chatbot] in config.example.toml, "
                                "and helpdesk webhook add)")
        if args.status:
            return await _status(hd, args.json)
        if args.once:
            return await _once(hd, args, chat, hooks)
        printer = _Printer(args.quiet)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        seq = await hd.feed.latest()
        for address in hd.mail.no_password:
            print(f"helpdesk: warning: {address}: no IMAP password in this process's config; "
                  "its mail is not fetched here", file=sys.stderr, flush=True)
        # Webhooks, under their lease (`helpdesk api serve` may be sending them instead),
        # whatever happens to the desks' settings.
        hooks_task = asyncio.ensure_future(hd.webhooks.run(stop)) if not args.no_send else None
        while not stop.is_set():
            # One round per set of settings: a change to the accounts ends the round,
            # the channels are rebuilt, and the next round reconnects with the new ones.
            round_stop = asyncio.Event()
            tasks = []
            if hd.conversations.configured:
                hd.conversations.start()  # background pollers, stopped by aclose() or hd.close()
            if hd.mail.addresses and not args.no_receive:
                tasks.append(asyncio.ensure_future(hd.mail.run(round_stop, printer)))
            if hd.mail.addresses and not args.no_send:
                tasks.append(asyncio.ensure_future(hd.outbox.run(round_stop)))
            seq, new, changed = await _watch(hd, stop, seq, args.quiet)
            round_stop.set()
            await asyncio.gather(*tasks)
            if changed:
                await hd.apply_settings(new, changed)
                if not args.quiet:
                    print(f"helpdesk: desk settings changed ({', '.join(sorted(changed))}); reconnecting",
                          file=sys.stderr, flush=True)
        if hooks_task is not None:
            await hooks_task
        return 0
    finally:
        await hd.close()


# How often the service looks at the change feed, hands out waiting tickets, and ends holds.
WATCH_SECONDS = 0.3
HAND_OUT_SECONDS = 10.0
HOLD_CHECK_SECONDS = 30.0


async def _watch(hd, stop: asyncio.Event, seq: int, quiet: bool):
    """Follow the change feed until *stop*, or until a settings change touches the channels.

    Returns (feed position, the new settings, the channels they change). A
    change that leaves the accounts alone (assignment, shifts) applies at once.
    Every few seconds, waiting unassigned tickets go to whoever can take them,
    and tickets On hold whose time has come go back to On you (the app does
    both too, so they happen on time whether or not a terminal is open).
    """
    loop = asyncio.get_running_loop()
    next_hand_out = next_hold_check = loop.time()
    while not stop.is_set():
        try:
            if loop.time() >= next_hold_check:
                next_hold_check = loop.time() + HOLD_CHECK_SECONDS
                await hd.tickets.wake_held()
            if loop.time() >= next_hand_out:
                next_hand_out = loop.time() + HAND_OUT_SECONDS
                await hd.assignment.hand_out()
            changes, seq = await hd.feed.since(seq)
            if any(c.kind == "settings" for c in changes):
                new, changed = await hd.pending_settings()
                if changed:
                    return seq, new, changed
                await hd.apply_settings(new, changed)
            if any(c.kind in ("settings", "agent") for c in changes):
                next_hand_out = loop.time()  # someone may have come on shift or below the cap
        except HelpdeskError as exc:
            if not quiet:
                print(f"helpdesk: warning: {one_line(str(exc), 300)}", file=sys.stderr, flush=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), WATCH_SECONDS)
    return seq, None, set()


async def _once(hd, args, chat: bool, hooks: bool = False) -> int:
    """One pass of the chatbot poller, the mailboxes and the outbox; text lines, or one JSON document."""
    # With --json the document is the whole output: warnings and errors are in it, not on stderr.
    say = (lambda text: None) if args.json else print
    progress = (lambda p: None) if args.json else _Printer(args.quiet)
    failed = False
    out: dict = {"chatbot": [], "chat_outbox": [], "mailboxes": [], "outbox": None, "webhooks": None,
                 "back_from_hold": await hd.tickets.wake_held()}
    if out["back_from_hold"]:
        say(f"on hold: {out['back_from_hold']} ticket(s) back to On you, their time had come")
    # Waiting tickets go to whoever came on shift since the last pass (cron runs this).
    await hd.assignment.hand_out()
    if chat and not args.no_receive:
        for slug in hd.conversations.desk_slugs():
            try:
                report = await hd.conversations.poll_once(slug)
            except HelpdeskError as exc:
                failed = True
                out["chatbot"].append({"desk": slug, "changed": 0, "created": 0, "failed": 0, "error": str(exc)})
                say(f"chatbot {slug}: error: {one_line(str(exc), 300)}")
                continue
            out["chatbot"].append({"desk": slug, "changed": report.changed, "created": len(report.created),
                                   "failed": len(report.failed), "error": None})
            say(f"chatbot {slug}: {report.changed} changed, {len(report.created)} new tickets, "
                f"{len(report.failed)} failed")
            failed = failed or bool(report.failed)
    if chat and not args.no_send:
        # Replies queued by the CLI or a closed app would otherwise wait for a long-running sync.
        for slug in hd.conversations.desk_slugs():
            try:
                sent = await hd.chat_outbox.send_due_once(slug)
            except HelpdeskError as exc:
                failed = True
                out["chat_outbox"].append({"desk": slug, "sent": 0, "busy": False, "error": str(exc)})
                say(f"chat outbox {slug}: error: {one_line(str(exc), 300)}")
                continue
            out["chat_outbox"].append({"desk": slug, "sent": sent or 0, "busy": sent is None, "error": None})
            say(f"chat outbox {slug}: " + ("skipped, another process sends for it" if sent is None else f"{sent} sent"))
    if hd.mail.addresses and not args.no_receive:
        for address in hd.mail.no_password:
            failed = True
            error = "no IMAP password in this process's config (password_env or password_command, by address)"
            out["mailboxes"].append({"account": address, "mailbox": None, "error": error})
            say(f"{address}: error: {error}")
        for report in await hd.mail.sync_once(progress):
            out["mailboxes"].append(_report_json(report))
            if report.busy:
                say(f"{report.account} {report.mailbox}: skipped, synced by {report.busy}")
                continue
            if report.error:
                failed = True
                say(f"{report.account} {report.mailbox}: error: {one_line(report.error, 300)}")
                continue
            rate = report.fetched / report.seconds if report.seconds else 0
            say(f"{report.account} {report.mailbox}: {report.fetched} fetched, {report.created} new tickets, "
                f"{report.entries} messages, {report.duplicates} already known, {report.set_aside} set aside, "
                f"{report.bounces} bounces, {report.auto} automatic replies in {report.seconds:.1f} s "
                f"({rate:,.0f} msg/s)")
            if report.first_contact or report.history or report.history_left:
                say(f"{report.account} {report.mailbox}: " + history_line(report))
    if hd.mail.addresses and not args.no_send:
        outbox = await hd.outbox.drain()
        out["outbox"] = {"sent": outbox.sent, "retrying": outbox.retrying, "failed": outbox.failed,
                         "unknown": outbox.unknown, "suppressed": outbox.suppressed, "busy": list(outbox.busy),
                         "errors": list(outbox.errors)}
        say(outbox.line() + (f" (skipped, another process sends for {', '.join(outbox.busy)})"
                             if outbox.busy else ""))
        for error in outbox.errors:
            failed = True
            say(f"outbox: error: {one_line(error, 300)}")
    if hooks and not args.no_send:
        report, holder = await hd.webhooks.drain()
        out["webhooks"] = {"sent": report.sent, "retrying": report.retrying, "failed": report.failed,
                           "busy": holder}
        say(f"webhooks: {report.sent} sent, {report.retrying} retrying, {report.failed} failed"
            + (f" (skipped, {holder} sends them)" if holder else ""))
    if args.json:
        dump_json(out)
    return 1 if failed else 0


def _report_json(report) -> dict:
    return {"account": report.account, "mailbox": report.mailbox, "fetched": report.fetched,
            "created": report.created, "entries": report.entries, "duplicates": report.duplicates,
            "set_aside": report.set_aside, "bounces": report.bounces, "auto": report.auto,
            "seconds": round(report.seconds, 3), "warning": report.warning, "error": report.error,
            "busy": report.busy, "first_contact": report.first_contact, "history": report.history,
            "history_left": report.history_left}


def history_line(report) -> str:
    """What the sync did with mail that was there before the desk (first contact) or already read."""
    first = "first sync of this mailbox: " if report.first_contact else ""
    parts = [f"{report.history} message(s) imported as history, without acknowledgements"]
    if report.history_left:
        parts.append(f"{report.history_left} older message(s) left on the server untouched (history settings)")
    return first + "; ".join(parts)


async def _status(hd, as_json: bool = False) -> int:
    status = await hd.mail.status()
    if as_json:
        dump_json({
            "mailboxes": [{"account": s.account, "mailbox": s.mailbox, "messages": s.messages,
                           "last_uid": s.last_uid, "uidvalidity": s.uidvalidity,
                           "last_sync_at": _iso(s.last_sync_at), "last_error": s.last_error,
                           "warning": s.warning, "warning_at": _iso(s.warning_at)} for s in status["mailboxes"]],
            "outbox": dict(sorted(status["outbox"].items())),
            "set_aside_total": status["set_aside_total"],
            "set_aside_all": "helpdesk mail set-aside --json",
            "set_aside": [{"id": a.id, "account": a.account, "mailbox": a.mailbox, "uid": a.uid,
                           "message_id": a.message_id, "from": a.from_addr, "subject": a.subject,
                           "reason": a.reason, "raw_sha256": a.raw_sha256, "size": a.size,
                           "ticket_id": a.ticket_id, "created_at": _iso(a.created_at)} for a in status["set_aside"]],
        })
        return 0
    for state in status["mailboxes"]:
        when = state.last_sync_at.strftime("%Y-%m-%d %H:%M") if state.last_sync_at else "never"
        print(f"{state.account} {state.mailbox}: {state.messages:,} messages, last UID {state.last_uid}, "
              f"UIDVALIDITY {state.uidvalidity}, last sync {when}")
        if state.warning:
            print(f"  warning: {one_line(state.warning, 400)}")
        if state.last_error:
            print(f"  last error: {one_line(state.last_error, 300)}")
    counts = status["outbox"]
    print("outbox: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty"))
    aside = status["set_aside"]
    total = status["set_aside_total"]
    more = f", newest {len(aside)} below; all: helpdesk mail set-aside" if total > len(aside) else ""
    print(f"set aside: {total} message(s){more}")
    for item in aside:
        print(f"  {item.id:>5} {item.created_at:%Y-%m-%d %H:%M} uid {item.uid} from {one_line(item.from_addr, 60) or '-'} "
              f"{one_line(item.subject, 50)!r}: {one_line(item.reason, 120)} [raw {item.raw_sha256[:12]}]")
    return 0


def _iso(at) -> str | None:
    return at.isoformat() + "Z" if at else None
