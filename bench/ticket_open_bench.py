"""Benchmark: opening a 200-entry ticket, from pushing ``TicketScreen`` to its first complete frame.

    python bench/ticket_open_bench.py                 # 21 timed opens after 2 warm-ups
    python bench/ticket_open_bench.py --runs 41 --entries 500 --profile
    python bench/ticket_open_bench.py --gc-freeze     # as an app that gc.freeze()s after starting

Builds a fixed desk on a temporary SQLite file (one ticket with 200 entries of
every kind: customer messages with quoted history and attachments, replies,
notes with mentions, events; the requester's earlier tickets; a few agents;
a reply draft), then runs a headless app at 160x50 and, for each run, pushes
a ``TicketScreen`` and waits for the first frame the screen composes once its
ticket is on it (header, timeline at the newest entry, details). Every frame
is also turned into terminal output, as a real terminal would need.

Figures (milliseconds, median of the timed runs, with min and max):

- **open**: push to the first complete frame of the ticket screen;
- **floor**: push to the first frame of an empty ``Screen`` in the same app,
  the same way (what any screen costs: the push, a layout, frame pacing);
- **db**: the reads the screen needs for that frame, run alone;
- **cpu**: process CPU time (every thread) from the push to that frame;
- **gc**: of the open, time spent in Python's garbage collector; **gc'**: in
  the 0.3 s after the frame (the screen holds the collector off until its first
  frame is out, so a full collection lands after it rather than before);
- **settled**: push to the last frame the open composed (within its first 0.3 s);
- **frames**: frames the screen composed in its first 0.3 s.

A line lists every timed open, sorted, with the garbage collection in it.
Targets: open at most 80 ms, settled at most 100 ms (medians), at most 2 frames. The figures move with the machine's load:
on a shared 2-core VM the same code measured 50 to 90 ms median from one minute
to the next; compare runs made back to back. ``--profile`` prints a
pyinstrument profile of one more open (``pip install pyinstrument``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 80.0
TARGET_SETTLED_MS = 100.0
TARGET_FRAMES = 2
START = datetime(2026, 3, 2, 9, 0, 0)
WORDS = ("refund order invoice printer delivery account password shipping label warranty screen battery "
         "charge payment address update cancel return replacement courier tracking number please thanks "
         "again still waiting today tomorrow week").split()


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


async def build(db: Path, entries: int) -> tuple[int, str]:
    """The fixed desk; returns (ticket id, the login of the agent at the keyboard)."""
    from tui_helpdesk.bootstrap import bootstrap
    from tui_helpdesk.domain.model import EntryKind, TicketType
    from tui_helpdesk.services.composer import ComposerService
    from tui_helpdesk.settings import Settings

    rng = random.Random(7)
    clock = Clock(START - timedelta(days=30))
    hd = await bootstrap(Settings(database_url=f"sqlite+aiosqlite:///{db}"), clock=clock)
    try:
        ann = await hd.agents.identify("ann")
        ann = await hd.agents.set(ann, "ann", name="Ann Lee")
        bob = await hd.agents.add(ann, "bob", name="Bob Brown")
        for login in ("cat", "dan", "eve"):
            await hd.agents.add(ann, login, name=login.capitalize() + " Example")
        for i in range(8):  # the requester's earlier tickets
            await hd.tickets.create(subject=f"Earlier question {i}: {_sentence(rng, 5)}", body=_sentence(rng, 20),
                                    requester_email="cy@example.com", requester_name="Cy Young", channel="email",
                                    type=TicketType.EMAIL)
        ticket = await hd.tickets.create(
            subject="Refund for order 4521 not received", body=_sentence(rng, 40),
            requester_email="cy@example.com", requester_name="Cy Young", channel="email", type=TicketType.EMAIL,
            language="en", tags=["billing", "refund"], summary="Cy paid twice for order 4521 and wants one back.")
        await hd.tickets.assign(ticket.id, "ann", actor=ann)
        async with hd.store.write() as tx:
            for i in range(entries - 3):  # the ticket already has a message and two events
                clock.now += timedelta(minutes=rng.randint(5, 300))
                kind = (EntryKind.MESSAGE, EntryKind.REPLY, EntryKind.NOTE, EntryKind.EVENT)[i % 4]
                meta: dict = {}
                if kind is EntryKind.EVENT:
                    body = f"Status changed to On you by Bob Brown ({i})"
                elif kind is EntryKind.NOTE:
                    body = f"@ann {_sentence(rng, 25)}\n{_sentence(rng, 10)}"
                else:
                    paragraphs = [_sentence(rng, rng.randint(8, 60)) for _ in range(rng.randint(1, 4))]
                    body = f"Entry {i + 1}. " + "\n\n".join(paragraphs)
                if kind is EntryKind.MESSAGE and i % 8 == 0:
                    meta["quoted"] = "On Monday, Support wrote:\n" + "\n".join(
                        f"> {_sentence(rng, 12)}" for _ in range(rng.randint(3, 30)))
                if kind is EntryKind.MESSAGE and i % 12 == 0:
                    meta["attachments"] = [{"filename": f"scan-{i}.pdf", "size": 1000 + i * 37,
                                            "sha256": f"{i:064x}", "content_type": "application/pdf"}]
                author = "Cy Young" if kind is EntryKind.MESSAGE else "Bob Brown"
                await tx.insert_entry(ticket_id=ticket.id, kind=kind, body=body, author_name=author,
                                      author_agent_id=bob.id if kind in (EntryKind.REPLY, EntryKind.NOTE) else None,
                                      meta=meta, at=clock.now)
        clock.now = START
        await ComposerService(hd.store).save_draft(ann, ticket.id, "reply", "Hi Cy,\n\nthanks for waiting", 0)
        return ticket.id, "ann"
    finally:
        await hd.close()


async def db_reads(hd, ticket_id: int, me) -> None:
    """What the screen reads before its first frame (the same call as TicketScreen)."""
    from tui_helpdesk.services.composer import ComposerService
    from tui_helpdesk.ui.ticket.loading import FIRST_PAGE

    await ComposerService(hd.store).first_view(me, ticket_id, FIRST_PAGE)


def _cpu() -> float:
    return time.process_time()


async def run(db: Path, ticket_id: int, login: str, runs: int, warmups: int, profile: bool, check: bool,
              freeze: bool = False) -> dict:
    from textual.app import App
    from textual.screen import Screen
    from textual.widgets import Static

    from tui_helpdesk.bootstrap import bootstrap
    from tui_helpdesk.settings import Settings
    from tui_helpdesk.ui.ticket.screen import TicketScreen
    from tui_helpdesk.ui.widgets.keybar import KeyBar

    hd = await bootstrap(Settings(database_url=f"sqlite+aiosqlite:///{db}"), clock=Clock(START))
    me = await hd.agents.identify(login)

    class BenchApp(App):
        pass

    class Empty(Screen):
        def compose(self):
            yield Static("empty")

    app = BenchApp()
    state: dict = {"target": None, "at": None, "frames": 0, "ready": None, "gc": 0.0, "gc_after": 0.0,
                   "gc_start": 0.0}
    results: dict = {"open": [], "floor": [], "db": [], "cpu": [], "frames": [], "gc": [], "gc_after": [],
                     "settled": []}

    def on_gc(phase: str, info: dict) -> None:  # time spent collecting garbage, before and after the frame
        if phase == "start":
            state["gc_start"] = time.perf_counter()
        else:
            state["gc" if state["at"] is None else "gc_after"] += time.perf_counter() - state["gc_start"]

    gc.callbacks.append(on_gc)

    async with app.run_test(size=(160, 50)) as pilot:
        original = app._display

        def display(screen, renderable) -> None:
            if renderable is not None and not app._batch_count:
                renderable.render_segments(app.console)  # what a real terminal would be sent
                if screen is state["target"]:
                    state["frames"] += 1
                    state["last"] = time.perf_counter()
                    if state["at"] is None and state["ready"](screen):
                        state["at"] = time.perf_counter()
            original(screen, renderable)

        app._display = display

        async def measure(make, ready) -> tuple[float, float, Screen]:
            state.update(at=None, frames=0, ready=ready, gc=0.0, gc_after=0.0, last=None)
            cpu0, t0 = _cpu(), time.perf_counter()
            state["t0"] = t0
            screen = state["target"] = make()  # building the screen counts too
            await app.push_screen(screen)
            while state["at"] is None:
                await asyncio.sleep(0)
                if time.perf_counter() - t0 > 10:
                    raise SystemExit("no complete frame within 10 s")
            elapsed = (state["at"] - t0) * 1000
            cpu = (_cpu() - cpu0) * 1000
            state["gc_ms"] = state["gc"] * 1000
            return elapsed, cpu, screen

        async def settle(screen) -> None:
            await asyncio.sleep(0.05)
            await app.pop_screen()
            while screen.is_attached:
                await asyncio.sleep(0.005)
            await pilot.pause()

        def ticket_ready(screen) -> bool:
            # The ticket is on it and the timeline shows the newest entry (not a frame from before a
            # layout change, such as the composer opening on a draft, that still has to scroll).
            # The key bar has its keys.
            timeline = screen.timeline
            return (screen.shown and bool(timeline.blocks)
                    and timeline.scroll_y == timeline.max_scroll_y
                    and timeline.virtual_size.height >= timeline.scrollable_content_region.height > 0
                    and bool(screen.query_one(KeyBar).keys))

        if freeze:
            gc.collect()
            gc.freeze()  # what an app can do once it has started: later collections skip all of this
        for i in range(warmups + runs):
            elapsed, cpu, screen = await measure(lambda: TicketScreen(hd, me, ticket_id), ticket_ready)
            if check and i == 0:
                text = "\n".join("".join(s.text for s in strip) for strip in screen._compositor.render_strips())
                newest = screen.timeline.entries[-1].body[:30]
                assert "Refund for order 4521" in text, "the header is not on the first frame"
                assert newest.split("\n")[0][:20] in text, "the newest entry is not on the first frame:\n" + text
            await asyncio.sleep(0.3)  # let the rest of the open finish, to count its frames
            if i >= warmups:
                results["open"].append(elapsed)
                results["gc"].append(state["gc_ms"])
                results["cpu"].append(cpu)
                results["frames"].append(state["frames"])
                results["settled"].append((state["last"] - state["t0"]) * 1000)
                results["gc_after"].append(state["gc_after"] * 1000)
            await settle(screen)

            elapsed, _, screen = await measure(Empty, lambda screen: True)
            if i >= warmups:
                results["floor"].append(elapsed)
            await settle(screen)

            t0 = time.perf_counter()
            await db_reads(hd, ticket_id, me)
            if i >= warmups:
                results["db"].append((time.perf_counter() - t0) * 1000)

        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="enabled")
            profiler.start()
            elapsed, _, screen = await measure(lambda: TicketScreen(hd, me, ticket_id), ticket_ready)
            await asyncio.sleep(0.3)
            profiler.stop()
            await settle(screen)
            print(profiler.output_text(unicode=True, color=False, show_all=profile == "all"))
            print(f"(profiled open: {elapsed:.1f} ms)")
    await hd.close()
    return results


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f}   (min {min(values):6.1f}, max {max(values):6.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--profile", nargs="?", const="short", choices=("short", "all"),
                        help="profile one more open with pyinstrument ('all': with library frames)")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once the app has started (full collections then skip the startup heap)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ticket-bench-") as tmp:
        db = Path(tmp) / "desk.db"
        ticket_id, login = asyncio.run(build(db, args.entries))
        results = asyncio.run(run(db, ticket_id, login, args.runs, args.warmups, args.profile, check=True,
                                  freeze=args.gc_freeze))
    import textual

    print(f"ticket open benchmark: {args.entries} entries, 160x50, {args.runs} runs after {args.warmups} warm-ups "
          f"(textual {textual.__version__}, Python {sys.version.split()[0]})")
    print(f"  open   ms {_fmt(results['open'])}   push -> first complete frame of the ticket")
    print(f"  floor  ms {_fmt(results['floor'])}   push -> first frame of an empty Screen")
    print(f"  db     ms {_fmt(results['db'])}   the reads before that frame, alone")
    print(f"  cpu    ms {_fmt(results['cpu'])}   process CPU time during an open")
    print(f"  gc     ms {_fmt(results['gc'])}   of which collecting garbage")
    print(f"  gc'    ms {_fmt(results['gc_after'])}   collecting garbage in the 0.3 s after the frame")
    print(f"  settled ms {_fmt(results['settled'])}   push -> the last frame of the open (within 0.3 s)")
    print(f"  frames    {statistics.median(results['frames']):5.0f}   composed in the first 0.3 s of an open "
          f"(target <= {TARGET_FRAMES})")
    print("  opens ms  " + " ".join(f"{v:.0f}" + (f"(gc {g:.0f})" if g >= 5 else "")
                                  for v, g in sorted(zip(results["open"], results["gc"]))))
    median = statistics.median(results["open"])
    print(f"  target: open <= {TARGET_MS:.0f} ms: {'ok' if median <= TARGET_MS else 'MISSED'} "
          f"({median - statistics.median(results['floor']):.1f} ms over the floor)")


if __name__ == "__main__":
    main()
