"""Reading the "until" of On hold (domain.hold): spans, days, clock times, dates, in the agent's zone."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tui_helpdesk.domain.errors import UsageError
from tui_helpdesk.domain.hold import parse_until

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 7, 16, 30, tzinfo=BERLIN)  # a Monday


@pytest.mark.parametrize("text, expected", [
    ("2h", NOW + timedelta(hours=2)),
    ("90m", NOW + timedelta(minutes=90)),
    ("3d", NOW + timedelta(days=3)),
    ("1w", NOW + timedelta(weeks=1)),
    ("tomorrow", datetime(2026, 12, 8, 9, 0, tzinfo=BERLIN)),
    ("Wed", datetime(2026, 12, 9, 9, 0, tzinfo=BERLIN)),
    ("wednesday", datetime(2026, 12, 9, 9, 0, tzinfo=BERLIN)),
    ("mon", datetime(2026, 12, 14, 9, 0, tzinfo=BERLIN)),  # today is Monday: the next one
    ("17:00", datetime(2026, 12, 7, 17, 0, tzinfo=BERLIN)),
    ("08:15", datetime(2026, 12, 8, 8, 15, tzinfo=BERLIN)),  # passed today: tomorrow
    ("2026-12-24", datetime(2026, 12, 24, 9, 0, tzinfo=BERLIN)),
    ("2026-12-24 14:30", datetime(2026, 12, 24, 14, 30, tzinfo=BERLIN)),
    (" 2026-12-24T14:30 ", datetime(2026, 12, 24, 14, 30, tzinfo=BERLIN)),
])
def test_what_agents_type_is_read_in_their_zone(text, expected):
    assert parse_until(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "soon", "25:00", "2026-02-30", "2026-12-01", "mo", "12", "-2h", "wednesdayx"])
def test_what_cannot_be_read_or_is_past_is_refused_with_examples(text):
    with pytest.raises(UsageError) as err:
        parse_until(text, NOW)
    assert "2h" in str(err.value) or "not in the future" in str(err.value)


def test_a_date_across_a_dst_change_keeps_the_wall_clock_time():
    before_spring = datetime(2027, 3, 27, 12, 0, tzinfo=BERLIN)
    at = parse_until("2027-03-29", before_spring)
    assert (at.hour, at.minute) == (9, 0)
    assert at.astimezone(timezone.utc).hour == 7  # CEST, not CET
