"""Property tests of assignment with an injected clock: DST, overnight shifts, the week's end, time off, caps, ties."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from tui_helpdesk.domain.assignment import Candidate, WEEKDAYS, choose, parse_shift, render_week, why_not
from tui_helpdesk.domain.desk_config import SettingsInvalid, parse_desk, span_minutes
from tui_helpdesk.domain.model import Availability

UTC = timezone.utc
ZONES = ["Europe/Lisbon", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC", "America/Sao_Paulo"]
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC))
hhmm = st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 45])).map(lambda t: time(*t))


def naive_on_shift(zone: str, hours: dict[str, tuple[time, time]], now: datetime) -> bool:
    """The rule, stated the slow way: a local wall-clock window that began today or yesterday."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    for back in (0, 1):
        day = local.date() - timedelta(days=back)
        span = hours.get(WEEKDAYS[day.weekday()])
        if not span:
            continue
        start = datetime.combine(day, span[0], tz)
        end = datetime.combine(day + timedelta(days=1) if span[1] <= span[0] else day, span[1], tz)
        if start <= now < end:
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), day=st.sampled_from(WEEKDAYS), start=hhmm, end=hhmm, now=instants)
def test_on_shift_matches_the_wall_clock_rule_across_dst_and_midnight(zone, day, start, end, now):
    shift = parse_shift("s", zone, {day: f"{start:%H:%M}-{end:%H:%M}"})
    assert shift.on_shift(now) == naive_on_shift(zone, {day: (start, end)}, now)


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), now=instants)
def test_sunday_night_runs_into_monday_across_the_weeks_end(zone, now):
    shift = parse_shift("night", zone, {"sun": "22:00-06:00"})
    local = now.astimezone(ZoneInfo(zone))
    in_window = (local.weekday() == 6 and local.time() >= time(22)) or (local.weekday() == 0 and local.time() < time(6))
    # A DST jump inside the window moves wall-clock times; compare only away from the zone's transitions.
    if local.utcoffset() == (local - timedelta(hours=9)).utcoffset() == (local + timedelta(hours=9)).utcoffset():
        assert shift.on_shift(now) == in_window


def test_dst_spring_forward_shortens_an_overnight_shift_and_fall_back_lengthens_it():
    shift = parse_shift("night", "Europe/Lisbon", {"sat": "22:00-06:00"})
    # 2026-03-29 01:00 UTC Lisbon springs forward: Sat 22:00 WET → Sun 06:00 WEST is 7 hours.
    start = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    hours_on = sum(shift.on_shift(start + timedelta(minutes=30 * i)) for i in range(40)) / 2
    assert hours_on == 7
    # 2026-10-25 Lisbon falls back: 9 hours.
    start = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)
    hours_on = sum(shift.on_shift(start + timedelta(minutes=30 * i)) for i in range(40)) / 2
    assert hours_on == 9


@settings(max_examples=200, deadline=None)
@given(first=st.dates(date(2026, 1, 1), date(2027, 12, 1)), length=st.integers(0, 20), probe=st.integers(-3, 25),
       zone=st.sampled_from(ZONES))
def test_time_off_is_inclusive_in_the_shifts_zone(first, length, probe, zone):
    shift = parse_shift("all", zone, {d: "00:00-00:00" for d in WEEKDAYS})  # always on
    last = first + timedelta(days=length)
    day = first + timedelta(days=probe)
    noon = datetime.combine(day, time(12), ZoneInfo(zone)).astimezone(UTC)
    c = Candidate(1, "a", Availability.AVAILABLE, 0, shift="all", time_off=((first, last),))
    off = first <= day <= last
    assert (why_not(c, {"all": shift}, noon) is not None) == off
    assert (choose("balanced", [c], now=noon, shifts={"all": shift}).agent_id is None) == off


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 10), st.integers(0, 1000)), min_size=1, max_size=8),
       st.sampled_from(["balanced", "round_robin"]))
