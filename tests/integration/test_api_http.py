"""The public API over real HTTP: uvicorn on loopback, httpx as the client, a SQLite file behind.

Covers the envelopes, the public timeline (notes never leave), cursor
pagination, auth (no token, wrong desk, read scope writing, revoked), the
rate limit and its headers, bad input (always a 4xx with a code, never a
500 or a traceback) and the committed OpenAPI document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from tui_helpdesk.api.app import ApiOptions, create_app
from tui_helpdesk.bootstrap import Helpdesk, bootstrap
from tui_helpdesk.domain.model import Agent
from tui_helpdesk.domain.query import ViewSpec
from tui_helpdesk.settings import DeskSettings, load

from ..api_support import ApiServer

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Env:
    hd: Helpdesk
    ann: Agent
    server: ApiServer
    write: str  # support desk, read+write
    read: str  # support desk, read only
    sales: str  # the sales desk, read+write
    revoked: str

    def client(self, token: str | None = None, headers: dict | None = None) -> httpx.AsyncClient:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.server.url, headers={**auth, **(headers or {})}, timeout=10)


def two_desks(url: str):
    return replace(load(database_url=url), desks=(DeskSettings(), DeskSettings(slug="sales", name="Sales")))


async def open_env(url: str, options: ApiOptions) -> Env:
    settings = two_desks(url)
    hd = await bootstrap(settings)
    ann = await hd.agents.identify("ann")
    await hd.agents.add(ann, "bob", name="Bob Brown")
    _, write = await hd.api_access.create_token(ann, "web form")
    _, read = await hd.api_access.create_token(ann, "dashboard", scopes="read")
    _, sales = await hd.api_access.create_token(ann, "shop", desk="sales")
    gone, revoked = await hd.api_access.create_token(ann, "old")
    await hd.api_access.revoke_token(ann, gone.id)
    server = ApiServer(settings, options).start()
    return Env(hd, ann, server, write, read, sales, revoked)


@pytest.fixture
async def env(sqlite_url):
    e = await open_env(sqlite_url, ApiOptions(auth_cache_seconds=0, send_webhooks=False))
    yield e
    await e.server.astop()
    await e.hd.close()


def new_ticket(n: int = 1, **extra) -> dict:
    return {"requester": {"email": f"cust{n}@example.com", "name": f"Customer {n}"}, "subject": f"Order {n}",
            "body": f"Where is order {n}?", **extra}


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    doc = r.json()
    assert set(doc) == {"error"} and isinstance(doc["error"]["message"], str) and doc["error"]["message"]
    if code:
        assert doc["error"]["code"] == code, doc
    assert "Traceback" not in r.text and "File \"" not in r.text
    assert r.headers.get("x-request-id")
    return doc["error"]


async def test_create_then_read_list_and_the_public_timeline(env):
    async with env.client(env.write) as c:
        r = await c.post("/api/v1/tickets", json=new_ticket(1, channel="shop", tags=["VIP", "order"],
                                                            externalId="shop-42"))
        assert r.status_code == 201, r.text
        t = r.json()["data"]
        assert r.headers["location"] == f"/api/v1/tickets/{t['id']}"
        assert (t["subject"], t["status"], t["channel"], t["type"], t["tags"], t["externalId"]) == (
            "Order 1", "new", "shop", "api", ["order", "vip"], "shop-42")
        assert t["requester"] == {"name": "Customer 1", "email": "cust1@example.com"}
        assert t["createdAt"].endswith("Z")
        # An agent notes (internal) and replies (public); the customer writes again through the API.
        await env.hd.tickets.note(t["id"], "internal: customer is a reseller, @bob check", actor=env.ann)
        await env.hd.tickets.reply(t["id"], "It ships today.", actor=env.ann)
        r = await c.post(f"/api/v1/tickets/{t['id']}/messages", json={"body": "Thanks!"})
        assert r.status_code == 201, r.text
        assert r.json()["data"]["message"]["kind"] == "message"
        assert r.json()["data"]["ticket"]["status"] == "on_you" and r.json()["data"]["followUp"] is False

        detail = (await c.get(f"/api/v1/tickets/{t['id']}")).json()["data"]
        assert [(e["kind"], e["body"]) for e in detail["timeline"]] == [
            ("message", "Where is order 1?"), ("reply", "It ships today."), ("message", "Thanks!")]
        assert detail["externalId"] == "shop-42" and detail["timelineHasMore"] is False
        page = (await c.get(f"/api/v1/tickets/{t['id']}/messages", params={"limit": 2})).json()
        assert [e["kind"] for e in page["data"]] == ["message", "reply"] and page["pagination"]["hasMore"]
        rest = (await c.get(f"/api/v1/tickets/{t['id']}/messages",
                            params={"limit": 2, "cursor": page["pagination"]["cursor"]})).json()
        assert [e["body"] for e in rest["data"]] == ["Thanks!"] and rest["pagination"] == {"cursor": None,
                                                                                          "hasMore": False}
        everything = json.dumps([detail, page, rest])
        assert "reseller" not in everything and "internal" not in everything


async def test_list_pages_with_a_cursor_through_every_ticket_once(env):
    async with env.client(env.write) as c:
        made = [(await c.post("/api/v1/tickets", json=new_ticket(i, tags=["bulk"]))).json()["data"]["id"]
                for i in range(7)]
        seen, cursor = [], None
        while True:
            params = {"limit": 3, "q": "tag:bulk"} | ({"cursor": cursor} if cursor else {})
            doc = (await c.get("/api/v1/tickets", params=params)).json()
            assert len(doc["data"]) <= 3
            seen += [t["id"] for t in doc["data"]]
            cursor = doc["pagination"]["cursor"]
            assert doc["pagination"]["hasMore"] == (cursor is not None)
            if not cursor:
                break
        assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
        # A cursor belongs to its view and query.
        first = (await c.get("/api/v1/tickets", params={"limit": 3, "q": "tag:bulk"})).json()
        assert_error(await c.get("/api/v1/tickets", params={"cursor": first["pagination"]["cursor"]}), 400,
                     "VALIDATION_INVALID_CURSOR")
        solved = (await c.get("/api/v1/tickets", params={"view": "solved"})).json()
        assert solved["data"] == []
        assert_error(await c.get("/api/v1/tickets", params={"q": "assignee:me"}), 400, "VALIDATION_INVALID_QUERY")
        err = assert_error(await c.get("/api/v1/tickets", params={"q": "created:<banana"}), 400,
                           "VALIDATION_INVALID_QUERY")
        assert "column" in err["message"]


async def test_auth_no_token_wrong_desk_read_scope_and_revoked(env):
    async with env.client() as c:
        assert_error(await c.get("/api/v1/tickets"), 401, "AUTH_MISSING_TOKEN")
        assert_error(await c.post("/api/v1/tickets", json=new_ticket()), 401, "AUTH_MISSING_TOKEN")
        for bad in ("nonsense", env.write[:-2] + "xx", env.revoked, "hd_000000000000_" + "a" * 40):
            assert_error(await c.get("/api/v1/tickets", headers={"Authorization": f"Bearer {bad}"}), 401,
                         "AUTH_INVALID_TOKEN")
        assert_error(await c.get("/api/v1/tickets", headers={"Authorization": f"Basic {env.write}"}), 401)
    assert await env.hd.views.count(ViewSpec(),
                                    env.ann) == 0  # nothing was created unauthenticated
    async with env.client(env.read) as c:
        assert (await c.get("/api/v1/tickets")).status_code == 200
        assert_error(await c.post("/api/v1/tickets", json=new_ticket()), 403, "AUTH_INSUFFICIENT_SCOPE")
    async with env.client(env.write) as c:
        support_id = (await c.post("/api/v1/tickets", json=new_ticket(1))).json()["data"]["id"]
    async with env.client(env.sales) as c:
        sales_id = (await c.post("/api/v1/tickets", json=new_ticket(2))).json()["data"]["id"]
        # The other desk's ticket does not exist for this token, read or written.
        assert_error(await c.get(f"/api/v1/tickets/{support_id}"), 404, "RESOURCE_NOT_FOUND")
        assert_error(await c.get(f"/api/v1/tickets/{support_id}/messages"), 404, "RESOURCE_NOT_FOUND")
        assert_error(await c.post(f"/api/v1/tickets/{support_id}/messages", json={"body": "x"}), 404)
        assert [t["id"] for t in (await c.get("/api/v1/tickets")).json()["data"]] == [sales_id]
    sales_ticket = await env.hd.tickets.get(sales_id)
    assert (await env.hd.api_access.desk(sales_ticket.desk_id)).slug == "sales"
    # Revoking takes effect on the next request (this server caches no token).
    [record] = [t for t in await env.hd.api_access.tokens(env.ann) if t.name == "dashboard"]
    await env.hd.api_access.revoke_token(env.ann, record.id)
    async with env.client(env.read) as c:
        assert_error(await c.get("/api/v1/tickets"), 401, "AUTH_INVALID_TOKEN")


async def test_bad_input_is_a_4xx_with_a_code_never_a_500(env):
    async with env.client(env.write) as c:
        tid = (await c.post("/api/v1/tickets", json=new_ticket())).json()["data"]["id"]
        cases = [
            (c.post("/api/v1/tickets", json={}), 422, "VALIDATION_INVALID_BODY"),
            (c.post("/api/v1/tickets", json={**new_ticket(), "subject": 5}), 422, "VALIDATION_INVALID_BODY"),
            (c.post("/api/v1/tickets", json={**new_ticket(), "requester": {"email": "not-an-address"}}), 422,
             "VALIDATION_INVALID_BODY"),
            (c.post("/api/v1/tickets", json={**new_ticket(), "subject": "\x1b[2J\x00"}), 422,
             "VALIDATION_INVALID_BODY"),
            (c.post("/api/v1/tickets", json={**new_ticket(), "surprise": 1}), 422, "VALIDATION_INVALID_BODY"),
            (c.post("/api/v1/tickets", json=[1, 2]), 422, "VALIDATION_INVALID_BODY"),
            (c.post("/api/v1/tickets", json={**new_ticket(), "channel": "Web Form!"}), 422, None),
            (c.post("/api/v1/tickets", content=b'{"subject": ', headers={"Content-Type": "application/json"}), 400,
             "VALIDATION_MALFORMED_JSON"),
            (c.post("/api/v1/tickets", content=b"subject=hi", headers={"Content-Type": "application/x-www-form-urlencoded"}),
             415, "UNSUPPORTED_MEDIA_TYPE"),
            (c.post("/api/v1/tickets", json={**new_ticket(), "body": "x" * 1_100_000}), 413, "PAYLOAD_TOO_LARGE"),
            (c.post("/api/v1/tickets", content=_chunks(1_200_000),
                    headers={"Content-Type": "application/json"}), 413, "PAYLOAD_TOO_LARGE"),
            (c.post(f"/api/v1/tickets/{tid}/messages", json={"body": ""}), 422, "VALIDATION_INVALID_BODY"),
            (c.post(f"/api/v1/tickets/{tid}/messages", json={"body": "   "}), 422, "VALIDATION_INVALID_BODY"),
            (c.post("/api/v1/tickets/999999/messages", json={"body": "hi"}), 404, "RESOURCE_NOT_FOUND"),
            (c.get("/api/v1/tickets/999999"), 404, "RESOURCE_NOT_FOUND"),
            (c.get("/api/v1/tickets/99999999999999"), 400, "VALIDATION_INVALID_QUERY"),
            (c.get("/api/v1/tickets/abc"), 400, "VALIDATION_INVALID_QUERY"),
            (c.get("/api/v1/tickets", params={"limit": 0}), 400, "VALIDATION_INVALID_QUERY"),
            (c.get("/api/v1/tickets", params={"view": "mine"}), 400, "VALIDATION_INVALID_QUERY"),
            (c.get("/api/v1/tickets", params={"cursor": "!!!"}), 400, "VALIDATION_INVALID_CURSOR"),
            (c.get("/api/v1/tickets", params={"cursor": "eyJzIjoxfQ"}), 400, "VALIDATION_INVALID_CURSOR"),
            (c.get("/api/v1/tickets", params={"q": '"unclosed'}), 400, "VALIDATION_INVALID_QUERY"),
            (c.get("/api/v1/nowhere"), 404, "RESOURCE_NOT_FOUND"),
            (c.delete("/api/v1/tickets"), 405, "METHOD_NOT_ALLOWED"),
        ]
        for request, status, code in cases:
            assert_error(await request, status, code)
    assert len((await env.hd.views.page(ViewSpec(), env.ann)).rows) == 1  # nothing bad was written


async def _chunks(size: int):
    # A chunked body with no Content-Length: the limit is counted as it arrives.
    for _ in range(size // 65536 + 1):
        yield b"x" * 65536


async def test_request_id_on_every_response_and_health_without_a_token(env):
    async with env.client() as c:
        r = await c.get("/api/v1/health")
        assert r.status_code == 200 and r.json() == {"data": {"status": "ok", "version": "1.0.0"}}
        assert len(r.headers["x-request-id"]) == 32
        r = await c.get("/api/v1/health", headers={"X-Request-Id": "trace-123"})
        assert r.headers["x-request-id"] == "trace-123"
        r = await c.get("/api/v1/tickets", headers={"X-Request-Id": "bad id\twith spaces"})
        assert r.status_code == 401 and r.headers["x-request-id"] != "bad id\twith spaces"


async def test_rate_limit_headers_and_429_with_retry_after(sqlite_url):
    env = await open_env(sqlite_url, ApiOptions(rate_limit=3, rate_window=60, send_webhooks=False))
    try:
        async with env.client(env.write) as c:
            seen = []
            for _ in range(3):
                r = await c.get("/api/v1/tickets")
                assert r.status_code == 200
                seen.append(int(r.headers["ratelimit-remaining"]))
                assert r.headers["ratelimit-limit"] == r.headers["x-ratelimit-limit"] == "3"
                assert 0 < int(r.headers["ratelimit-reset"]) <= 60
                assert int(r.headers["x-ratelimit-reset"]) > 1_700_000_000
            assert seen == [2, 1, 0]
            r = await c.post("/api/v1/tickets", json=new_ticket())
            assert_error(r, 429, "RATE_LIMIT_TOO_MANY_REQUESTS")
            assert 1 <= int(r.headers["retry-after"]) <= 60 and r.headers["ratelimit-remaining"] == "0"
        # Counted per token: another token is not held back.
        async with env.client(env.read) as c:
            assert (await c.get("/api/v1/tickets")).status_code == 200
        assert await env.hd.views.count(ViewSpec(),
                                        env.ann) == 0
    finally:
        await env.server.astop()
        await env.hd.close()


async def test_the_openapi_document_is_served_and_matches_the_committed_one(env):
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert create_app().openapi() == committed, "regenerate docs/openapi.json: python scripts/openapi.py"
    async with env.client() as c:
        served = (await c.get("/api/v1/openapi.json")).json()
    assert served == committed
    paths = committed["paths"]
    assert set(paths) == {"/api/v1/health", "/api/v1/tickets", "/api/v1/tickets/{ticket_id}",
                          "/api/v1/tickets/{ticket_id}/messages"}
    assert "Idempotency-Key" in json.dumps(paths["/api/v1/tickets"]["post"])


async def test_a_ticket_created_through_the_api_goes_through_assignment(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'routed.db'}"
    settings = replace(load(database_url=url), desks=(DeskSettings(assignment="round_robin"),))
    hd = await bootstrap(settings)
    try:
        ann = await hd.agents.identify("ann")
        await hd.agents.add(ann, "bob", name="Bob Brown")
        _, token = await hd.api_access.create_token(ann, "web form")
        with ApiServer(settings, ApiOptions(send_webhooks=False)) as server:
            async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
                ids = [(await c.post("/api/v1/tickets", json=new_ticket(i))).json()["data"]["id"] for i in range(4)]
                assignees = [(await c.get(f"/api/v1/tickets/{i}")).json()["data"]["assignee"] for i in ids]
        assert None not in assignees and set(assignees) == {"ann", "bob"}, assignees
    finally:
        await hd.close()
