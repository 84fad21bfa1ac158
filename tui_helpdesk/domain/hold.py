"""On hold until: reading the "until" an agent types, and when a held ticket comes back.

A ticket put On hold may carry a time; when it comes the ticket returns to
On you (``services.tickets.wake_held``). Agents type the time the way they
say it: ``2h``, ``3d``, ``1w``, ``tomorrow``, ``mon``, ``14:30``,
``2026-12-24`` or ``2026-12-24 14:30``. A day without a time means the start
of the working day (09:00) in the agent's own time zone.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from .errors import UsageError

START_OF_DAY = time(9, 0)
_SPAN = re.compile(r"^(\d{1,4})\s*(m|min|h|d|w)$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EXAMPLES = "2h, 3d, 1w, tomorrow, mon, 14:30, 2026-12-24 or 2026-12-24 14:30"


def parse_until(text: str, now: datetime) -> datetime:
    """The moment *text* names, in *now*'s time zone (*now* is the agent's local, aware time).

    Raises :class:`UsageError` for what it cannot read or a moment not in the future.
    """
    word = text.strip().lower()
    if not word:
        raise UsageError(f"say until when (for example {EXAMPLES})")
    at = _read(word, now)
    if at is None:
        raise UsageError(f"cannot read '{text.strip()[:40]}' as a time (for example {EXAMPLES})")
    if at <= now:
        raise UsageError(f"'{text.strip()[:40]}' is not in the future")
    return at


def _read(word: str, now: datetime) -> datetime | None:
    if m := _SPAN.match(word):
        return now + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if word == "tomorrow":
        return _at(now.date() + timedelta(days=1), START_OF_DAY, now)
    for index, name in enumerate(_DAYS):
        if len(word) >= 3 and (name.startswith(word[:3]) and _full_day(index).startswith(word)):
            ahead = (index - now.weekday()) % 7 or 7
            return _at(now.date() + timedelta(days=ahead), START_OF_DAY, now)
    if re.fullmatch(r"\d{1,2}:\d{2}", word):
        clock = _clock(word)
        if clock is None:
            return None
        at = _at(now.date(), clock, now)
        return at if at > now else at + timedelta(days=1)
    if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:[ t](\d{1,2}:\d{2}))?", word):
        try:
            day = datetime.strptime(m.group(1), "%Y-%m-%d").date()
        except ValueError:
            return None
        clock = _clock(m.group(2)) if m.group(2) else START_OF_DAY
        return _at(day, clock, now) if clock is not None else None
    return None


def _full_day(index: int) -> str:
    return ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[index]


def _clock(text: str) -> time | None:
    hours, minutes = (int(p) for p in text.split(":"))
    return time(hours, minutes) if hours < 24 and minutes < 60 else None


def _at(day, clock: time, now: datetime) -> datetime:
    return datetime.combine(day, clock, tzinfo=now.tzinfo)
