"""Automatic assignment (SPEC §5): who gets a new ticket, and why.

Pure: the caller passes the candidates with their open-ticket counts, the
desk's method and shifts, and the time. The answer carries the reason written
to the timeline ("balanced: 3 open, least among 4 on shift").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .model import Availability

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Method(str, enum.Enum):
    MANUAL = "manual"
    BALANCED = "balanced"
    ROUND_ROBIN = "round_robin"


@dataclass(frozen=True, slots=True)
class Shift:
    """A named weekly shift in its own time zone; end ≤ start runs overnight."""

    name: str
    tz: str
    hours: dict[str, tuple[time, time]]  # weekday ("mon") → (start, end)

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"shift {self.name!r}: unknown time zone {self.tz!r}") from None

    def _windows(self, around: datetime):
        """Shift windows (aware datetimes) for the days around *around*."""
        local = around.astimezone(self.zone())
        for offset in (-1, 0, 1, 2, 3, 4, 5, 6, 7):
            day = local.date() + timedelta(days=offset)
            span = self.hours.get(WEEKDAYS[day.weekday()])
            if not span:
                continue
            start_t, end_t = span
            start = datetime.combine(day, start_t, self.zone())
            end_day = day + timedelta(days=1) if end_t <= start_t else day
            end = datetime.combine(end_day, end_t, self.zone())
            yield start, end

    def on_shift(self, now: datetime) -> bool:
        return any(start <= now < end for start, end in self._windows(now))

    def next_start(self, now: datetime) -> datetime | None:
        starts = [start for start, _ in self._windows(now) if start > now]
        return min(starts) if starts else None


def parse_shift(name: str, tz: str, hours: dict[str, str]) -> Shift:
    """``{"mon": "09:00-17:00", "fri": "22:00-06:00"}`` → :class:`Shift` (clear errors)."""
    parsed: dict[str, tuple[time, time]] = {}
    for day, span in hours.items():
        key = day.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ConfigError(f"shift {name!r}: unknown weekday {day!r}")
        try:
            start, end = (time.fromisoformat(part.strip()) for part in span.split("-"))
        except ValueError:
            raise ConfigError(f"shift {name!r}: {day} must be HH:MM-HH:MM, not {span!r}") from None
        parsed[key] = (start, end)
    shift = Shift(name, tz, parsed)
    shift.zone()
    return shift


@dataclass(frozen=True, slots=True)
class Candidate:
    agent_id: int
    name: str
    availability: Availability
    open_tickets: int
    max_open: int = 0  # 0 = no cap
    last_assigned_at: datetime | None = None
    shift: str | None = None
    time_off: tuple[tuple[date, date], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Decision:
    agent_id: int | None
    reason: str


def _capped(c: Candidate) -> bool:
    return c.max_open > 0 and c.open_tickets >= c.max_open


def _off(c: Candidate, now: datetime, shift: Shift | None) -> bool:
    today = now.astimezone(shift.zone()).date() if shift else now.date()
    return any(start <= today <= end for start, end in c.time_off)


def eligible_now(c: Candidate, shifts: dict[str, Shift], now: datetime) -> bool:
    """On shift and not on time off; an agent with no shift falls back to availability."""
    shift = shifts.get(c.shift) if c.shift else None
    if shift is None:
        return c.availability is Availability.AVAILABLE and not _off(c, now, None)
    return shift.on_shift(now) and not _off(c, now, shift)


def _least_recent(c: Candidate):
    return (c.last_assigned_at or datetime.min.replace(tzinfo=timezone.utc), c.agent_id)


def choose(
    method: Method | str, candidates: list[Candidate], *, now: datetime,
    shifts: dict[str, Shift] | None = None, next_shift_fallback: bool = False,
) -> Decision:
    """Pick an agent for a new ticket (``now`` is an aware datetime)."""
    method = Method(method)
    shifts = shifts or {}
    if method is Method.MANUAL:
        return Decision(None, "manual: waits to be claimed")
    scheduled = any(c.shift in shifts for c in candidates)
    where = "on shift" if scheduled else "available"
    pool = [c for c in candidates if eligible_now(c, shifts, now)]
    open_pool = [c for c in pool if not _capped(c)]
    if not open_pool:
        if next_shift_fallback:
            upcoming = []
            for c in candidates:
                shift = shifts.get(c.shift) if c.shift else None
                start = shift.next_start(now) if shift else None
                if start and not _capped(c):
                    upcoming.append((start, _least_recent(c), c))
            if upcoming:
                start, _, c = min(upcoming, key=lambda item: (item[0], item[1]))
                return Decision(c.agent_id, f"next shift: nobody {where}; {c.name}'s shift starts {start:%a %H:%M %Z}")
        why = "all at their cap" if pool else f"nobody {where}"
        return Decision(None, f"{method.value}: {why}; left unassigned")
    if method is Method.BALANCED:
        best = min(open_pool, key=lambda c: (c.open_tickets, _least_recent(c)))
        return Decision(best.agent_id, f"balanced: {best.open_tickets} open, least among {len(open_pool)} {where}")
    best = min(open_pool, key=_least_recent)
    return Decision(best.agent_id, f"round robin: assigned least recently among {len(open_pool)} {where}")


# ------------------------------------------------------------------ explaining


def current_end(shift: Shift, now: datetime) -> datetime | None:
    """When the window *now* falls in ends, or None when off shift."""
    ends = [end for start, end in shift._windows(now) if start <= now < end]
    return max(ends) if ends else None


def why_not(c: Candidate, shifts: dict[str, Shift], now: datetime) -> str | None:
    """Why *c* would not get a new ticket now ("off shift in Asia/Tokyo, next Mon 09:00"), or None if they would qualify."""
    shift = shifts.get(c.shift) if c.shift else None
    zone_day = now.astimezone(shift.zone()).date() if shift else now.date()
    for start, end in c.time_off:
        if start <= zone_day <= end:
            return f"on time off until {end.isoformat()}"
    if shift is None:
        if c.availability is not Availability.AVAILABLE:
            return c.availability.value
    elif not shift.on_shift(now):
        nxt = shift.next_start(now)
        when = f", next {nxt:%a %H:%M} ({shift.tz})" if nxt else ""
        return f"off shift {shift.name!r}{when}"
    if _capped(c):
        return f"at cap {c.open_tickets}/{c.max_open}"
    return None


def shift_line(shift: Shift | None, now: datetime, viewer_zone=None) -> str | None:
    """"on shift until 17:00" / "off shift, next 09:00 Mon" in the viewer's zone; None without a shift."""
    if shift is None:
        return None
    end = current_end(shift, now)
    if end is not None:
        return f"on shift until {end.astimezone(viewer_zone):%H:%M}"
    nxt = shift.next_start(now)
    return f"off shift, next {nxt.astimezone(viewer_zone):%H:%M %a}" if nxt else "off shift"


