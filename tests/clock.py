"""The test suite's clock: a stand-in for the wall clock that only moves when a
test moves it.

The store and the services take naive-UTC datetimes from it; the chatbot
simulator takes epoch seconds. One class serves both: ``now`` is whatever the
test started it at, ``advance()`` moves it by a timedelta's worth in either
unit, and a test may also set ``now`` or add to it directly.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# The default start: late November, so lifecycle windows (days, weeks) fit.
DEFAULT_START = datetime(2026, 11, 24, 12, 0, 0)


class Clock:
    """A settable clock: naive-UTC datetimes, or epoch seconds when started at a number."""

    def __init__(self, now: datetime | float | None = None):
        self.now = DEFAULT_START if now is None else now

    def __call__(self) -> datetime | float:
        return self.now

    def advance(self, seconds: float = 0, **kwargs) -> None:
        """Move on by timedelta(seconds=..., minutes=..., hours=..., days=...)."""
        step = timedelta(seconds=seconds, **kwargs)
        if isinstance(self.now, datetime):
            self.now += step
        else:
            self.now += step.total_seconds()
