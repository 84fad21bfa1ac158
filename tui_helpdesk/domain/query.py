"""Views as declarative queries: conditions, sort and columns (SPEC §4).

A view — system, saved or ad hoc — is a :class:`ViewSpec`. The store turns it
into one SQL query for a count and one for a page of rows; nothing here knows
about SQL. ``me`` in a condition is resolved by the store to the current agent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date

from .errors import UsageError
from .model import Author, Status, TicketType

MAX_NAME = 100
MAX_CONDITIONS = 20
MAX_PERSONAL_VIEWS = 10
MAX_SHARED_VIEWS = 30
MAX_RELATIVE_DAYS = 365


class Field(str, enum.Enum):
    STATUS = "status"
    CHANNEL = "channel"
    ASSIGNEE = "assignee"
    MENTIONS_ME = "mentions"
    CREATED = "created"
    LAST_MESSAGE = "last"
    LAST_MESSAGE_BY = "by"
    TYPE = "type"
    TAG = "tag"
    REQUESTER = "requester"
    TEXT = "text"
    DESK = "desk"


class Op(str, enum.Enum):
    ANY_OF = "any_of"
    NONE_OF = "none_of"
    IS = "is"
    CONTAINS = "contains"
    WITHIN = "within"  # in the last N days
    OLDER = "older"  # more than N days ago
    BEFORE = "before"
    AFTER = "after"
    BETWEEN = "between"
    FLAG = "flag"
    MATCH = "match"  # full-text


FIELD_OPS: dict[Field, frozenset[Op]] = {
    Field.STATUS: frozenset({Op.ANY_OF, Op.NONE_OF}),
    Field.CHANNEL: frozenset({Op.ANY_OF, Op.NONE_OF}),
    Field.ASSIGNEE: frozenset({Op.ANY_OF, Op.NONE_OF}),
    Field.MENTIONS_ME: frozenset({Op.FLAG}),
    Field.CREATED: frozenset({Op.WITHIN, Op.OLDER, Op.BEFORE, Op.AFTER, Op.BETWEEN}),
    Field.LAST_MESSAGE: frozenset({Op.WITHIN, Op.OLDER, Op.BEFORE, Op.AFTER, Op.BETWEEN}),
    Field.LAST_MESSAGE_BY: frozenset({Op.IS}),
    Field.TYPE: frozenset({Op.IS, Op.ANY_OF, Op.NONE_OF}),
    Field.TAG: frozenset({Op.ANY_OF, Op.NONE_OF, Op.CONTAINS}),
    Field.REQUESTER: frozenset({Op.ANY_OF, Op.NONE_OF, Op.CONTAINS}),
    Field.TEXT: frozenset({Op.MATCH}),
    Field.DESK: frozenset({Op.ANY_OF}),
}

ME = "me"
NOBODY = "none"


@dataclass(frozen=True, slots=True)
class Condition:
    """One filter condition. ``values`` are strings, dates or day counts by op."""

    field: Field
    op: Op
    values: tuple = ()

    def __post_init__(self) -> None:
        if self.op not in FIELD_OPS[self.field]:
            raise UsageError(f"{self.field.value} does not support '{self.op.value}'")
        if self.op in (Op.WITHIN, Op.OLDER):
            (days,) = self.values
            if not (isinstance(days, int) and 1 <= days <= MAX_RELATIVE_DAYS):
                raise UsageError(f"{self.field.value}: 'in the last' must be 1 to {MAX_RELATIVE_DAYS} days")
        elif self.op in (Op.BEFORE, Op.AFTER):
            (day,) = self.values
            if not isinstance(day, date):
                raise UsageError(f"{self.field.value}: expected a date")
        elif self.op is Op.BETWEEN:
            start, end = self.values
            if not (isinstance(start, date) and isinstance(end, date)) or end < start:
                raise UsageError(f"{self.field.value}: 'between' needs two dates, the first not after the second")
        elif self.op is Op.FLAG:
            if self.values:
                raise UsageError(f"{self.field.value} takes no value")
        elif not self.values:
            raise UsageError(f"{self.field.value} needs a value")
        if self.field is Field.STATUS:
            # A set of statuses: kept in lifecycle order so equal filters compare equal.
            chosen = {Status(value) for value in self.values}
            object.__setattr__(self, "values", tuple(s.value for s in Status if s in chosen))
        elif self.field is Field.LAST_MESSAGE_BY:
            for value in self.values:
                Author(value)
        elif self.field is Field.TYPE:
            for value in self.values:
                if value != "ticket":
                    TicketType(value)


class SortKey(str, enum.Enum):
    UPDATED = "updated"  # last activity
    CREATED = "created"
    ID = "id"
    STATUS = "status"
    REQUESTER = "requester"
    ASSIGNEE = "assignee"
    SUBJECT = "subject"


@dataclass(frozen=True, slots=True)
class Sort:
    key: SortKey = SortKey.UPDATED
    descending: bool = True


COLUMNS = ("status", "id", "requester", "details", "assignee", "created", "updated")
DEFAULT_COLUMNS = COLUMNS


@dataclass(frozen=True, slots=True)
class ViewSpec:
    conditions: tuple[Condition, ...] = ()
    sort: Sort = field(default_factory=Sort)
    columns: tuple[str, ...] = DEFAULT_COLUMNS

    def __post_init__(self) -> None:
        if len(self.conditions) > MAX_CONDITIONS:
            raise UsageError(f"a view has at most {MAX_CONDITIONS} conditions (got {len(self.conditions)})")
        if not self.columns:
            raise UsageError("a view shows at least one column")
        unknown = [c for c in self.columns if c not in COLUMNS]
        if unknown:
            raise UsageError(f"unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})")
        if len(set(self.columns)) != len(self.columns):
            raise UsageError("a column is listed twice")

    def statuses(self) -> frozenset[str] | None:
        """The statuses a ticket may have to match, or None when no condition limits them."""
        allowed: set[str] | None = None
        excluded: set[str] = set()
        for c in self.conditions:
            if c.field is not Field.STATUS:
                continue
            if c.op is Op.NONE_OF:
                excluded.update(c.values)
            else:
                allowed = set(c.values) if allowed is None else allowed & set(c.values)
        if allowed is None and not excluded:
            return None
        return frozenset((allowed if allowed is not None else {s.value for s in Status}) - excluded)

    def simplified(self) -> "ViewSpec":
        """The same tickets with fewer words: repeated conditions once, "any of" statuses intersected.

        What a filtered view proposes to save: the Inbox (status:active) narrowed
        by status:on_you is status:on_you, not both.
        """
        out: list[Condition] = []
        status_at: int | None = None
        for c in self.conditions:
            if c in out:
                continue
            if c.field is Field.STATUS and c.op is Op.ANY_OF:
                if status_at is None:
                    status_at = len(out)
                    out.append(c)
                    continue
                both = set(out[status_at].values) & set(c.values)
                if both:  # nothing in common matches no ticket: left as written, for the agent to see
                    out[status_at] = Condition(Field.STATUS, Op.ANY_OF,
                                               tuple(st.value for st in Status if st.value in both))
                    continue
            out.append(c)
        return replace(self, conditions=tuple(out))

    def and_(self, other: "ViewSpec") -> "ViewSpec":
        """This view narrowed by an ad hoc filter; the filter's sort wins if set."""
        sort = other.sort if other.sort != Sort() else self.sort
        return replace(self, conditions=self.conditions + other.conditions, sort=sort)

    def to_dict(self) -> dict:
        return {
            "conditions": [
                {"field": c.field.value, "op": c.op.value, "values": [_enc(v) for v in c.values]}
                for c in self.conditions
            ],
            "sort": {"key": self.sort.key.value, "descending": self.sort.descending},
            "columns": list(self.columns),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ViewSpec":
        conditions = []
        for c in data.get("conditions", []):
            op = Op(c["op"])
            values = tuple(_dec(v, op) for v in c.get("values", []))
            conditions.append(Condition(Field(c["field"]), op, values))
        sort = data.get("sort") or {}
        return cls(
            conditions=tuple(conditions),
            sort=Sort(SortKey(sort.get("key", "updated")), bool(sort.get("descending", True))),
            columns=tuple(data.get("columns") or DEFAULT_COLUMNS),
        )


def _enc(value):
    return value.isoformat() if isinstance(value, date) else value


def _dec(value, op: Op):
    if op in (Op.BEFORE, Op.AFTER, Op.BETWEEN):
        return date.fromisoformat(value)
    return value


def validate_view_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise UsageError("a view needs a name")
    if len(name) > MAX_NAME:
        raise UsageError(f"a view name has at most {MAX_NAME} characters (got {len(name)})")
    return name
