"""Store benchmark: view counts, pages and full-text search on a big SQLite database.

Seeds (or reuses a cached seed under bench/.cache/) N tickets with about M
timeline entries each, then prints, per system view, the time of its count, its
first page (50 rows) and a keyset page deep in the view, plus full-text search
for a rare and a common word — each through the store (SQLAlchemy, aiosqlite, a
transaction per call, as the services use it) and, as the floor, the same query
in raw ``sqlite3`` in the same run. Medians of several runs.

    python bench/store_bench.py                      # 100k tickets x 10 messages
    python bench/store_bench.py --tickets 20000 --messages 5 --runs 11
    python bench/store_bench.py --explain            # and the query plans

Not a test: it prints figures. See bench/README.md for what they mean.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sqlalchemy import event  # noqa: E402

from tui_helpdesk.adapters.store import engine as engine_mod  # noqa: E402
from tui_helpdesk.adapters.store.repository import Store  # noqa: E402
from tui_helpdesk.adapters.store.seed import seed  # noqa: E402
from tui_helpdesk.domain.views import SYSTEM_VIEW_KEYS  # noqa: E402
from tui_helpdesk.bootstrap import bootstrap  # noqa: E402
from tui_helpdesk.settings import Settings  # noqa: E402

VIEWS = ("inbox", "mentions", "all", "unassigned", "solved")
PAGE = 50
DEEP_ROW = 50_000
RARE_WORD = "xylophone"
COMMON_WORD = "refund"
TARGET_VIEW_MS = 5.0  # count + first page
TARGET_SEARCH_MS = 20.0
TARGET_RATIO = 3.0

# The raw floor: the same questions asked of sqlite3 directly, as one would write them by hand.
LINE = """SELECT t.id, t.status, t.type, t.channel, t.subject, t.preview, t.created_at, t.updated_at,
       t.last_message_by, coalesce(nullif(r.name, ''), r.email, r.chatbot_user_id, '') AS requester_name,
       a.name AS assignee_name
