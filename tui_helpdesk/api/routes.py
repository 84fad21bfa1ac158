"""The endpoints under ``/api/v1``: tickets, customer messages, health.

Each handler turns a validated request into one service call and the
answer into an envelope. POSTs run through :func:`idempotent`, which stores
the first answer under the client's ``Idempotency-Key``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.responses import Response

from ..domain.api import ApiToken
from ..domain.errors import HelpdeskError, QueryError, UsageError
from ..domain.model import Ticket, TicketRow, TicketType, TimelineEntry
from ..domain.views import SYSTEM_VIEW_KEYS
from ..domain.query import ViewSpec
from ..services.idempotency import check_key, fingerprint
from . import schemas as s
from .app import BEARER, VERSION, reader, state, writer
from .errors import ApiError

router = APIRouter(prefix="/api/v1")

MAX_ID = 2_147_483_647
TicketId = Annotated[int, Path(ge=1, le=MAX_ID, description="The ticket's number")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                              description="Makes the POST safe to retry (24 h)")]
VIEWS = {"all": SYSTEM_VIEW_KEYS["all"].spec, "unassigned": SYSTEM_VIEW_KEYS["unassigned"].spec,
         "solved": SYSTEM_VIEW_KEYS["solved"].spec, "any": ViewSpec()}

def _header(description: str, kind: str = "string") -> dict:
    return {"description": description, "schema": {"type": kind}}


REQUEST_ID = {"X-Request-Id": _header("This request's id (yours if you sent a sane one); quote it when reporting")}
RATE = {
    "RateLimit-Limit": _header("Requests allowed per window, for this token", "integer"),
    "RateLimit-Remaining": _header("Requests left in this window", "integer"),
    "RateLimit-Reset": _header("Seconds until the window ends", "integer"),
    "X-RateLimit-Limit": _header("As RateLimit-Limit", "integer"),
    "X-RateLimit-Remaining": _header("As RateLimit-Remaining", "integer"),
    "X-RateLimit-Reset": _header("Unix time the window ends", "integer"),
}
RETRY_AFTER = {"Retry-After": _header("Seconds to wait before trying again", "integer")}
REPLAYED = {"Idempotent-Replayed": _header("true when this is the stored answer to an earlier request with "
                                           "the same Idempotency-Key")}


ERROR_WHEN = {
    400: "A malformed query parameter, cursor, header or JSON body (VALIDATION_*)",
    401: "No token, or an unknown, malformed or revoked one (AUTH_MISSING_TOKEN, AUTH_INVALID_TOKEN)",
    403: "The token may only read (AUTH_INSUFFICIENT_SCOPE)",
    404: "No such ticket in this token's desk, or no such path (RESOURCE_NOT_FOUND)",
    409: "The first request with this Idempotency-Key is still running (IDEMPOTENCY_REQUEST_IN_PROGRESS)",
    413: "The body is over 1 MiB (PAYLOAD_TOO_LARGE)",
    415: "The body is not application/json (UNSUPPORTED_MEDIA_TYPE)",
    422: "An invalid body (VALIDATION_INVALID_BODY), or the Idempotency-Key was used with another body "
         "(IDEMPOTENCY_KEY_REUSED)",
    429: "Over the rate limit (RATE_LIMIT_TOO_MANY_REQUESTS)",
}


def _errors(*codes: int) -> dict:
    out = {}
    for code in codes:
        headers = {**REQUEST_ID, **(RATE if code not in (401, 413, 415) else {}),
                   **(RETRY_AFTER if code in (409, 429) else {})}
        out[code] = {"model": s.ErrorEnvelope, "headers": headers, "description": ERROR_WHEN[code]}
    return out


def _ok(code: int, *extra: dict) -> dict:
    headers = {**REQUEST_ID, **RATE}
    for e in extra:
        headers.update(e)
    return {code: {"headers": headers}}


READ_ERRORS = _errors(400, 401, 404, 429)
WRITE_ERRORS = _errors(400, 401, 403, 404, 409, 413, 415, 422, 429)
LOCATION = {"Location": _header("The new ticket's path")}


# ------------------------------------------------------------------ shaping

def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


def ticket_data(t: Ticket, external_id: str | None = None) -> dict:
    return {
        "id": t.id, "subject": t.subject, "status": t.status.value, "channel": t.channel, "type": t.type.value,
        "tags": list(t.tags), "assignee": t.assignee.login if t.assignee else None,
        "requester": {"name": t.requester.name, "email": t.requester.email},
        "createdAt": _utc(t.created_at), "updatedAt": _utc(t.updated_at), "lastMessageAt": _utc(t.last_message_at),
        "lastMessageBy": t.last_message_by.value, "followUpOf": t.follow_up_of, "externalId": external_id,
    }


def row_data(r: TicketRow) -> dict:
    return {"id": r.id, "subject": r.subject, "status": r.status.value, "channel": r.channel, "type": r.type.value,
            "preview": r.preview, "requester": r.requester, "requesterEmail": r.requester_email,
            "assignee": r.assignee, "createdAt": _utc(r.created_at), "updatedAt": _utc(r.updated_at),
            "lastMessageBy": r.last_message_by.value}


def entry_data(e: TimelineEntry) -> dict:
    return {"id": e.id, "kind": e.kind.value, "author": e.author, "body": e.body, "createdAt": _utc(e.created_at)}


def _external_id(entries: list[TimelineEntry]) -> str | None:
    first = entries[0] if entries else None
    value = first.meta.get("external_id") if first is not None and isinstance(first.meta, dict) else None
    return value if isinstance(value, str) else None


def respond(model: type[s.SQLModel], data: dict, status: int = 200, headers: dict | None = None) -> Response:
    """*data* checked against *model* and serialised once (the bytes an idempotent replay repeats)."""
    return Response(model.model_validate(data).model_dump_json(), status_code=status,
                    media_type="application/json", headers=headers)


def stored_answer(stored: tuple[int, str], headers: dict | None = None) -> Response:
    """An answer already serialised and stored with its write (status, JSON)."""
    return Response(stored[1], status_code=stored[0], media_type="application/json", headers=headers)


# ----------------------------------------------------------------- cursors

def _encode_cursor(scope: str, position: list) -> str:
    raw = json.dumps({"s": _scope_hash(scope), "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, scope: str) -> list:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("s") != _scope_hash(scope) or not isinstance(doc.get("p"), list):
            raise ValueError
        return doc["p"]
    except (ValueError, UnicodeDecodeError, TypeError):
        raise ApiError(400, "VALIDATION_INVALID_CURSOR",
                       "the cursor is not one this list gave out (for this view and query); start without one") from None


def _scope_hash(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def _pack(value):
    return {"dt": value.isoformat()} if isinstance(value, datetime) else value


def _unpack(value):
    if isinstance(value, dict) and set(value) == {"dt"} and isinstance(value["dt"], str):
        return datetime.fromisoformat(value["dt"])
    if value is None or isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    raise ValueError("bad cursor value")


def _after(position: list) -> tuple:
    try:
        if len(position) != 2:
            raise ValueError
        if position[0] == "offset":
            if not isinstance(position[1], int) or position[1] < 0:
                raise ValueError
            return ("offset", position[1])
        if not isinstance(position[1], int):
            raise ValueError
        return (_unpack(position[0]), position[1])
    except (ValueError, TypeError):
        raise ApiError(400, "VALIDATION_INVALID_CURSOR", "the cursor is damaged; start without one") from None


# ---------------------------------------------------------------- idempotency

Action = Callable[[], Awaitable[tuple[int, Response]]]


async def idempotent(request: Request, token: ApiToken, key: str | None, operation: str, body: dict,
                     action: Action, rebuild: Callable[[int | None, int | None], Awaitable[Response]],
                     render: Callable[[Ticket], tuple[int, str]] | None = None) -> Response:
    """Run *action* at most once per (desk, *key*); replay its stored answer to retries.

    Writes queue in the store (one SQLite writer at a time per process), not here:
    a request waits only while another one's transaction runs, not its whole request.
    """
    hd = state(request).hd
    if key is None:
        return (await action())[1]
    try:
        check_key(key)
    except UsageError as exc:
        raise ApiError(400, "VALIDATION_INVALID_HEADER", str(exc)) from None
    begun = await hd.idempotency.begin(desk_id=token.desk_id, token_id=token.id, key=key, operation=operation,
                                       request_hash=fingerprint(operation, body))
    record = begun.record
    if begun.replay:
        if record.response is not None:
            headers = {"Idempotent-Replayed": "true", **_made_headers(operation, record.ticket_id)}
            return Response(record.response, status_code=record.status_code or 200, media_type="application/json",
                            headers=headers)
        response = await rebuild(record.ticket_id, record.entry_id)
        await hd.idempotency.finish(record.id, response.status_code, response.body.decode())
        response.headers["Idempotent-Replayed"] = "true"
        return response
    bound = hd.idempotency.bind(record.id, render)
    try:
        status, response = await action()
        stored = hd.idempotency.answered()
    except BaseException as exc:
        hd.idempotency.unbind(bound)
        if await hd.idempotency.release(record.id):
            raise  # nothing was written: a retry runs the request again
        # The write committed and something after it failed: answer from what it made, once and for all.
        made = await hd.idempotency.made(record.id)
        if made is None or made.ticket_id is None or not isinstance(exc, Exception):
            raise
        if made.response is not None:  # its answer was stored with the write: that one, as every replay will
            return Response(made.response, status_code=made.status_code or 200, media_type="application/json",
                            headers=_made_headers(operation, made.ticket_id))
        response = await rebuild(made.ticket_id, made.entry_id)
        status = response.status_code
    else:
        hd.idempotency.unbind(bound)
        if stored is not None:
            return response  # answered in the write's own transaction (the action sent those bytes)
    await hd.idempotency.finish(record.id, status, response.body.decode())
    return response


def _made_headers(operation: str, ticket_id: int | None) -> dict[str, str]:
    return {"Location": f"/api/v1/tickets/{ticket_id}"} if operation == "create_ticket" and ticket_id else {}


# ----------------------------------------------------------------- endpoints

@router.get("/health", response_model=s.HealthEnvelope, tags=["health"], responses={200: {"headers": REQUEST_ID}},
            summary="Is the API up and its database reachable? (no token needed)")
async def health(request: Request) -> Response:
    await state(request).hd.api_access.desk_count()
    return respond(s.HealthEnvelope, {"data": {"status": "ok", "version": VERSION}})


@router.post("/tickets", status_code=201, response_model=s.TicketEnvelope,
             responses={**_ok(201, LOCATION, REPLAYED), **WRITE_ERRORS}, tags=["tickets"],
             openapi_extra=BEARER, summary="Open a ticket, as a customer wrote it")
async def create_ticket(request: Request, payload: s.TicketCreate, idempotency_key: IdempotencyKey = None,
                        token: ApiToken = Depends(writer)) -> Response:
    hd = state(request).hd

    location = {}

    def render(ticket: Ticket) -> tuple[int, str]:
        location["Location"] = f"/api/v1/tickets/{ticket.id}"
        return 201, s.TicketEnvelope.model_validate({"data": ticket_data(ticket, payload.externalId)}).model_dump_json()

    async def action() -> tuple[int, Response]:
        try:
            ticket = await hd.tickets.create(
                subject=payload.subject, body=payload.body, requester_email=payload.requester.email,
                requester_name=payload.requester.name, channel=payload.channel, type=TicketType.API,
                desk=token.desk_id, tags=payload.tags,
                meta={"external_id": payload.externalId} if payload.externalId else None)
        except UsageError as exc:
            raise ApiError(422, "VALIDATION_INVALID_BODY", str(exc).splitlines()[0]) from None
        stored = hd.idempotency.answered()
        if stored is not None:  # the very bytes stored with the ticket, for replays to repeat
            return stored[0], stored_answer(stored, location)
        return 201, respond(s.TicketEnvelope, {"data": ticket_data(ticket, payload.externalId)}, 201,
                            {"Location": f"/api/v1/tickets/{ticket.id}"})

    async def rebuild(ticket_id: int | None, entry_id: int | None) -> Response:
        ticket, entries, _ = await hd.api_access.public_timeline(token.desk_id, ticket_id, limit=1)
        return respond(s.TicketEnvelope, {"data": ticket_data(ticket, _external_id(entries))}, 201,
                       {"Location": f"/api/v1/tickets/{ticket.id}"})

    return await idempotent(request, token, idempotency_key, "create_ticket", payload.model_dump(), action, rebuild,
                            render)


@router.post("/tickets/{ticket_id}/messages", status_code=201, response_model=s.MessageEnvelope,
             responses={**_ok(201, REPLAYED), **WRITE_ERRORS}, tags=["tickets"],
             openapi_extra=BEARER, summary="Add a customer's message to a ticket")
async def add_message(request: Request, ticket_id: TicketId, payload: s.MessageCreate,
                      idempotency_key: IdempotencyKey = None, token: ApiToken = Depends(writer)) -> Response:
    hd = state(request).hd

    async def action() -> tuple[int, Response]:
        await hd.api_access.ticket(token.desk_id, ticket_id)  # 404 for another desk's ticket
        try:
            result = await hd.tickets.add_customer_message(ticket_id, payload.body)
        except UsageError as exc:
            raise ApiError(422, "VALIDATION_INVALID_BODY", str(exc).splitlines()[0]) from None
        data = {"ticket": ticket_data(result.ticket), "message": entry_data(result.entry),
                "followUp": result.follow_up}
        return 201, respond(s.MessageEnvelope, {"data": data}, 201)

    async def rebuild(made_ticket: int | None, entry_id: int | None) -> Response:
        ticket = await hd.api_access.ticket(token.desk_id, made_ticket)
        entry = await hd.api_access.entry(entry_id) if entry_id else None
        if entry is None:
            _, entries, _ = await hd.api_access.public_timeline(token.desk_id, made_ticket, limit=1)
            entry = entries[0]
        data = {"ticket": ticket_data(ticket), "message": entry_data(entry), "followUp": made_ticket != ticket_id}
        return respond(s.MessageEnvelope, {"data": data}, 201)

    return await idempotent(request, token, idempotency_key, f"add_message:{ticket_id}", payload.model_dump(),
                            action, rebuild)


@router.get("/tickets", response_model=s.TicketListEnvelope, responses={**_ok(200), **READ_ERRORS}, tags=["tickets"],
            openapi_extra=BEARER, summary="List tickets of a view, filtered by the query language, newest activity first")
async def list_tickets(
    request: Request,
    view: Annotated[str, Query(pattern="^(all|unassigned|solved|any)$",
                               description="all (active), unassigned, solved, or any status")] = "all",
    q: Annotated[str, Query(max_length=1000, description="Query language, e.g. 'channel:api tag:vip \"refund\"'")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000, description="From the previous page's pagination")] = None,
    token: ApiToken = Depends(reader),
) -> Response:
    hd = state(request).hd
    scope = f"tickets\n{token.desk_id}\n{view}\n{q}"
    after = _after(_decode_cursor(cursor, scope)) if cursor else None
    try:
        spec = VIEWS[view]
        if q.strip():
            query = await hd.views.parse(q)
            combined = spec.and_(query)
            if combined.statuses() == frozenset() and query.statuses():
                raise UsageError(f"the view '{view}' holds no ticket with the statuses asked for; use view=any")
            spec = combined
        page = await hd.api_access.page(token.desk_id, spec, limit=limit, after=after)
    except ApiError:
        raise
    except HelpdeskError as exc:
        if isinstance(exc, QueryError):
            raise ApiError(400, "VALIDATION_INVALID_QUERY", f"q: {exc.reason} at column {exc.start + 1}") from None
        if isinstance(exc, UsageError):
            raise ApiError(400, "VALIDATION_INVALID_QUERY", f"q: {str(exc).splitlines()[0]}") from None
        raise
    except (ValueError, TypeError):  # a cursor position the sort cannot take
        raise ApiError(400, "VALIDATION_INVALID_CURSOR", "the cursor is damaged; start without one") from None
    next_cursor = _encode_cursor(scope, [_pack(page.next_after[0]), page.next_after[1]]) if page.next_after else None
    return respond(s.TicketListEnvelope, {"data": [row_data(r) for r in page.rows],
                                          "pagination": {"cursor": next_cursor, "hasMore": page.next_after is not None}})


@router.get("/tickets/{ticket_id}", response_model=s.TicketDetailEnvelope, responses={**_ok(200), **READ_ERRORS}, tags=["tickets"],
            openapi_extra=BEARER, summary="One ticket with the start of its public timeline (internal notes never appear)")
async def get_ticket(request: Request, ticket_id: TicketId, token: ApiToken = Depends(reader)) -> Response:
    hd = state(request).hd
    ticket, entries, more = await hd.api_access.public_timeline(token.desk_id, ticket_id, limit=50)
    data = {**ticket_data(ticket, _external_id(entries)), "timeline": [entry_data(e) for e in entries],
            "timelineHasMore": more}
    return respond(s.TicketDetailEnvelope, {"data": data})


@router.get("/tickets/{ticket_id}/messages", response_model=s.EntryListEnvelope, responses={**_ok(200), **READ_ERRORS},
            tags=["tickets"], openapi_extra=BEARER, summary="A ticket's public timeline, oldest first, page by page")
async def list_messages(
    request: Request, ticket_id: TicketId,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    token: ApiToken = Depends(reader),
) -> Response:
    hd = state(request).hd
    scope = f"messages\n{token.desk_id}\n{ticket_id}"
    after_id = 0
    if cursor:
        position = _decode_cursor(cursor, scope)
        if len(position) != 1 or not isinstance(position[0], int) or isinstance(position[0], bool) or position[0] < 0:
            raise ApiError(400, "VALIDATION_INVALID_CURSOR", "the cursor is damaged; start without one")
        after_id = position[0]
    _, entries, more = await hd.api_access.public_timeline(token.desk_id, ticket_id, after_id=after_id, limit=limit)
    next_cursor = _encode_cursor(scope, [entries[-1].id]) if more and entries else None
    return respond(s.EntryListEnvelope, {"data": [entry_data(e) for e in entries],
                                         "pagination": {"cursor": next_cursor, "hasMore": more}})


__all__ = ["router"]
