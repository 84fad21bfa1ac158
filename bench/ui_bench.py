"""Benchmark of the inbox UI on a seeded database (not a test).

    python bench/ui_bench.py                       # 100k tickets / ~1M messages, built once and cached
    python bench/ui_bench.py --tickets 20000 --messages-per-ticket 5 --db /tmp/small.db

Prints, each with its floor from the same run:

- cold start: a new process to the first inbox frame with counts and the first
  page (headless app; the child prints when that frame is composed), against
  ``python -c "import textual.app"``;
- view switch: rail counts are already there; the new view's count + first
  page + the next composed frame, median over the system views;
- cursor key to frame: the table's cursor-down handler to the next frame
  Textual composes, median; and a Pilot key round trip, against the same round trip in
  an empty app (the Pilot's own cost);
- G (the last page of a 100k view) and RSS after all of it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AS = "ana"  # a seeded agent with a full Inbox; the OS user is the admin acting as ana


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _settings(path: Path):
    from tui_helpdesk.settings import Settings

    return Settings(database_url=_url(path))


async def _seed(path: Path, tickets: int, per_ticket: int) -> None:
    from tui_helpdesk.adapters.store.seed import seed
    from tui_helpdesk.bootstrap import bootstrap
    from tui_helpdesk.services.agents import os_login

    hd = await bootstrap(_settings(path))
    try:
        await hd.agents.identify(os_login())
        print(await seed(hd.store, tickets=tickets, messages_per_ticket=per_ticket, seed=1,
                         progress=lambda line: print("  " + line, end="\r", flush=True)))
    finally:
        await hd.close()


def ensure_db(path: Path, tickets: int, per_ticket: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    print(f"seeding {tickets:,} tickets × ~{per_ticket} messages into {path} (once)…")
    asyncio.run(_seed(tmp, tickets, per_ticket))
    os.replace(tmp, path)


# ------------------------------------------------------------------ the child


def child_cold(path: Path) -> None:
    """Run in a fresh process: open the app headless, report when the inbox frame goes out.

    The moment is the first composed frame handed to the (headless) terminal
    driver that shows the inbox with its rail counts and the first page's rows.
    """
    from tui_helpdesk.ui.app import HelpdeskApp

    app = HelpdeskApp(_settings(path), act_as=AS, watch=False)
    display = app._display

    def first_inbox_frame(screen, renderable):
        result = display(screen, renderable)
        inbox = app.inbox
        if (renderable is not None and inbox is not None and screen is inbox and inbox.table.row_count
                and all(item.count is not None for item in inbox.rail.items if item.spec is not None)):
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"READY {time.time():.6f} {rss:.1f}", flush=True)
            app._display = display
            app.exit(0)
        return result

    app._display = first_inbox_frame
    app.run(headless=True, size=(160, 50))


def measure_cold(path: Path, runs: int) -> tuple[float, float, float]:
    # Like an installed package: the project's bytecode is compiled once, as textual's is.
    import compileall

    compileall.compile_dir(str(ROOT / "tui_helpdesk"), quiet=1, force=False, legacy=False)
    env = dict(os.environ)
    app_times, floor_times, rss = [], [], []
    for _ in range(runs):
        start = time.time()
        done = subprocess.run([sys.executable, __file__, "--child-cold", str(path)], capture_output=True,
                              text=True, env=env, timeout=60)
        ready = [line for line in done.stdout.splitlines() if line.startswith("READY")]
        if not ready:
            raise SystemExit(f"the child did not report: {done.stderr[-2000:]}")
        _, at, child_rss = ready[0].split()
        app_times.append(float(at) - start)
        rss.append(float(child_rss))
        start = time.time()
        subprocess.run([sys.executable, "-c", "import textual.app"], check=True, env=env)
        floor_times.append(time.time() - start)
    return statistics.median(app_times), statistics.median(floor_times), max(rss)


# -------------------------------------------------------------- in process


async def wait_group(app, group: str) -> None:
    """Wait for the app's workers of *group* (none left running is fine)."""
    for worker in [w for w in app.workers if w.group == group]:
        await worker.wait()


