"""Domain rules without I/O: lifecycle, query language, mentions, text cleaning."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from tui_helpdesk.domain import lifecycle, querylang
from tui_helpdesk.domain.errors import QueryError, UsageError
from tui_helpdesk.domain.mentions import find_mentions
from tui_helpdesk.domain.model import ACTIVE_STATUSES, CLOSED_STATUSES, Status
from tui_helpdesk.domain.query import Condition, Field, Op, Sort, SortKey, ViewSpec
from tui_helpdesk.domain.text import clean, one_line

NOW = datetime(2026, 11, 24, 12, 0)
statuses = st.sampled_from(list(Status))


# ------------------------------------------------------------------ lifecycle

@given(statuses)
def test_reply_moves_only_new_and_on_you(status):
    moved = lifecycle.after_agent_reply(status)
    assert moved == (Status.ON_CUSTOMER if status in (Status.NEW, Status.ON_YOU) else None)


@given(statuses, st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=30))
def test_customer_message_outcomes(status, days_closed, window):
    closed_at = NOW - timedelta(days=days_closed)
    out = lifecycle.after_customer_message(status, closed_at=closed_at, now=NOW, reopen_days=window)
    if status in CLOSED_STATUSES:
        if days_closed <= window:
            assert out.new_status is Status.ON_YOU and out.reopened and not out.follow_up
        else:
            assert out.follow_up and out.new_status is None
    elif status is Status.ON_YOU:
        assert out.new_status in (None, Status.ON_YOU) and not out.follow_up
    else:
        assert out.new_status is Status.ON_YOU
    # Whatever happens, a customer message never leaves a ticket waiting on the customer.
    assert out.new_status is not Status.ON_CUSTOMER


@given(statuses)
def test_notes_never_move_status(status):
    assert lifecycle.after_note(status) is None


def test_status_parse_accepts_labels_and_prefixes():
    assert Status.parse("On you") is Status.ON_YOU
    assert Status.parse("on-customer") is Status.ON_CUSTOMER
    assert Status.parse("hold") is Status.ON_HOLD
    with pytest.raises(ValueError, match="unknown status"):
        Status.parse("on")
    assert set(ACTIVE_STATUSES) | set(CLOSED_STATUSES) == set(Status)


def test_status_event_says_who_and_why():
    assert lifecycle.status_event_text(Status.NEW, Status.CLOSED, by="Ann", reason="spam") == "Status New → Closed by Ann (spam)"
    assert "automatically" in lifecycle.status_event_text(Status.ON_CUSTOMER, Status.ON_YOU, by=None, reason=None)


# ------------------------------------------------------------- query language

def test_example_from_the_spec():
    spec = querylang.parse('status:on_you,new assignee:me channel:email created:<7d "refund"')
    assert spec.conditions == (
        Condition(Field.STATUS, Op.ANY_OF, ("new", "on_you")),
        Condition(Field.ASSIGNEE, Op.ANY_OF, ("me",)),
        Condition(Field.CHANNEL, Op.ANY_OF, ("email",)),
        Condition(Field.CREATED, Op.WITHIN, (7,)),
        Condition(Field.TEXT, Op.MATCH, ("refund",)),
    )


@pytest.mark.parametrize("query, condition", [
    ("-status:closed", Condition(Field.STATUS, Op.NONE_OF, ("closed",))),
    ("status:!new", Condition(Field.STATUS, Op.NONE_OF, ("new",))),
    ("status:active", Condition(Field.STATUS, Op.ANY_OF, tuple(s.value for s in ACTIVE_STATUSES))),
    ("tag:~bill", Condition(Field.TAG, Op.CONTAINS, ("bill",))),
    ("requester:~Acme", Condition(Field.REQUESTER, Op.CONTAINS, ("acme",))),
    ("last:>2w", Condition(Field.LAST_MESSAGE, Op.OLDER, (14,))),
    ("created:<2026-01-31", Condition(Field.CREATED, Op.BEFORE, (date(2026, 1, 31),))),
    ("created:2026-01-01..2026-01-31", Condition(Field.CREATED, Op.BETWEEN, (date(2026, 1, 1), date(2026, 1, 31)))),
    ("by:customer", Condition(Field.LAST_MESSAGE_BY, Op.IS, ("customer",))),
    ("type:chat", Condition(Field.TYPE, Op.IS, ("live_chat",))),
    ("mentions:me", Condition(Field.MENTIONS_ME, Op.FLAG)),
    ("created:<12m", Condition(Field.CREATED, Op.WITHIN, (360,))),
])
def test_terms(query, condition):
    assert querylang.parse(query).conditions == (condition,)


def test_sort_and_free_text():
    spec = querylang.parse('sort:-created printer "paper jam"')
    assert spec.sort == Sort(SortKey.CREATED, True)
    assert spec.conditions == (Condition(Field.TEXT, Op.MATCH, ("printer paper jam",)),)


@pytest.mark.parametrize("query, message, start, end", [
    ("stauts:new", "unknown field 'stauts' (did you mean 'status'?)", 0, 6),
    ("assignee:me status:bogus", "unknown status 'bogus'", 12, 24),
    ("created:<400d", "1 to 365 days", 0, 13),
    ("created:yesterday", "expected <7d", 0, 17),
    ("by:robot", "customer or agent", 0, 8),
    ('x "open', "unterminated quote", 2, 7),
    ("sort:colour", "unknown sort 'colour'", 0, 11),
    ("status:", "'status:' needs a value", 0, 7),
    ("created:2026-02-01..2026-01-01", "between", 0, 30),
    ("-mentions:me", "cannot be negated", 0, 12),
])
def test_errors_point_at_the_bad_token(query, message, start, end):
    with pytest.raises(QueryError) as err:
        querylang.parse(query)
    assert message in err.value.reason
    assert (err.value.start, err.value.end) == (start, end)
    assert "^" in str(err.value)


def test_at_most_20_conditions():
    with pytest.raises(QueryError, match="at most 20"):
        querylang.parse(" ".join(["status:new"] * 21))


values = st.text(alphabet=st.characters(categories=("L", "N"), include_characters="@.-_ "), min_size=1, max_size=12).map(str.strip).filter(bool)
conditions = st.one_of(
    st.builds(lambda s, n: Condition(Field.STATUS, Op.NONE_OF if n else Op.ANY_OF, tuple(dict.fromkeys(s))),
              st.lists(st.sampled_from([s.value for s in Status]), min_size=1, max_size=3), st.booleans()),
    st.builds(lambda v: Condition(Field.CHANNEL, Op.ANY_OF, (v.lower().replace(" ", ""),)), values.filter(lambda v: v.replace(" ", "") and not v.startswith(("-", "!", "~", "@")))),
    st.builds(lambda d: Condition(Field.CREATED, Op.WITHIN, (d,)), st.integers(1, 365)),
    st.builds(lambda d: Condition(Field.LAST_MESSAGE, Op.OLDER, (d,)), st.integers(1, 365)),
    st.builds(lambda d: Condition(Field.CREATED, Op.BEFORE, (d,)), st.dates()),
    st.builds(lambda a, b: Condition(Field.LAST_MESSAGE, Op.BETWEEN, (min(a, b), max(a, b))), st.dates(), st.dates()),
    st.builds(lambda v: Condition(Field.TAG, Op.CONTAINS, (v.lower().replace(" ", ""),)), values.filter(lambda v: v.replace(" ", ""))),
    st.just(Condition(Field.MENTIONS_ME, Op.FLAG)),
    st.builds(lambda v: Condition(Field.LAST_MESSAGE_BY, Op.IS, (v,)), st.sampled_from(["customer", "agent"])),
)
specs = st.builds(
    lambda cs, key, desc: ViewSpec(tuple(cs), Sort(key, desc)),
    st.lists(conditions, max_size=6), st.sampled_from(list(SortKey)), st.booleans(),
)


@settings(max_examples=300)
@given(specs)
def test_format_then_parse_round_trips(spec):
    text = querylang.format_spec(spec)
    assert querylang.parse(text) == spec


@given(st.text(max_size=80))
def test_parse_never_fails_with_anything_but_a_query_error(text):
    try:
        querylang.parse(text)
    except QueryError as exc:
        assert 0 <= exc.start <= exc.end <= len(text) + 1


@given(specs)
def test_spec_survives_json(spec):
    assert ViewSpec.from_dict(spec.to_dict()) == spec


def test_completions():
    assert "status:" in querylang.completions("sta")
    assert "status:on_you" in querylang.completions("assignee:me status:on_")
    assert "status:new,on_hold" in querylang.completions("status:new,on_h")
    assert querylang.completions("by:c") == ["by:customer"]


def test_view_spec_validation():
    with pytest.raises(UsageError, match="at least one column"):
        ViewSpec(columns=())
    with pytest.raises(UsageError, match="unknown column"):
        ViewSpec(columns=("status", "colour"))


# ------------------------------------------------------------------- mentions

def test_mentions():
    assert find_mentions("@alice and @Bob., mail me@example.com or @alice again") == ["alice", "bob"]
    assert find_mentions("") == []


# ------------------------------------------------------------------ text

PAYLOADS = [
    "\x1b]52;c;Y3VybCBldmlsfHNo\x1b\\", "\x1b]0;PWNED\x1b\\", "\x1b[21t", "\x1bP$qm\x1b\\", "\x1b[2J", "\u009b2J",
    "ok\rFAKE", "\x1b]8;;https://evil.example/\x1b\\https://bank.example\x1b]8;;\x1b\\", "invoice\u202efdp.exe",
    "\x1b]0;PWNED\x07Hi",
]
BAD = ["\x1b", "\x07", "\x9b", "\x9d", "\x90", "\r", "\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_clean_removes_every_escape(payload):
    out = clean(payload)
    assert not any(b in out for b in BAD)


def test_clean_keeps_readable_text():
    assert clean("ok\rFAKE") == "ok\nFAKE"
    assert clean("\x1b]8;;https://evil.example/\x1b\\https://bank.example\x1b]8;;\x1b\\") == "https://bank.example"
    assert clean("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert clean("Grüße, 日本語\ttab\nline") == "Grüße, 日本語\ttab\nline"
    assert one_line("a\nb\t c", 3) == "a …"


@given(st.text())
def test_clean_never_lets_a_control_through(text):
    out = clean(text)
    assert not any(b in out for b in BAD)
    assert all(ch in "\n\t" or ord(ch) >= 0x20 and not 0x7F <= ord(ch) <= 0x9F for ch in out)


def test_a_filtered_view_proposes_fewer_words_for_the_same_tickets():
    from hypothesis import given, strategies as st

    from tui_helpdesk.domain import querylang
    from tui_helpdesk.domain.model import Status

    inbox = querylang.parse("assignee:me status:active")
    narrowed = inbox.and_(querylang.parse("status:new,on_you assignee:me refund"))
    assert querylang.format_spec(narrowed.simplified()) == "assignee:me status:new,on_you refund"

    names = [s.value for s in Status]

    @given(st.lists(st.lists(st.sampled_from(names), min_size=1, max_size=4), min_size=1, max_size=4))
    def same_statuses(groups):
        spec = querylang.parse(" ".join("status:" + ",".join(g) for g in groups))
        assert spec.simplified().statuses() == spec.statuses()
        assert len(spec.simplified().conditions) <= len(spec.conditions)

    same_statuses()