FROM ticket t JOIN requester r ON r.id = t.requester_id LEFT JOIN agent a ON a.id = t.assignee_id"""
RAW_WHERE = {
    "inbox": "t.assignee_id = :me AND t.closed = 0",
    "mentions": "EXISTS (SELECT 1 FROM mention m WHERE m.ticket_id = t.id AND m.agent_id = :me)",
    "all": "t.closed = 0",
    "unassigned": "t.assignee_id IS NULL AND t.closed = 0",
    "solved": "t.closed = 1",
}
ORDER = "ORDER BY t.updated_at DESC, t.id DESC"
# Counts asked differently from the page's WHERE (as the store asks them).
RAW_COUNT = {"mentions": "SELECT count(DISTINCT ticket_id) FROM mention WHERE agent_id = :me"}


# ------------------------------------------------------------------------- seeding


def cache_path(cache_dir: Path, tickets: int, messages: int) -> Path:
    return cache_dir / f"seed-{tickets}t-{messages}m-r{engine_mod.head_revision()}.db"


async def build_seed(path: Path, tickets: int, messages: int) -> None:
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    hd = await bootstrap(Settings(database_url=f"sqlite+aiosqlite:///{partial}"))
    try:
        # The OS login becomes the admin, so the CLI can open the cached database too.
        await hd.agents.identify()
        report = await seed(hd.store, tickets=tickets, messages_per_ticket=messages,
                            progress=lambda text: print(f"  {text}", file=sys.stderr, flush=True))
        print(f"  {report}", file=sys.stderr)
    finally:
        await hd.close()
    with sqlite3.connect(partial) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.replace(partial, path)
    for leftover in (Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)


# ------------------------------------------------------------------------- timing


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def atime(fn, runs: int) -> tuple[float, object]:
    result = await fn()  # warm-up, and the answer
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return median_ms(samples), result


def rtime(fn, runs: int) -> tuple[float, object]:
    result = fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return median_ms(samples), result


class Capture:
    """Remembers the SQL the store sends, for --explain."""

    def __init__(self, store: Store):
        self.statements: list[tuple[str, tuple]] = []
        event.listen(store.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        self.statements.append((statement, parameters))


def explain(raw: sqlite3.Connection, statement: str, params) -> str:
    rows = raw.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
    return "\n".join(f"      {r[-1]}" for r in rows)


# --------------------------------------------------------------------- raw floor


def raw_search(raw: sqlite3.Connection, word: str, limit: int = 50) -> list[int]:
    """The newest tickets with a matching entry, read off the index by hand (as the store does)."""
    from tui_helpdesk.adapters.store.engine import FTS_SHIFT
    from tui_helpdesk.adapters.store.viewsql import fts_query

    found: dict[int, None] = {}
    for (key,) in raw.execute("SELECT rowid FROM ticket_fts WHERE ticket_fts MATCH ? ORDER BY rowid DESC",
                              (fts_query(word),)):
        found.setdefault(key >> FTS_SHIFT)
        if len(found) == limit:
            break
    return list(found)


# ------------------------------------------------------------------------- report


def fmt_ratio(ms: float, floor: float) -> str:
    return f"{ms / floor:4.1f}x" if floor > 0 else "  - "


def mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


async def bench(args) -> int:
    path = Path(args.db) if args.db else cache_path(Path(args.cache_dir), args.tickets, args.messages)
    if not args.db:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        if args.fresh or not path.exists():
            print(f"seeding {args.tickets:,} tickets x ~{args.messages} messages into {path} ...", file=sys.stderr)
            started = time.perf_counter()
            await build_seed(path, args.tickets, args.messages)
            print(f"  seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    url = f"sqlite+aiosqlite:///{path}"
    store = await Store.open(url, create=False)
    capture = Capture(store) if args.explain else None
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    raw.execute("PRAGMA cache_size=-32000")
    raw.execute("PRAGMA temp_store=MEMORY")
    runs = args.runs
    misses = 0
    try:
        tickets, entries = raw.execute("SELECT (SELECT count(*) FROM ticket), (SELECT count(*) FROM entry)").fetchone()
        inbox_agent, inbox_login = raw.execute(
            "SELECT a.id, a.login FROM ticket t JOIN agent a ON a.id = t.assignee_id WHERE t.closed = 0 "
            "GROUP BY a.id ORDER BY count(*) DESC LIMIT 1").fetchone()
        mention_agent, mention_login = raw.execute(
            "SELECT a.id, a.login FROM mention m JOIN agent a ON a.id = m.agent_id "
            "GROUP BY a.id ORDER BY count(*) DESC LIMIT 1").fetchone() or (inbox_agent, inbox_login)
        print(f"\n{tickets:,} tickets, {entries:,} timeline entries — {path}")
        print(f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s); "
              f"median of {runs} runs after a warm-up; floor = the same query in raw sqlite3\n")

        header = (f"{'view':<22}{'rows':>9} | {'count ms':>9}{'floor':>7}{'ratio':>7} | "
                  f"{'page ms':>8}{'floor':>7}{'ratio':>7} | {'sum':>6}{'1 read':>7} {'target':>6} | "
                  f"{'deep page':>16}{'floor':>7}{'ratio':>7}")
        print(header)
        print("-" * len(header))
        plans: list[str] = []
        for key in VIEWS:
            spec = SYSTEM_VIEW_KEYS[key].spec
            me = mention_agent if key == "mentions" else inbox_agent
            label = f"{key} ({mention_login if key == 'mentions' else inbox_login})" if key in ("inbox", "mentions") \
                else key
            params = {"me": me}

            async def count():
                async with store.read() as tx:
                    return await tx.count(spec, me)

            async def page(after=None):
                async with store.read() as tx:
                    return await tx.page(spec, me, limit=PAGE, after=after)

            async def count_and_page():
                # What the inbox does: both in one read transaction (ViewService.count_and_page).
                async with store.read() as tx:
                    return await tx.count(spec, me), await tx.page(spec, me, limit=PAGE)

            if capture:
                capture.statements.clear()
            count_ms, rows = await atime(count, runs)
            page_ms, first = await atime(page, runs)
            both_ms, _ = await atime(count_and_page, runs)
            if capture:
                seen = {}
                for statement, p in capture.statements:
                    seen.setdefault(statement, p)
                for statement, p in seen.items():
                    if statement.lstrip().upper().startswith("SELECT"):
                        plans.append(f"  {key}: {' '.join(statement.split())[:160]}…\n{explain(raw, statement, p)}")
            raw_count_sql = RAW_COUNT.get(key, f"SELECT count(*) FROM ticket t WHERE {RAW_WHERE[key]}")
            raw_page_sql = f"{LINE} WHERE {RAW_WHERE[key]} {ORDER} LIMIT {PAGE + 1}"
            raw_count_ms, raw_rows = rtime(lambda: raw.execute(raw_count_sql, params).fetchone()[0], runs)
            raw_page_ms, raw_first = rtime(lambda: raw.execute(raw_page_sql, params).fetchall(), runs)
            assert raw_rows == rows, (key, raw_rows, rows)
            assert [r[0] for r in raw_first[:PAGE]] == [r.id for r in first.rows], key

            # A page deep in the view, by keyset: seek to the row's (updated_at, id).
            deep = "-"
            deep_at = min(DEEP_ROW, rows - PAGE)
            deep_ms = raw_deep_ms = 0.0
            if deep_at > PAGE:
                updated, last_id = raw.execute(
                    f"SELECT t.updated_at, t.id FROM ticket t WHERE {RAW_WHERE[key]} {ORDER} LIMIT 1 OFFSET :offset",
                    {**params, "offset": deep_at - 1}).fetchone()
                after = (datetime.fromisoformat(updated), last_id)
                deep_ms, deep_page = await atime(lambda: page(after), runs)
                raw_deep_sql = (f"{LINE} WHERE {RAW_WHERE[key]} AND (t.updated_at, t.id) < (:u, :i) "
                                f"{ORDER} LIMIT {PAGE + 1}")
                raw_deep_ms, raw_deep = rtime(
                    lambda: raw.execute(raw_deep_sql, {**params, "u": updated, "i": last_id}).fetchall(), runs)
                assert [r[0] for r in raw_deep[:PAGE]] == [r.id for r in deep_page.rows], key
                deep = f"@{deep_at:,} {deep_ms:6.2f}"
                if capture:
                    capture.statements.clear()
                    await page(after)
                    statement, p = capture.statements[-1]
                    plans.append(f"  {key} deep page:\n{explain(raw, statement, p)}")
            total = count_ms + page_ms
            ok_abs = min(total, both_ms) <= TARGET_VIEW_MS
            ok_ratio = count_ms <= TARGET_RATIO * raw_count_ms and page_ms <= TARGET_RATIO * raw_page_ms
            misses += not (ok_abs and ok_ratio)
            print(f"{label:<22}{rows:>9,} | {count_ms:>9.2f}{raw_count_ms:>7.2f}{fmt_ratio(count_ms, raw_count_ms):>7} | "
                  f"{page_ms:>8.2f}{raw_page_ms:>7.2f}{fmt_ratio(page_ms, raw_page_ms):>7} | "
                  f"{total:>6.2f}{both_ms:>7.2f} {mark(ok_abs):>6} | {deep:>16}"
                  + (f"{raw_deep_ms:>7.2f}{fmt_ratio(deep_ms, raw_deep_ms):>7}" if deep_ms else "")
                  + ("" if ok_ratio else "  (over 3x its floor)"))

        # Keyset paging really walks: follow next_after from the top of All to the deep row.
        if args.walk:
            spec = SYSTEM_VIEW_KEYS["all"].spec
            started = time.perf_counter()
            after, seen_rows, pages = None, 0, 0
            while seen_rows < DEEP_ROW:
                async with store.read() as tx:
                    result = await tx.page(spec, inbox_agent, limit=PAGE, after=after)
                seen_rows += len(result.rows)
                pages += 1
                if result.next_after is None:
                    break
                after = result.next_after
            took = time.perf_counter() - started
            print(f"\nwalked All by next_after: {pages:,} pages, {seen_rows:,} rows in {took:.1f} s "
                  f"({took / pages * 1000:.2f} ms a page)")

        print(f"\n{'search (newest tickets first)':<30}{'hits':>6} | {'ms':>8}{'floor':>8}{'ratio':>7} | target")
        for word in (RARE_WORD, COMMON_WORD):
            async def search():
                async with store.read() as tx:
                    return await tx.search(word, limit=PAGE)

            if capture:
                capture.statements.clear()
            ms, hits = await atime(search, runs)
            raw_ms, raw_hits = rtime(lambda: raw_search(raw, word, PAGE), runs)
            assert [h.ticket_id for h in hits] == raw_hits, word
            ok = ms <= TARGET_SEARCH_MS and ms <= TARGET_RATIO * raw_ms
            misses += not ok
            print(f"{'“' + word + '”':<30}{len(hits):>6} | {ms:>8.2f}{raw_ms:>8.2f}{fmt_ratio(ms, raw_ms):>7} | "
                  f"{mark(ms <= TARGET_SEARCH_MS)}{'' if ms <= TARGET_RATIO * raw_ms else ' (over 3x its floor)'}")
            if capture:
                for statement, p in capture.statements[:2]:
                    plans.append(f"  search {word}:\n{explain(raw, statement, p)}")
    finally:
        raw.close()
        await store.close()

    if not args.no_cli:
        cli_ms, startup_ms = time_cli(path, runs=max(3, min(runs, 5)))
        print(f"\nhelpdesk ticket list --view all --limit 50 --json, end to end: {cli_ms:.0f} ms "
              f"(of which Python's own start: {startup_ms:.0f} ms)")
    if args.explain and plans:
        print("\nquery plans of the store's queries:")
        print("\n".join(plans))
    print(f"\ntargets: count + first page <= {TARGET_VIEW_MS:g} ms, search <= {TARGET_SEARCH_MS:g} ms, "
          f"each within {TARGET_RATIO:g}x of its raw floor: {'all met' if not misses else f'{misses} missed'}")
    return 0


def time_cli(path: Path, runs: int) -> tuple[float, float]:
    script = shutil.which("helpdesk", path=str(Path(sys.executable).parent)) or shutil.which("helpdesk")
    argv = [script] if script else [sys.executable, "-m", "tui_helpdesk"]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "XDG_CONFIG_HOME": f"{home}/config", "XDG_DATA_HOME": f"{home}/data",
               "XDG_STATE_HOME": f"{home}/state", "HELPDESK_DB": str(path)}
        env.pop("HELPDESK_CONFIG", None)
        env.pop("HELPDESK_AS", None)

        def once(command: list[str]) -> float:
            started = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
            took = time.perf_counter() - started
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed: {proc.stderr.strip()}")
            return took

        command = [*argv, "ticket", "list", "--view", "all", "--limit", "50", "--json"]
        once(command)
        cli = [once(command) for _ in range(runs)]
        startup = [once([sys.executable, "-c", "pass"]) for _ in range(runs)]
    return median_ms(cli), median_ms(startup)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--messages", type=int, default=12,
                   help="entries per ticket, about (default 12: ~1M messages, replies and notes for 100k tickets)")
    p.add_argument("--runs", type=int, default=15, help="timed runs per figure; the median is shown")
    p.add_argument("--cache-dir", default=str(HERE / ".cache"))
    p.add_argument("--fresh", action="store_true", help="seed again even if a cached seed exists")
    p.add_argument("--db", help="benchmark this SQLite file instead of a cached seed")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN QUERY PLAN of the store's queries")
    p.add_argument("--walk", action="store_true", help="also walk All page by page to row 50,000")
    p.add_argument("--no-cli", action="store_true", help="skip timing the helpdesk command end to end")
    args = p.parse_args()
    if args.tickets < 1 or args.messages < 1 or args.runs < 1:
        p.error("--tickets, --messages and --runs must be at least 1")
    return asyncio.run(bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