def test_the_choice_respects_caps_and_breaks_ties_by_least_recent(people, method):
    base = datetime(2026, 1, 1, tzinfo=UTC)
    cands = [Candidate(i + 1, f"a{i}", Availability.AVAILABLE, open_, cap, base + timedelta(minutes=last))
             for i, (open_, cap, last) in enumerate(people)]
    d = choose(method, cands, now=base + timedelta(days=30))
    room = [c for c in cands if not (c.max_open and c.open_tickets >= c.max_open)]
    if not room:
        assert d.agent_id is None and "cap" in d.reason
        return
    chosen = next(c for c in cands if c.agent_id == d.agent_id)
    assert chosen in room
    if method == "balanced":
        assert chosen.open_tickets == min(c.open_tickets for c in room)
        tied = [c for c in room if c.open_tickets == chosen.open_tickets]
    else:
        tied = room
    assert chosen.last_assigned_at == min(c.last_assigned_at for c in tied)


@settings(max_examples=100, deadline=None)
@given(now=instants, starts=st.lists(st.integers(0, 23), min_size=2, max_size=4, unique=True))
def test_next_shift_fallback_picks_the_soonest_start(now, starts):
    day = WEEKDAYS[(now.weekday() + 1) % 7]  # tomorrow: nobody is on now
    shifts = {f"s{h}": parse_shift(f"s{h}", "UTC", {day: f"{h:02d}:00-{h:02d}:30"}) for h in starts}
    cands = [Candidate(i + 1, f"a{h}", Availability.AWAY, 0, shift=f"s{h}") for i, h in enumerate(starts)]
    now = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(seconds=1) + timedelta(days=1) \
        - timedelta(hours=1)  # late tonight
    d = choose("balanced", cands, now=now, shifts=shifts, next_shift_fallback=True)
    assert d.agent_id == starts.index(min(starts)) + 1 and "next shift" in d.reason


@settings(max_examples=200, deadline=None)
@given(a=hhmm, b=hhmm, c=hhmm, d=hhmm)
def test_overlapping_days_of_one_shift_are_refused(a, b, c, d):
    mon, tue = f"{a:%H:%M}-{b:%H:%M}", f"{c:%H:%M}-{d:%H:%M}"
    s1, e1 = span_minutes(mon)
    s2, e2 = span_minutes(tue)
    s2, e2 = s2 + 1440, e2 + 1440
    overlaps = s1 < e2 and s2 < e1
    doc = {"slug": "x", "name": "X", "scheduling": {"shifts": [{"name": "s", "timezone": "UTC",
                                                                 "hours": {"mon": mon, "tue": tue}}]}}
    try:
        parse_desk(doc)
        refused = False
    except SettingsInvalid as exc:
        refused = True
        assert list(exc.errors) == ["scheduling.shifts[0].hours.mon"]
    assert refused == overlaps


WEEK_SNAPSHOT = """\
             Mon          Tue          Wed          Thu          Fri          Sat          Sun
ana (day)    ····████···· ····████···· ····████···· ····████···· ····████···· ············ ············
bo (night)   █········███ █········███ █········███ █········███ █··········· ·········███ █········███
cy           no shift: by availability"""


def test_week_view_snapshot_in_the_viewers_zone():
    """Two shifts in other zones, drawn in the viewer's (New York, in November: UTC-5), two hours a cell.

    Lisbon 13:00-21:00 (UTC+0) is 08:00-16:00 in New York; Tokyo 08:00-16:00 (UTC+9) is the evening
    before, 18:00-02:00, so Tokyo's Monday starts on the viewer's Sunday evening.
    """
    day = parse_shift("day", "Europe/Lisbon", {d: "13:00-21:00" for d in WEEKDAYS[:5]})
    night = parse_shift("night", "Asia/Tokyo", {d: "08:00-16:00" for d in ("mon", "tue", "wed", "thu", "fri")} |
                        {"sun": "08:00-16:00"})
    viewer = ZoneInfo("America/New_York")
    monday = datetime(2026, 11, 23, 0, 0, tzinfo=viewer)
    lines = render_week([("ana (day)", "day"), ("bo (night)", "night"), ("cy", None)],
                        {"day": day, "night": night}, monday)
    assert "\n".join(lines) == WEEK_SNAPSHOT
