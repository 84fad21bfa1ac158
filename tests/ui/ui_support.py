"""Helpers shared by the UI tests (imported by name: tests/ui is on sys.path)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from tui_helpdesk import settings as settings_mod
from tui_helpdesk.domain.model import Status, TicketType

NOW = datetime(2026, 3, 2, 12, 0, 0)

PAYLOADS = [
    "\x1b]52;c;Y3VybCBldmlsfHNo\x1b\\", "\x1b]0;PWNED\x1b\\", "\x1b[21t", "\x1bP$qm\x1b\\", "\x1b[2J", "\u009b2J",
    "ok\rFAKE", "\x1b]8;;https://evil.example/\x1b\\https://bank.example\x1b]8;;\x1b\\", "invoice\u202efdp.exe",
    "[@click=app.quit]x[/]", '[link="https://evil.example"]Reset[/link]', "[/]", "Re: [/] x", "[@click=]x[/]",
    "trailing backslash \\",
]


def fixed_clock() -> datetime:
    return NOW


def db_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def make_settings(path: Path, **changes) -> settings_mod.Settings:
    return replace(settings_mod.load(None, database_url=db_url(path)), **changes)


async def fill_desk(hd, *, tickets: int = 12):
    """ana (admin, first) and ben; *tickets* tickets in every status, channel and type."""
    ana = await hd.agents.identify("ana")
    ben = await hd.agents.add(ana, "ben", name="Ben Okafor", email="ben@example.com")
    await hd.agents.set(ana, "ana", name="Ana Lima")
    ana = await hd.agents.get("ana")
    channels = [("email", TicketType.EMAIL), ("web", TicketType.LIVE_CHAT), ("whatsapp", TicketType.LIVE_CHAT),
                ("messenger", TicketType.LIVE_CHAT), ("api", TicketType.API)]
    statuses = list(Status)
    real_clock = hd.store.clock
    try:
        for i in range(tickets):
            channel, ttype = channels[i % len(channels)]
            at = NOW - timedelta(hours=5 * (tickets - i))
            # Each ticket's later changes happen an hour after it was created.
            hd.store.clock = lambda at=at: at + timedelta(hours=1)
            ticket = await hd.tickets.create(
                subject=f"Order {1000 + i} question", body=f"Hello, this is message {i} about order {1000 + i}.",
                requester_email=f"customer{i}@example.com", requester_name=f"Customer {i:02d}", channel=channel,
                type=ttype, at=at, chatbot_user_id=f"u{i}" if ttype is TicketType.LIVE_CHAT else None,
                tags=["billing"] if i % 4 == 0 else (),
            )
            status = statuses[i % len(statuses)]
            if i % 3 == 0:
                await hd.tickets.assign(ticket.id, "ana", actor=ana)
            elif i % 3 == 1:
                await hd.tickets.assign(ticket.id, "ben", actor=ana)
            if status is Status.ON_CUSTOMER:
                await hd.tickets.reply(ticket.id, f"Thanks, order {1000 + i} ships tomorrow.", actor=ana)
            elif status is not Status.NEW:
                await hd.tickets.set_status(ticket.id, status, actor=ana)
    finally:
        hd.store.clock = real_clock
    return ana, ben


async def settle(pilot, until: Callable[[], bool] | None = None, timeout: float = 5.0) -> None:
    """Let workers finish (and *until* hold), polling the app's loop."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        inbox = getattr(app, "inbox", None)
        ready = inbox is not None and inbox.is_mounted and inbox.loaded
        busy = any(w.is_running and w.group not in ("feed",) for w in app.workers)
        if ready and not busy and (until is None or until()):
            await pilot.pause()
            return
    raise AssertionError(f"timed out waiting for {until}")


def _timed(fn):
    import functools, os, sys
    if not os.environ.get("UI_SETTLE_TRACE"):
        return fn
    @functools.wraps(fn)
    async def wrapper(pilot, until=None, timeout=5.0):
        t = time.monotonic()
        try:
            return await fn(pilot, until, timeout)
        finally:
            print(f"settle {time.monotonic() - t:.2f}s {until}", file=sys.stderr)
    return wrapper


settle = _timed(settle)


def screen_text(app) -> str:
    """The screen as plain text (what a reader sees), from an SVG screenshot."""
    return _svg_text(app.export_screenshot())


def _svg_text(svg: str) -> str:
    import html
    import re

    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3))))
    lines = []
    for y in sorted(rows):
        lines.append("".join(t for _, t in sorted(rows[y])).replace("\xa0", " ").rstrip())
    return "\n".join(lines)


def copy_db(src: Path, dest: Path) -> Path:
    """Copy a closed SQLite database (and its WAL, if one was left) to *dest*."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{src}{suffix}")
        if extra.exists():
            shutil.copy2(extra, Path(f"{dest}{suffix}"))
    return dest
