"""Rows of the store's tables as the domain's records.

Private to the query modules of this package: services and the UI only ever
see what these build.
"""

from __future__ import annotations

from sqlalchemy import func, select

from ....domain.model import (
    Agent,
    Author,
    Availability,
    Desk,
    EntryKind,
    Requester,
    Role,
    Status,
    TicketRow as TicketLine,
    TicketType,
    TimelineEntry,
)
from ....domain.query import ViewSpec
from ....domain.views import SavedView, Visibility
from ..tables import AGENT, TICKET
from ..tables import REQUESTER as REQ
from ..viewsql import A, R, T


def _line_select():
    requester_name = func.coalesce(func.nullif(R.name, ""), R.email, R.chatbot_user_id, "")
    return (
        select(
            T.id, T.status, T.type, T.channel, T.subject, T.preview, T.created_at, T.updated_at, T.last_message_by,
            requester_name.label("requester_name"), A.name.label("assignee_name"), R.email.label("requester_email"),
        )
        .select_from(TICKET.join(REQ, R.id == T.requester_id).outerjoin(AGENT, A.id == T.assignee_id))
    )


def _line(r) -> TicketLine:
    return TicketLine(
        id=r.id, status=Status(r.status), type=TicketType(r.type), channel=r.channel, subject=r.subject,
        preview=r.preview, requester=r.requester_name, assignee=r.assignee_name, created_at=r.created_at,
        updated_at=r.updated_at, last_message_by=Author(r.last_message_by), requester_email=r.requester_email,
    )


def _desk(r) -> Desk:
    return Desk(id=r.id, slug=r.slug, name=r.name, enabled=r.enabled, reopen_days=r.reopen_days)


def _agent(r) -> Agent:
    return Agent(
        id=r.id, login=r.login, name=r.name, email=r.email, role=Role(r.role),
        availability=Availability(r.availability), max_open=r.max_open, shift=r.shift,
        active=bool(r.active),
    )


def _requester(r) -> Requester:
    return Requester(id=r.id, name=r.name, email=r.email, chatbot_user_id=r.chatbot_user_id, language=r.language)


def _entry(r) -> TimelineEntry:
    return TimelineEntry(
        id=r.id, ticket_id=r.ticket_id, kind=EntryKind(r.kind), body=r.body, created_at=r.created_at,
        author=r.author_name, author_agent_id=r.author_agent_id, meta=r.meta or {},
    )


def _saved(r) -> SavedView:
    return SavedView(
        id=r.id, name=r.name, spec=ViewSpec.from_dict(r.spec), visibility=Visibility(r.visibility),
        owner_id=r.owner_id, desk_id=r.desk_id,
    )