async def measure_in_process(path: Path) -> dict[str, float]:
    from textual.app import App

    from tui_helpdesk.ui.app import HelpdeskApp

    out: dict[str, float] = {}

    class Empty(App):
        pass

    async with Empty().run_test() as pilot:
        times = []
        for _ in range(20):
            t = time.perf_counter()
            await pilot.press("j")
            times.append(time.perf_counter() - t)
        out["pilot_floor"] = statistics.median(times)

    app = HelpdeskApp(_settings(path), act_as=AS, watch=False)
    frames: list[float] = []
    display = app._display

    # Waits are on events, never a spinning loop: spinning would hold the GIL the
    # database thread needs and slow every query it waits for.
    frame_drawn = asyncio.Event()

    def counting_display(screen, renderable):  # every composed frame Textual hands to the driver
        if renderable is not None:
            frames.append(time.perf_counter())
            frame_drawn.set()
        return display(screen, renderable)

    app._display = counting_display

    async def next_frame(since: int) -> None:
        while len(frames) <= since:
            frame_drawn.clear()
            await frame_drawn.wait()

    async with app.run_test(size=(160, 50)) as pilot:
        while not (app.inbox is not None and app.inbox.loaded):
            await asyncio.sleep(0.005)
        await pilot.pause()
        inbox = app.inbox
        switches = []
        keys = [i.key for i in inbox.rail.items if i.spec is not None]
        for _ in range(3):
            for key in keys[1:] + keys[:1]:
                await pilot.pause()
                t = time.perf_counter()
                inbox.select_view(key)
                await wait_group(app, "view")
                mark = len(frames)
                await next_frame(mark)
                switches.append(frames[mark] - t)
        out["switch"] = statistics.median(switches)
        inbox.select_view("all")
        await wait_group(app, "view")
        await pilot.pause()
        table = inbox.table
        table.focus()
        await pilot.pause()
        cursor = []
        for _ in range(60):
            await pilot.pause()
            mark = len(frames)
            t = time.perf_counter()
            table.action_cursor_down()
            await next_frame(mark)
            cursor.append(frames[mark] - t)
        out["cursor"] = statistics.median(cursor)
        presses = []
        for _ in range(20):
            t = time.perf_counter()
            await pilot.press("j")
            presses.append(time.perf_counter() - t)
        out["pilot_press"] = statistics.median(presses)
        out["all_count"] = table.total or 0
        # Search from the filter bar on All: "/" opened it and the word is typed; from Enter to the
        # frame with the first page (the count follows). Rows are drawn afresh, as for a new word.
        bar = inbox.query_one("FilterBar")
        rows_in = asyncio.Event()
        reset = table.reset

        def counting_reset(*args, **kwargs):
            reset(*args, **kwargs)
            rows_in.set()

        table.reset = counting_reset
        for word in ("quokka", "refund"):
            times, counted = [], []
            for _ in range(9):
                inbox.set_filter("")
                await wait_group(app, "view")
                inbox.action_filter()
                bar.input.value = word
                await pilot.pause()
                table._row_cache.clear()
                table._strip_cache.clear()
                rows_in.clear()
                t = time.perf_counter()
                await bar.input.action_submit()
                await rows_in.wait()
                mark = len(frames)
                await next_frame(mark)
                times.append(frames[mark] - t)
                await wait_group(app, "view")
                counted.append(time.perf_counter() - t)
            out[f"search_{word}"] = statistics.median(times)
            out[f"search_{word}_counted"] = statistics.median(counted)
            out[f"search_{word}_count"] = table.total or 0
        inbox.set_filter("")
        await wait_group(app, "view")
        await pilot.pause()
        t = time.perf_counter()
        table.jump_to_end()
        await wait_group(app, "table-load")
        mark = len(frames)
        await next_frame(mark)
        out["jump_end"] = frames[mark] - t
        out["rows_loaded"] = table.row_count
        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="default: a cached seed named by its size")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages-per-ticket", type=int, default=12, help="about; 12 gives ~1M entries for 100k")
    parser.add_argument("--runs", type=int, default=5, help="cold starts to take the median of")
    parser.add_argument("--child-cold", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.db is None:
        args.db = (Path(tempfile.gettempdir()) / "helpdesk-bench"
                   / f"ui-{args.tickets}t-{args.messages_per_ticket}m.db")
    if args.child_cold:
        child_cold(args.child_cold)
        return
    os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="helpdesk-bench-cfg-"))
    ensure_db(args.db, args.tickets, args.messages_per_ticket)
    cold, floor, cold_rss = measure_cold(args.db, args.runs)
    stats = asyncio.run(measure_in_process(args.db))
    ms = lambda s: f"{s * 1000:7.1f} ms"  # noqa: E731
    print(f"database: {args.db} ({stats['all_count']:,} tickets in All)")
    print(f"cold start to first inbox frame  {ms(cold)}   floor (import textual.app) {ms(floor)}   "
          f"over floor {ms(cold - floor)}   target <= 600 ms")
    print(f"view switch (count+page+frame)   {ms(stats['switch'])}   median over the system views      target <= 30 ms")
    print(f"cursor key to frame              {ms(stats['cursor'])}   handler to the next composed frame  target <= 16 ms")
    print(f"  pilot key round trip           {ms(stats['pilot_press'])}   floor (empty app) {ms(stats['pilot_floor'])}")
    for word in ("quokka", "refund"):
        print(f"search '{word}' in the filter bar {ms(stats['search_' + word])}   Enter to first page + frame; "
              f"{stats['search_' + word + '_count']:,} matches counted by {ms(stats['search_' + word + '_counted'])}"
              f"  target <= 50 ms")
    print(f"G: last page of All + frame      {ms(stats['jump_end'])}   rows held by the table: {stats['rows_loaded']}")
    print(f"RSS at the first inbox frame     {cold_rss:7.1f} MB   (a fresh process)                   target <= 150 MB")
    print(f"RSS after all of the above       {stats['rss_mb']:7.1f} MB   (one process: views, 2 searches, G, "
          f"and the bench itself)")


if __name__ == "__main__":
    main()
