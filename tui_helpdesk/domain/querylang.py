"""The typed query language: the filters of SPEC §4 for keyboard users.

    status:on_you,new assignee:me channel:email created:<7d "refund"

Grammar, one term per whitespace-separated token:

- ``field:v1,v2``  is any of;  ``-field:v1,v2`` (or ``field:!v1,v2``) is none of
- ``tag:~abc`` / ``requester:~acme``  contains
- ``created:<7d``  in the last 7 days (d, w, m = 30 days, y = 365 days; at most 365 days);
  ``created:>7d``  more than 7 days ago; ``created:<2026-01-31`` before; ``created:>2026-01-01``
  after; ``created:2026-01-01..2026-01-31`` between.  ``last:`` is the last message's time.
- ``by:customer`` / ``by:agent``  last message by;  ``type:ticket`` / ``type:live_chat``
- ``mentions:me``  I am @mentioned;  ``sort:created`` / ``sort:-updated`` (``-`` = newest first)
- bare words and ``"quoted phrases"``  full-text search

:func:`parse` returns a :class:`ViewSpec`; :func:`format_spec` writes one back.
Errors are :class:`QueryError` pointing at the bad token.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date

from .errors import QueryError, UsageError
from .model import ACTIVE_STATUSES, CLOSED_STATUSES, Author, Status, TicketType
from .query import (
    MAX_RELATIVE_DAYS,
    Condition,
    Field,
    Op,
    Sort,
    SortKey,
    ViewSpec,
)

ALIASES: dict[str, Field] = {
    "status": Field.STATUS,
    "is": Field.STATUS,
    "channel": Field.CHANNEL,
    "assignee": Field.ASSIGNEE,
    "assigned": Field.ASSIGNEE,
    "mentions": Field.MENTIONS_ME,
    "created": Field.CREATED,
    "last": Field.LAST_MESSAGE,
    "updated": Field.LAST_MESSAGE,
    "by": Field.LAST_MESSAGE_BY,
    "type": Field.TYPE,
    "tag": Field.TAG,
    "requester": Field.REQUESTER,
    "from": Field.REQUESTER,
    "text": Field.TEXT,
}
FIELD_NAMES = ("status", "assignee", "channel", "type", "tag", "requester", "by", "created", "last", "mentions", "text", "sort")
UNITS = {"d": 1, "w": 7, "m": 30, "y": 365}
STATUS_GROUPS = {
    "active": tuple(s.value for s in ACTIVE_STATUSES),
    "open": tuple(s.value for s in ACTIVE_STATUSES),
    "solved": tuple(s.value for s in CLOSED_STATUSES),
}

_TOKEN = re.compile(r'\s*(?:(-?)([A-Za-z_]+):("(?:[^"\\]|\\.)*"?|\S*)|("(?:[^"\\]|\\.)*"?)|(\S+))')
_RELATIVE = re.compile(r"^(\d+)([dwmy])$")


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int


def _unquote(text: str, token: Token, query: str) -> str:
    if not text.startswith('"'):
        return text
    if len(text) < 2 or not text.endswith('"') or text.endswith('\\"') and not text.endswith('\\\\"'):
        raise QueryError("unterminated quote", query, token.start, token.end)
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse(query: str) -> ViewSpec:
    """Parse *query* into a view spec (conditions ANDed, optional sort)."""
    conditions: list[Condition] = []
    words: list[str] = []
    sort = Sort()
    pos = 0
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if not match or match.end() == pos:
            break
        pos = match.end()
        start = match.start(2) - len(match.group(1) or "") if match.group(2) else match.start(4) if match.group(4) else match.start(5)
        token = Token(match.group(0).strip(), start, match.end())
        if match.group(2):
            negate = bool(match.group(1))
            name = match.group(2).lower()
            raw = match.group(3)
            if name == "sort":
                sort = _parse_sort(raw, token, query)
                continue
            field = ALIASES.get(name)
            if field is None:
                hint = difflib.get_close_matches(name, FIELD_NAMES, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else f" (fields: {', '.join(FIELD_NAMES)})"
                raise QueryError(f"unknown field '{name}'{extra}", query, token.start, token.start + len(match.group(1) or "") + len(name))
            value = _unquote(raw, token, query)
            if not value:
                raise QueryError(f"'{name}:' needs a value", query, token.start, token.end)
            try:
                conditions.append(_condition(field, value, negate))
            except (UsageError, ValueError) as exc:
                raise QueryError(str(exc), query, token.start, token.end) from None
        elif match.group(4):
            words.append(_unquote(match.group(4), token, query))
        else:
            words.append(match.group(5))
    text = " ".join(w for w in words if w.strip())
    if text:
        conditions.append(Condition(Field.TEXT, Op.MATCH, (text,)))
    try:
        return ViewSpec(tuple(conditions), sort)
    except UsageError as exc:
        raise QueryError(str(exc), query, 0, len(query)) from None


def _parse_sort(raw: str, token: Token, query: str) -> Sort:
    descending = raw.startswith("-")
    key = raw.lstrip("-+").lower()
    try:
        sort_key = SortKey(key)
    except ValueError:
        keys = ", ".join(k.value for k in SortKey)
        raise QueryError(f"unknown sort '{key}' (sort by: {keys})", query, token.start, token.end) from None
    # Times read naturally newest first; names and ids A→Z unless '-' says otherwise.
    if not raw.startswith(("-", "+")) and sort_key in (SortKey.UPDATED, SortKey.CREATED):
        descending = True
    return Sort(sort_key, descending)


def _split(value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise UsageError("needs a value")
    return items


def _condition(field: Field, value: str, negate: bool) -> Condition:
    if value.startswith("!"):
        negate, value = True, value[1:]
    set_op = Op.NONE_OF if negate else Op.ANY_OF
    if field is Field.STATUS:
        statuses: list[str] = []
        for item in _split(value):
            group = STATUS_GROUPS.get(item.lower())
            try:
                statuses.extend(group if group else (Status.parse(item).value,))
            except ValueError as exc:
                raise UsageError(f"{str(exc)[:-1]}; or a group: active, solved)") from None
        return Condition(field, set_op, tuple(dict.fromkeys(statuses)))
    if field in (Field.CHANNEL, Field.ASSIGNEE):
        return Condition(field, set_op, tuple(v.lower() for v in _split(value)))
    if field in (Field.TAG, Field.REQUESTER):
        if value.startswith("~"):
            if not value[1:].strip():
                raise UsageError(f"'{field.value}:~' needs the text to look for, e.g. {field.value}:~bil")
            if negate:
                raise UsageError(f"'{field.value}:~' cannot be negated")
            return Condition(field, Op.CONTAINS, (value[1:].lower(),))
        return Condition(field, set_op, tuple(v.lower() for v in _split(value)))
    if field is Field.MENTIONS_ME:
        if negate:
            raise UsageError("'mentions:me' cannot be negated")
        if value.lower() not in ("me", "yes", "true"):
            raise UsageError("use 'mentions:me'")
        return Condition(field, Op.FLAG)
    if field is Field.LAST_MESSAGE_BY:
        try:
            return Condition(field, Op.IS, (Author(value.lower()).value,))
        except ValueError:
            raise UsageError(f"'by:' is customer or agent, not {value!r}") from None
    if field is Field.TYPE:
        items = []
        for item in _split(value):
            item = item.lower().replace("-", "_")
            if item in ("chat", "livechat"):
                item = "live_chat"
            if item != "ticket" and item not in {t.value for t in TicketType}:
                raise UsageError(f"unknown type {item!r} (ticket, live_chat, email, api)")
            items.append(item)
        if negate:
            return Condition(field, Op.NONE_OF, tuple(items))
        return Condition(field, Op.IS if len(items) == 1 else Op.ANY_OF, tuple(items))
    if field in (Field.CREATED, Field.LAST_MESSAGE):
        if negate:
            raise UsageError(f"'{field.value}:' cannot be negated; use < or >")
        return _time_condition(field, value)
    if field is Field.TEXT:
        return Condition(field, Op.MATCH, (value,))
    raise UsageError(f"cannot filter on {field.value}")  # pragma: no cover - every field handled


def _time_condition(field: Field, value: str) -> Condition:
    if ".." in value:
        first, _, second = value.partition("..")
        return Condition(field, Op.BETWEEN, (_date(first), _date(second)))
    if value[0] in "<>":
        direction, rest = value[0], value[1:]
        relative = _RELATIVE.match(rest.lower())
        if relative:
            days = int(relative.group(1)) * UNITS[relative.group(2)]
            if not 1 <= days <= MAX_RELATIVE_DAYS:
                raise UsageError(f"relative times are 1 to {MAX_RELATIVE_DAYS} days (got {days})")
            return Condition(field, Op.WITHIN if direction == "<" else Op.OLDER, (days,))
        return Condition(field, Op.BEFORE if direction == "<" else Op.AFTER, (_date(rest),))
    raise UsageError(f"expected <7d, >30d, <YYYY-MM-DD, >YYYY-MM-DD or A..B, not {value!r}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _quote(value: str) -> str:
    if value and re.fullmatch(r'[^\s",!~<>"-][^\s",]*', value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_spec(spec: ViewSpec) -> str:
    """Write *spec* back as a query string that :func:`parse` reads to the same spec."""
    parts: list[str] = []
    for c in spec.conditions:
        name = c.field.value
        if c.op is Op.MATCH:
            parts.append(_quote(c.values[0]))
        elif c.op is Op.FLAG:
            parts.append(f"{name}:me")
        elif c.field is Field.STATUS and c.op in (Op.ANY_OF, Op.NONE_OF) and _group(c.values):
            parts.append(("-" if c.op is Op.NONE_OF else "") + f"{name}:{_group(c.values)}")
        elif c.op in (Op.ANY_OF, Op.IS):
            parts.append(f"{name}:" + ",".join(_quote(v) for v in c.values))
        elif c.op is Op.NONE_OF:
            parts.append(f"-{name}:" + ",".join(_quote(v) for v in c.values))
        elif c.op is Op.CONTAINS:
            parts.append(f"{name}:~" + _quote(c.values[0]).strip('"'))
        elif c.op is Op.WITHIN:
            parts.append(f"{name}:<{c.values[0]}d")
        elif c.op is Op.OLDER:
            parts.append(f"{name}:>{c.values[0]}d")
        elif c.op is Op.BEFORE:
            parts.append(f"{name}:<{c.values[0].isoformat()}")
        elif c.op is Op.AFTER:
            parts.append(f"{name}:>{c.values[0].isoformat()}")
        elif c.op is Op.BETWEEN:
            parts.append(f"{name}:{c.values[0].isoformat()}..{c.values[1].isoformat()}")
    if spec.sort != Sort():
        parts.append(f"sort:{'-' if spec.sort.descending else '+'}{spec.sort.key.value}")
    return " ".join(parts)


def _group(values: tuple) -> str | None:
    for group in ("active", "solved"):
        if set(values) == set(STATUS_GROUPS[group]):
            return group
    return None


def completions(prefix: str) -> list[str]:
    """Field names and values that complete the last token of *prefix* (for the filter bar)."""
    last = prefix.rsplit(" ", 1)[-1]
    negate = last.startswith("-")
    body = last[1:] if negate else last
    if ":" not in body:
        return [("-" if negate else "") + f + ":" for f in FIELD_NAMES if f.startswith(body.lower())]
    name, _, value = body.partition(":")
    head, _, current = value.rpartition(",")
    values: tuple[str, ...] = ()
    if name == "status":
        values = tuple(s.value for s in Status) + tuple(STATUS_GROUPS)
    elif name == "by":
        values = ("customer", "agent")
    elif name == "type":
        values = ("ticket", "live_chat", "email", "api")
    elif name == "assignee":
        values = ("me", "none")
    elif name == "mentions":
        values = ("me",)
    elif name == "sort":
        values = tuple(k.value for k in SortKey) + tuple("-" + k.value for k in SortKey)
    elif name in ("created", "last"):
        values = ("<1d", "<7d", "<30d", ">7d", ">30d")
    lead = ("-" if negate else "") + name + ":" + (head + "," if head else "")
    return [lead + v for v in values if v.startswith(current.lower())]
