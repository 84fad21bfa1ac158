"""Automatic assignment: methods, caps, shifts (overnight, time zones), time off, fallback."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.assignment import Candidate, choose, parse_shift
from tui_helpdesk.domain.errors import ConfigError
from tui_helpdesk.domain.model import Availability, EntryKind
from tui_helpdesk.settings import load

UTC = timezone.utc
MON_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday


def cand(i, open_=0, cap=0, avail=Availability.AVAILABLE, last=None, shift=None, off=()):
    return Candidate(i, f"agent{i}", avail, open_, cap, last, shift, off)


def test_manual_leaves_unassigned():
    assert choose("manual", [cand(1)], now=MON_10).agent_id is None


def test_balanced_picks_fewest_open_then_least_recent():
    early, late = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    d = choose("balanced", [cand(1, 3), cand(2, 1, last=late), cand(3, 1, last=early), cand(4, 5)], now=MON_10)
    assert d.agent_id == 3 and d.reason == "balanced: 1 open, least among 4 available"


def test_round_robin_picks_least_recently_assigned():
    d = choose("round_robin", [cand(1, last=MON_10), cand(2, 9, last=datetime(2026, 1, 1, tzinfo=UTC))], now=MON_10)
    assert d.agent_id == 2


def test_caps_and_availability_skip_agents():
    d = choose("balanced", [cand(1, 2, cap=2), cand(2, 0, avail=Availability.AWAY), cand(3, 7, cap=0)], now=MON_10)
    assert d.agent_id == 3
    d = choose("balanced", [cand(1, 2, cap=2)], now=MON_10)
    assert d.agent_id is None and "cap" in d.reason


def test_shifts_overnight_and_time_zones():
    night = parse_shift("night", "Asia/Tokyo", {"mon": "22:00-06:00"})
    # Monday 22:00 in Tokyo is Monday 13:00 UTC; the shift runs into Tuesday 06:00 JST (Monday 21:00 UTC).
    assert night.on_shift(datetime(2026, 11, 23, 13, 30, tzinfo=UTC))
    assert night.on_shift(datetime(2026, 11, 23, 20, 59, tzinfo=UTC))
    assert not night.on_shift(datetime(2026, 11, 23, 21, 0, tzinfo=UTC))
    assert not night.on_shift(MON_10)


def test_scheduled_agents_only_on_shift_and_not_on_time_off():
    day = parse_shift("day", "UTC", {"mon": "09:00-17:00", "tue": "09:00-17:00"})
    shifts = {"day": day}
    on = cand(1, 5, shift="day", avail=Availability.AWAY)  # availability ignored when scheduled
    off_today = cand(2, 0, shift="day", off=((date(2026, 11, 23), date(2026, 11, 24)),))
    no_shift_available = cand(3, 9)
    # off_today has the fewest open tickets but is on time off; the unscheduled agent counts as eligible.
    d = choose("balanced", [on, off_today, no_shift_available], now=MON_10, shifts=shifts)
    assert d.agent_id == 1 and d.reason == "balanced: 5 open, least among 2 on shift"
    d = choose("balanced", [replace(on, max_open=5), off_today, no_shift_available], now=MON_10, shifts=shifts)
    assert d.agent_id == 3
    evening = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    assert choose("balanced", [on, off_today], now=evening, shifts=shifts).agent_id is None


def test_next_shift_fallback():
    early = parse_shift("early", "UTC", {"tue": "06:00-14:00"})
    late = parse_shift("late", "UTC", {"tue": "12:00-20:00"})
    night_now = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    people = [cand(1, shift="late"), cand(2, shift="early"), cand(3, shift="early", cap=1, open_=1)]
    shifts = {"early": early, "late": late}
    assert choose("balanced", people, now=night_now, shifts=shifts).agent_id is None
    d = choose("balanced", people, now=night_now, shifts=shifts, next_shift_fallback=True)
    assert d.agent_id == 2 and "next shift" in d.reason


def test_bad_shift_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="HH:MM-HH:MM"):
        parse_shift("x", "UTC", {"mon": "9 to 5"})
    with pytest.raises(ConfigError, match="time zone"):
        parse_shift("x", "Mars/Olympus", {"mon": "09:00-17:00"})
    with pytest.raises(ConfigError, match="weekday"):
        parse_shift("x", "UTC", {"funday": "09:00-17:00"})


async def test_balanced_desk_routes_new_tickets_with_a_reason(sqlite_url, clock):
    settings = load(database_url=sqlite_url)
    settings = replace(settings, desks=(replace(settings.desks[0], assignment="balanced"),))
    hd = await bootstrap(settings, clock=clock)
    try:
        me = await hd.agents.identify()
        await hd.agents.add(me, "alice", name="Alice")
        await hd.agents.set(me, me.login, availability="away")
        first = await hd.tickets.create(subject="One", body="x", requester_email="c@example.com")
        assert (await hd.tickets.get(first.id)).assignee.login == "alice"
        events = [e.body for e in await hd.tickets.timeline(first.id) if e.kind is EntryKind.EVENT]
        assert events == ["Assigned to Alice automatically (balanced: 0 open, least among 1 available)"]
        await hd.agents.set(me, "alice", availability="away")
        second = await hd.tickets.create(subject="Two", body="x", requester_email="c@example.com")
        assert (await hd.tickets.get(second.id)).assignee is None
        assert "nobody available" in (await hd.tickets.timeline(second.id))[-1].body
    finally:
        await hd.close()
