"""``helpdesk sync``: the channel service — IMAP in, SMTP out, and the chatbot poller.

``helpdesk sync`` runs until stopped (SIGINT/SIGTERM): every configured
mailbox is kept in sync with IDLE (or polling), and the outbox is sent as
replies are queued. ``--once`` does one pass of each mailbox and chatbot desk and
sends what is due (mail and chat replies), for cron and tests. ``--status`` shows each mailbox's state, warnings
(a UIDVALIDITY change), set-aside messages and the outbox.

Progress (count and rate) goes to stderr; the summary to stdout. Only one
process syncs a mailbox at a time (a lease in the database): a second one
reports who holds it and leaves that mailbox alone. The chatbot platform's
poller and chat outbox run here too, so escalations become tickets even when
no terminal is open.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from ..bootstrap import bootstrap
from ..domain.errors import HelpdeskError
from ..domain.text import one_line
from ..services.mail_sync import SyncProgress


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
    settings = load(args)
    hd = await bootstrap(settings)
    try:
        chat = hd.conversations.configured
        if not hd.mail.addresses and not chat:
            raise HelpdeskError("no email address or chatbot platform is configured "
                                "(see [[desks.email]] and [desks.chatbot] in config.example.toml)")
        if args.status:
            return await _status(hd)
        printer = _Printer(args.quiet)
        if args.once:
            failed = False
            if chat and not args.no_receive:
                for slug in hd.conversations.desk_slugs():
                    try:
                        report = await hd.conversations.poll_once(slug)
                    except HelpdeskError as exc:
                        failed = True
                        print(f"chatbot {slug}: error: {one_line(str(exc), 300)}")
                        continue
                    print(f"chatbot {slug}: {report.changed} changed, {len(report.created)} new tickets, "
                          f"{len(report.failed)} failed")
                    failed = failed or bool(report.failed)
            if chat and not args.no_send:
                # Replies queued by the CLI or a closed app would otherwise wait for a long-running sync.
                for slug in hd.conversations.desk_slugs():
                    try:
                        sent = await hd.chat_outbox.send_due_once(slug)
                    except HelpdeskError as exc:
                        failed = True
                        print(f"chat outbox {slug}: error: {one_line(str(exc), 300)}")
                        continue
                    print(f"chat outbox {slug}: " + ("skipped, another process sends for it" if sent is None
                                                     else f"{sent} sent"))
            if not hd.mail.addresses:
                return 1 if failed else 0
            if not args.no_receive:
                for report in await hd.mail.sync_once(printer):
                    if report.busy:
                        print(f"{report.account} {report.mailbox}: skipped, synced by {report.busy}")
                        continue
                    if report.error:
                        failed = True
                        print(f"{report.account} {report.mailbox}: error: {one_line(report.error, 300)}")
                        continue
                    rate = report.fetched / report.seconds if report.seconds else 0
                    print(f"{report.account} {report.mailbox}: {report.fetched} fetched, {report.created} new tickets, "
                          f"{report.entries} messages, {report.duplicates} already known, {report.set_aside} set aside, "
                          f"{report.bounces} bounces, {report.auto} automatic replies in {report.seconds:.1f} s "
                          f"({rate:,.0f} msg/s)")
            if not args.no_send:
                outbox = await hd.outbox.drain()
                print(outbox.line() + (f" (skipped, another process sends for {', '.join(outbox.busy)})"
                                       if outbox.busy else ""))
                for error in outbox.errors:
                    failed = True
                    print(f"outbox: error: {one_line(error, 300)}")
            return 1 if failed else 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        tasks = []
        if chat:
            hd.conversations.start()  # background pollers, stopped by hd.close()
        if not hd.mail.addresses:
            tasks.append(stop.wait())
        elif not args.no_receive:
            tasks.append(hd.mail.run(stop, printer))
        if hd.mail.addresses and not args.no_send:
            tasks.append(hd.outbox.run(stop))
        await asyncio.gather(*tasks)
        return 0
    finally:
        await hd.close()


async def _status(hd) -> int:
    status = await hd.mail.status()
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
    print(f"set aside: {status['set_aside_total']} message(s)")
    for item in aside:
        print(f"  {item.created_at:%Y-%m-%d %H:%M} uid {item.uid} from {one_line(item.from_addr, 60) or '-'} "
              f"{one_line(item.subject, 50)!r}: {one_line(item.reason, 120)} [raw {item.raw_sha256[:12]}]")
    return 0
