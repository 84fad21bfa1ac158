"""Request and response schemas of the public API, as SQLModel models.

One set of classes: FastAPI validates requests with them and generates the
OpenAPI document from them. Field names are camelCase like the envelope's
``hasMore``; times are ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, StringConstraints
from sqlmodel import Field, SQLModel

MAX_BODY_CHARS = 100_000
MAX_SUBJECT_CHARS = 998
MAX_TAGS = 20


class _Strict(SQLModel):
    model_config = ConfigDict(extra="forbid")


EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
# Text must hold something visible: control characters and escape sequences are
# removed from untrusted text, and a text left empty is refused (422).
VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f]"


class Requester(_Strict):
    email: Annotated[str, StringConstraints(pattern=EMAIL_PATTERN)] = Field(
        min_length=3, max_length=320, description="The customer's email address (ASCII; IDN domains in punycode)")
    name: str = Field(default="", max_length=300, description="The customer's name, if known")


class TicketCreate(_Strict):
    """A ticket to open, as a customer wrote it (a web form, a shop, a monitoring system)."""

    requester: Requester
    subject: Annotated[str, StringConstraints(pattern=VISIBLE)] = Field(min_length=1, max_length=MAX_SUBJECT_CHARS)
    body: Annotated[str, StringConstraints(pattern=VISIBLE)] = Field(
        min_length=1, max_length=MAX_BODY_CHARS, description="The customer's message, plain text")
    channel: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = Field(
        default="api", description="Where it came from, e.g. api, web, shop")
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=MAX_TAGS)
    externalId: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="Your system's id for it, returned as given")


class MessageCreate(_Strict):
    """A customer's message on an existing ticket."""

    body: Annotated[str, StringConstraints(pattern=VISIBLE)] = Field(min_length=1, max_length=MAX_BODY_CHARS)


class RequesterOut(SQLModel):
    name: str
    email: str | None


class Ticket(SQLModel):
    id: int
    subject: str
    status: Literal["new", "on_you", "on_customer", "on_hold", "closed", "cancelled"]
    channel: str
    type: Literal["email", "live_chat", "api"]
    tags: list[str]
    assignee: str | None = Field(description="The assigned agent's login, or null")
    requester: RequesterOut
    createdAt: datetime
    updatedAt: datetime
    lastMessageAt: datetime
    lastMessageBy: Literal["customer", "agent"]
    followUpOf: int | None
    externalId: str | None = None


class TicketSummary(SQLModel):
    id: int
    subject: str
    status: Literal["new", "on_you", "on_customer", "on_hold", "closed", "cancelled"]
    channel: str
    type: Literal["email", "live_chat", "api"]
    preview: str
    requester: str
    requesterEmail: str | None
    assignee: str | None
    createdAt: datetime
    updatedAt: datetime
    lastMessageBy: Literal["customer", "agent"]


class Entry(SQLModel):
    """A public timeline entry: a customer's message or an agent's reply (internal notes never appear)."""

    id: int
    kind: Literal["message", "reply"]
    author: str
    body: str
    createdAt: datetime


class TicketDetail(Ticket):
    timeline: list[Entry] = Field(description="The first public entries, oldest first")
    timelineHasMore: bool = Field(description="More entries follow: page them with /tickets/{id}/messages")


class Pagination(SQLModel):
    cursor: str | None = Field(description="Pass back as ?cursor= for the next page; null at the end")
    hasMore: bool


class MessageResult(SQLModel):
    ticket: Ticket
    message: Entry
    followUp: bool = Field(description="True when the ticket was closed too long ago: the message opened "
                                       "a follow-up ticket, which is `ticket`")


class Health(SQLModel):
    status: Literal["ok"]
    version: str


class ErrorBody(SQLModel):
    code: str = Field(description="Stable SCREAMING_SNAKE_CASE identifier to branch on")
    message: str = Field(description="For people; may change")


class ErrorEnvelope(SQLModel):
    error: ErrorBody


class TicketEnvelope(SQLModel):
    data: Ticket


class TicketDetailEnvelope(SQLModel):
    data: TicketDetail


class TicketListEnvelope(SQLModel):
    data: list[TicketSummary]
    pagination: Pagination


class EntryListEnvelope(SQLModel):
    data: list[Entry]
    pagination: Pagination


class MessageEnvelope(SQLModel):
    data: MessageResult


class HealthEnvelope(SQLModel):
    data: Health
