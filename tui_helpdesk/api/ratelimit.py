"""A per-token rate limit: a fixed window per token, counted in this process.

Headers follow the IETF draft (``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset`` in seconds) and the common ``X-RateLimit-*`` ones (reset
as Unix time, as in the chatbot contract); over the limit the answer is 429
with ``Retry-After``. Counts live in memory: with ``--workers N`` each worker
counts its own share, so a token may get up to N times the limit in total.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # Unix time the window ends

    def headers(self, now: float) -> dict[str, str]:
        reset = max(0, math.ceil(self.reset_at - now))
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
               "RateLimit-Reset": str(reset), "X-RateLimit-Limit": str(self.limit),
               "X-RateLimit-Remaining": str(self.remaining), "X-RateLimit-Reset": str(math.ceil(self.reset_at))}
        if not self.allowed:
            out["Retry-After"] = str(max(1, reset))
        return out


class RateLimiter:
    def __init__(self, limit: int, window: float = 60.0, clock=time.time):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._windows: dict[int, tuple[float, int]] = {}  # token id -> (window start, count)

    def hit(self, key: int) -> Decision:
        now = self.clock()
        start, count = self._windows.get(key, (0.0, 0))
        if now - start >= self.window:
            # A token's window starts with its first request in it, not on the clock's minute:
            # a burst that straddles a minute boundary is still counted as one.
            start, count = now, 0
        if len(self._windows) > 10_000:  # tokens are few; a flood of ids must not grow this forever
            self._windows.clear()
        reset_at = start + self.window
        if count >= self.limit:
            return Decision(False, self.limit, 0, reset_at)
        self._windows[key] = (start, count + 1)
        return Decision(True, self.limit, self.limit - count - 1, reset_at)
