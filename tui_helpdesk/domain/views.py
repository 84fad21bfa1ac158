"""The system views of SPEC §4, the saved-view record and a page of a view."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .model import ACTIVE_STATUSES, CLOSED_STATUSES, TicketRow
from .query import ME, NOBODY, Condition, Field, Op, Sort, ViewSpec

_ACTIVE = tuple(s.value for s in ACTIVE_STATUSES)
_CLOSED = tuple(s.value for s in CLOSED_STATUSES)


class Visibility(str, enum.Enum):
    PERSONAL = "personal"
    SHARED = "shared"


@dataclass(frozen=True, slots=True)
class SystemView:
    key: str
    name: str
    spec: ViewSpec | None  # None: not a ticket view (Conversations)
    description: str


SYSTEM_VIEWS: tuple[SystemView, ...] = (
    SystemView(
        "inbox", "Inbox",
        ViewSpec((Condition(Field.ASSIGNEE, Op.ANY_OF, (ME,)), Condition(Field.STATUS, Op.ANY_OF, _ACTIVE))),
        "active tickets assigned to me",
    ),
    SystemView(
        "mentions", "Mentions",
        ViewSpec((Condition(Field.MENTIONS_ME, Op.FLAG),)),
        "tickets where I am @mentioned in a note",
    ),
    SystemView("all", "All", ViewSpec((Condition(Field.STATUS, Op.ANY_OF, _ACTIVE),)), "all active tickets"),
    SystemView(
        "unassigned", "Unassigned",
        ViewSpec((Condition(Field.ASSIGNEE, Op.ANY_OF, (NOBODY,)), Condition(Field.STATUS, Op.ANY_OF, _ACTIVE))),
        "active tickets with no assignee",
    ),
    SystemView("solved", "Solved", ViewSpec((Condition(Field.STATUS, Op.ANY_OF, _CLOSED),)), "Closed and Cancelled tickets"),
    SystemView("conversations", "Conversations", None, "live chatbot conversations not yet tickets"),
)
SYSTEM_VIEW_KEYS = {v.key: v for v in SYSTEM_VIEWS}


@dataclass(frozen=True, slots=True)
class SavedView:
    id: int | None
    name: str
    spec: ViewSpec
    visibility: Visibility
    owner_id: int | None  # None for shared views
    desk_id: int | None = None
    from_config: bool = False

    @property
    def key(self) -> str:
        return f"saved:{self.id}" if self.id is not None else f"config:{self.name}"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a view's tickets."""

    rows: list[TicketRow]
    # Pass back as ``after`` for the next page; None at the end.
    next_after: tuple | None


def default_sort() -> Sort:
    return Sort()
