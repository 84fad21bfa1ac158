"""Public API benchmark: ticket creation and reads over HTTP, next to the same service calls in-process.

For each database (a fresh SQLite file, and PostgreSQL when ``--pg-url`` is
given) it starts ``helpdesk api serve`` in its own process and drives it with
16 concurrent aiohttp clients (``--clients``) for ``--seconds`` (30) per phase:

1. HTTP creates  — ``POST /api/v1/tickets`` with an Idempotency-Key each;
2. HTTP reads    — ``GET /api/v1/tickets/{id}`` of tickets made in phase 1;
3. in-process creates — ``TicketService.create`` from 16 tasks, same arguments;
4. in-process reads   — ``ApiAccess.public_timeline`` from 16 tasks.

It prints throughput and p50/p99 latency per phase, then every HTTP figure as a
ratio to the in-process floor measured in the same run (HTTP rate / in-process
rate, HTTP latency / in-process latency): on a shared machine the absolute
figures move with the load, the ratios much less. The load average is printed
with them. The clients are aiohttp sessions (one connection each): a slower
client would measure itself, not the server. With ``--webhooks`` a
receiver subscribed to ticket.created runs in this process and the figures
say whether delivery kept up with creation. Not a test: it prints figures.

    python bench/api_bench.py                       # SQLite, 30 s per phase
    python bench/api_bench.py --seconds 10 --webhooks
    python bench/api_bench.py --pg-url postgresql://user@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import aiohttp  # noqa: E402

from tui_helpdesk.bootstrap import bootstrap  # noqa: E402
from tui_helpdesk.domain.model import TicketType  # noqa: E402
from tui_helpdesk.settings import load  # noqa: E402

TARGETS = {"creates": 300.0, "reads": 1000.0, "p99_ms": 100.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(n: int) -> dict:
    return {"requester": {"email": f"bench{n % 5000}@example.com", "name": f"Bench {n % 5000}"},
            "subject": f"Order {n} did not arrive", "body": f"Hello, order {n} is late. Where is it?",
            "channel": "shop", "tags": ["bench"]}


class Phase:
    def __init__(self, name: str):
        self.name = name
        self.latencies: list[float] = []
        self.errors = 0
        self.seconds = 0.0

    def line(self) -> str:
        lat = sorted(self.latencies)
        n = len(lat)
        rate = n / self.seconds if self.seconds else 0
        p50 = lat[n // 2] * 1000 if n else 0
        p99 = lat[min(n - 1, int(n * 0.99))] * 1000 if n else 0
        return f"{self.name:<22} {n:>8,} ok {self.errors:>5} err {rate:>9,.0f}/s  p50 {p50:>7.1f} ms  p99 {p99:>7.1f} ms"

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def p99_ms(self) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0

    @property
    def p50_ms(self) -> float:
        lat = sorted(self.latencies)
        return lat[len(lat) // 2] * 1000 if lat else 0.0


async def drive(phase: Phase, clients: int, seconds: float, call) -> None:
    """Run *call(worker, n)* from *clients* workers until *seconds* have passed."""
    deadline = time.monotonic() + seconds
    counter = iter(range(10**12))

    async def worker(w: int) -> None:
        while time.monotonic() < deadline:
            n = next(counter)
            start = time.perf_counter()
            try:
                ok = await call(w, n)
            except Exception:  # noqa: BLE001 - counted, the run goes on
                ok = False
            if ok:
                phase.latencies.append(time.perf_counter() - start)
            else:
                phase.errors += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    phase.seconds = time.monotonic() - started


async def run_one(label: str, url: str, args) -> list[Phase]:
    settings = load(None, database_url=url)
    hd = await bootstrap(settings)
    me = await hd.agents.identify()
    _, token = await hd.api_access.create_token(me, "bench")
    receiver = None
    if args.webhooks:
        from aiohttp import web

        got: list[float] = []

        async def hook(request):
            await request.read()
            got.append(time.monotonic())
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        rport = free_port()
        await web.TCPSite(runner, "127.0.0.1", rport).start()
        await hd.webhooks.add(me, f"http://127.0.0.1:{rport}/hook", "created")
        receiver = (runner, got)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    server = subprocess.Popen(
        [sys.executable, "-m", "tui_helpdesk", "--db", url, "api", "serve", "--port", str(port),
         "--rate-limit", "1000000000", "--log-level", "warning", "--workers", str(args.workers)]
        + ([] if args.webhooks else ["--no-webhooks"]), env=env)
    base = f"http://127.0.0.1:{port}"
    phases: list[Phase] = []
    try:
        async with aiohttp.ClientSession(base) as probe:
            for _ in range(200):
                try:
                    async with probe.get("/api/v1/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        auth = {"Authorization": f"Bearer {token}"}
        def session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession(base, headers=auth, connector=aiohttp.TCPConnector(limit=1),
                                         timeout=aiohttp.ClientTimeout(total=30))

        clients = [session() for _ in range(args.clients)]
        made: list[int] = []

        keys = itertools.count()  # one key per request across phases: a repeated key would be a replay

        async def http_create(w: int, n: int) -> bool:
            async with clients[w].post("/api/v1/tickets", json=body(n),
                                       headers={"Idempotency-Key": f"b-{label}-{next(keys)}"}) as r:
                if r.status == 201:
                    made.append((await r.json())["data"]["id"])
                    return True
                await r.read()
                return False

        # An unrecorded second first: connections made, statements prepared, caches warm.
        await drive(Phase("warm-up"), args.clients, args.warmup, http_create)
        created_at = time.monotonic()
        phase = Phase(f"{label} HTTP create")
        await drive(phase, args.clients, args.seconds, http_create)
        phases.append(phase)
        print(phase.line(), flush=True)
        creates_done = time.monotonic()

        async def http_read(w: int, n: int) -> bool:
            async with clients[w].get(f"/api/v1/tickets/{made[n % len(made)]}") as r:
                await r.read()
                return r.status == 200

        # Fresh connections for the reads, opened one at a time: with --workers N a burst of
        # connects is accepted mostly by whichever worker wakes first, and the phase would
        # measure that imbalance rather than the server.
        for c in clients:
            await c.close()
        clients = [session() for _ in range(args.clients)]
        for c in clients:
            async with c.get("/api/v1/health") as r:
                await r.read()
            await asyncio.sleep(0.02)

        await drive(Phase("warm-up"), args.clients, args.warmup, http_read)
        phase = Phase(f"{label} HTTP read")
        await drive(phase, args.clients, args.seconds, http_read)
        phases.append(phase)
        print(phase.line(), flush=True)
        for c in clients:
            await c.close()

        if receiver is not None:
            runner, got = receiver
            deadline = time.monotonic() + 60
            while len(got) < len(made) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            lag = (got[-1] - creates_done) if got else float("nan")
            rate = len(got) / (got[-1] - created_at) if got else 0
            print(f"{label + ' webhooks':<22} {len(got):>8,} of {len(made):,} created delivered; "
                  f"{rate:,.0f}/s; the last {max(0.0, lag):.1f} s after the last create", flush=True)
            await runner.cleanup()
    finally:
        server.terminate()
        server.wait(timeout=30)

    async def local_create(w: int, n: int) -> bool:
        b = body(n)
        await hd.tickets.create(subject=b["subject"], body=b["body"], requester_email=b["requester"]["email"],
                                requester_name=b["requester"]["name"], channel="shop", type=TicketType.API,
                                tags=b["tags"])
        return True

    await drive(Phase("warm-up"), args.clients, args.warmup, local_create)
    phase = Phase(f"{label} in-process create")
    await drive(phase, args.clients, args.seconds, local_create)
    phases.append(phase)
    print(phase.line(), flush=True)
    desk_id = (await hd.api_access.ticket(1, made[0])).desk_id if made else 1

    async def local_read(w: int, n: int) -> bool:
        await hd.api_access.public_timeline(desk_id, made[n % len(made)], limit=50)
        return True

    await drive(Phase("warm-up"), args.clients, args.warmup, local_read)
    phase = Phase(f"{label} in-process read")
    await drive(phase, args.clients, args.seconds, local_read)
    phases.append(phase)
    print(phase.line(), flush=True)
    await hd.close()
    return phases


def report(label: str, phases: list[Phase]) -> None:
    http_c, http_r, loc_c, loc_r = phases
    print(f"\n{label}: HTTP as a ratio to the in-process floor of this run "
          f"(rate: HTTP/in-process, higher is better, 1.00 = free; latency: HTTP/in-process)")
    for what, http, local in (("creates", http_c, loc_c), ("reads", http_r, loc_r)):
        print(f"  {what:<8} rate {http.rate / max(local.rate, 1e-9):5.2f}x "
              f"({http.rate:,.0f}/s of {local.rate:,.0f}/s)   "
              f"p50 {http.p50_ms / max(local.p50_ms, 1e-9):5.2f}x   p99 {http.p99_ms / max(local.p99_ms, 1e-9):5.2f}x")
    for what, phase, target in (("creates", http_c, TARGETS["creates"]), ("reads", http_r, TARGETS["reads"])):
        ok_rate = phase.rate >= target
        ok_p99 = phase.p99_ms <= TARGETS["p99_ms"]
        print(f"  HTTP {what}: {phase.rate:,.0f}/s (target ≥ {target:,.0f}: {'ok' if ok_rate else 'MISSED'}), "
              f"p99 {phase.p99_ms:.1f} ms (target ≤ {TARGETS['p99_ms']:.0f}: {'ok' if ok_p99 else 'MISSED'})")


def load_average() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="per phase (default 30)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds before each phase (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="API server worker processes")
    parser.add_argument("--pg-url", help="also run on this (empty, throwaway) PostgreSQL database")
    parser.add_argument("--webhooks", action="store_true", help="subscribe a receiver to ticket.created")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    print(f"{args.clients} clients, {args.seconds:g} s per phase, {os.cpu_count()} CPUs, "
          f"{args.workers} API worker(s){', webhooks on' if args.webhooks else ''}; at the start {load_average()}\n",
          flush=True)
    runs = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            runs.append(("SQLite", await run_one("SQLite", url, args)))
    if args.pg_url:
        runs.append(("PostgreSQL", await run_one("PostgreSQL", args.pg_url, args)))
    for label, phases in runs:
        report(label, phases)
    print(f"\nat the end {load_average()} (other work on the machine shares its CPUs)")


if __name__ == "__main__":
    asyncio.run(main())
