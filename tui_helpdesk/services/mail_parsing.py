"""Parsing fetched mail in worker processes, for a big backlog such as a first sync."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from types import MappingProxyType

from ..domain.mail.transport import Fetched, Incoming

# Parses raw messages in a worker process; returns (ParsedMessage, Classification, sha256) per message,
# picklable. A module-level function, so that the worker can import it.
RemoteParser = Callable[[list[bytes]], list[tuple]]


class ParsePool:
    """Worker processes that parse big batches (a first sync) beside the database work.

    Parsing is pure Python and the slowest step; in threads it would fight
    the event loop and the database thread for the GIL. Small batches (new
    mail while idling) are parsed on the IMAP thread: no process is started
    for them. ``forkserver`` because this process has threads (aiosqlite,
    IMAP) that a plain fork would copy mid-lock.
    """

    # Starting the workers costs about a second: worth it for a big backlog only.
    MIN_BACKLOG = 1000
    MIN_BATCH = 64

    def __init__(self, parse: RemoteParser, workers: int | None = None):
        cpus = os.cpu_count() or 1
        self.parse = parse
        self.workers = cpus if workers is None else workers
        self._pool = None

    @property
    def enabled(self) -> bool:
        return self.workers > 1

    def _executor(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("forkserver")
            # The fork server loads the parser once; workers fork from it.
            context.set_forkserver_preload([self.parse.__module__])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool

    def warm(self) -> None:
        """Start the workers now, while the first batch is being fetched."""
        executor = self._executor()
        for _ in range(self.workers):
            executor.submit(self.parse, [])

    async def prepare(self, fetched: list[Fetched]) -> list[Incoming]:
        loop = asyncio.get_running_loop()
        chunks = max(1, min(self.workers, len(fetched) // 32))
        size = -(-len(fetched) // chunks)
        parts = [fetched[i:i + size] for i in range(0, len(fetched), size)]
        futures = [loop.run_in_executor(self._executor(), self.parse, [f.raw for f in part]) for part in parts]
        out: list[Incoming] = []
        for part, future in zip(parts, futures):
            for item, (parsed, kind, sha, content_sha) in zip(part, await future):
                parsed = dataclasses.replace(parsed, loop_headers=MappingProxyType(parsed.loop_headers))
                out.append(Incoming(item.uid, item.raw, item.internaldate, parsed, kind, sha, content_sha,
                                    seen=item.seen))
        return out

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["ParsePool", "RemoteParser"]