def week_grid(shifts: dict[str, Shift], week_start: datetime, step_minutes: int = 60) -> dict[str, list[bool]]:
    """For each shift, whether it is on at the start of each step of the week from *week_start*.

    *week_start* is an aware datetime in the viewer's zone (their Monday 00:00),
    so the week view reads in the viewer's time, whatever each shift's zone.
    """
    steps = 7 * 24 * 60 // step_minutes
    return {name: [shift.on_shift(week_start + timedelta(minutes=i * step_minutes)) for i in range(steps)]
            for name, shift in shifts.items()}


def render_week(rows: list[tuple[str, str | None]], shifts: dict[str, Shift], week_start: datetime,
                step_minutes: int = 120) -> list[str]:
    """The week view as text lines: one row per (label, shift name), ``█`` on shift, ``·`` off.

    Columns are the viewer's days (Mon..Sun), each ``24h / step`` cells wide.
    """
    grid = week_grid(shifts, week_start, step_minutes)
    per_day = 24 * 60 // step_minutes
    width = max([len(label) for label, _ in rows] + [12])
    head = " " * width + " " + " ".join(
        (week_start + timedelta(days=d)).strftime("%a").ljust(per_day) for d in range(7))
    out = [head.rstrip()]
    for label, name in rows:
        cells = grid.get(name or "")
        if cells is None:
            out.append(f"{label.ljust(width)} " + "no shift: by availability")
            continue
        days = ["".join("█" if on else "·" for on in cells[d * per_day:(d + 1) * per_day]) for d in range(7)]
        out.append(f"{label.ljust(width)} " + " ".join(days))
    return out
