"""How hard the chatbot client tries: backoff with jitter, and the platform's ``Retry-After``."""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass
from datetime import timezone


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the client tries before it raises a transient error.

    ``attempts`` counts the first try. The n-th retry waits about
    ``base_delay * 2**(n-1)`` seconds (capped at ``max_delay``), of which up to
    half is random jitter. A 429 waits ``Retry-After`` plus a little jitter;
    when the platform asks for more than ``max_retry_after`` seconds the client
    raises :class:`RateLimited` at once, so the caller can schedule the retry.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number *retry* (1-based), jitter included."""
        full = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return full / 2 + rng.uniform(0, full / 2)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
