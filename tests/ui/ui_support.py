"""Helpers shared by the UI tests (imported by name: tests/ui is on sys.path).

The desk they run on comes from tests/desks.py through the ``desk`` fixture.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PAYLOADS = [
    "\x1b]52;c;Y3VybCBldmlsfHNo\x1b\\", "\x1b]0;PWNED\x1b\\", "\x1b[21t", "\x1bP$qm\x1b\\", "\x1b[2J", "\u009b2J",
    "ok\rFAKE", "\x1b]8;;https://evil.example/\x1b\\https://bank.example\x1b]8;;\x1b\\", "invoice\u202efdp.exe",
    "[@click=app.quit]x[/]", '[link="https://evil.example"]Reset[/link]', "[/]", "Re: [/] x", "[@click=]x[/]",
    "trailing backslash \\",
]


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


async def until(pilot, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for *condition* while workers may still run (a dialog awaited by one, a poller)."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {condition}")


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

