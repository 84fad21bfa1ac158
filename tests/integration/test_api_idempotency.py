"""Idempotency-Key on the public API: replay, another body, duplicates racing, a crash after the commit.

On SQLite and PostgreSQL; the racing duplicates go to two API servers (two
workers with their own engines) on one database at once.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tui_helpdesk.api import routes
from tui_helpdesk.api.app import ApiOptions
from tui_helpdesk.domain.query import ViewSpec

from ..api_support import ApiServer
from .test_api_http import assert_error, new_ticket, open_env, two_desks

OPTIONS = ApiOptions(auth_cache_seconds=0, send_webhooks=False, rate_limit=100_000)


@pytest.fixture
async def env(db_url):
    e = await open_env(db_url, OPTIONS)
    yield e
    await e.server.astop()
    await e.hd.close()


async def count(env) -> int:
    return await env.hd.views.count(ViewSpec(), env.ann)


async def test_replay_another_body_and_another_operation(env):
    async with env.client(env.write, headers={"Idempotency-Key": "order-1"}) as c:
        first = await c.post("/api/v1/tickets", json=new_ticket(1))
        assert first.status_code == 201 and "idempotent-replayed" not in first.headers
        again = await c.post("/api/v1/tickets", json=new_ticket(1))
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content and again.headers["location"] == first.headers["location"]
        assert_error(await c.post("/api/v1/tickets", json=new_ticket(2)), 422, "IDEMPOTENCY_KEY_REUSED")
        tid = first.json()["data"]["id"]
        assert_error(await c.post(f"/api/v1/tickets/{tid}/messages", json={"body": "hi"}), 422,
                     "IDEMPOTENCY_KEY_REUSED")
    assert await count(env) == 1
    # Keys are per desk: the sales desk's "order-1" is its own.
    async with env.client(env.sales, headers={"Idempotency-Key": "order-1"}) as c:
        assert (await c.post("/api/v1/tickets", json=new_ticket(1))).headers.get("idempotent-replayed") is None
    # Adding a message is idempotent too.
    async with env.client(env.write) as c:
        msgs = [await c.post(f"/api/v1/tickets/{tid}/messages", json={"body": "Any news?"},
                             headers={"Idempotency-Key": "msg-7"}) for _ in range(3)]
        assert [m.status_code for m in msgs] == [201, 201, 201]
        assert len({m.json()["data"]["message"]["id"] for m in msgs}) == 1
        timeline = (await c.get(f"/api/v1/tickets/{tid}")).json()["data"]["timeline"]
        assert [e["body"] for e in timeline].count("Any news?") == 1
        assert_error(await c.post("/api/v1/tickets", json=new_ticket(3), headers={"Idempotency-Key": "tab\there"}),
                     400, "VALIDATION_INVALID_HEADER")
        assert_error(await c.post("/api/v1/tickets", json=new_ticket(3), headers={"Idempotency-Key": "k" * 256}),
                     400, "VALIDATION_INVALID_HEADER")


async def test_a_refused_request_does_not_keep_its_key(env):
    async with env.client(env.write, headers={"Idempotency-Key": "k-1"}) as c:
        bad = {**new_ticket(1), "requester": {"email": "nobody"}}
        assert_error(await c.post("/api/v1/tickets", json=bad), 422, "VALIDATION_INVALID_BODY")
        # The key was not stored with the refusal: the corrected request runs.
        r = await c.post("/api/v1/tickets", json=new_ticket(1))
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert await count(env) == 1


async def test_duplicates_racing_on_two_workers_create_one_ticket(env):
    second = ApiServer(two_desks(str(env.hd.settings.database_url)), OPTIONS).start()
    try:
        clients = [httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {env.write}",
                                                            "Idempotency-Key": "race-1"}, timeout=20)
                   for url in (env.server.url, second.url)]
        try:
            answers = await asyncio.gather(*(clients[i % 2].post("/api/v1/tickets", json=new_ticket(9))
                                             for i in range(12)))
            codes = sorted(r.status_code for r in answers)
            assert set(codes) <= {201, 409}, codes
            created = {r.json()["data"]["id"] for r in answers if r.status_code == 201}
            assert len(created) == 1, created
            for r in answers:
                if r.status_code == 409:
                    assert r.json()["error"]["code"] == "IDEMPOTENCY_REQUEST_IN_PROGRESS"
                    assert r.headers["retry-after"] == "1"
            # Once the first has finished, every retry is its replay.
            late = await clients[1].post("/api/v1/tickets", json=new_ticket(9))
            assert late.status_code == 201 and late.json()["data"]["id"] in created
        finally:
            for c in clients:
                await c.aclose()
    finally:
        await second.astop()
    assert await count(env) == 1


async def test_a_request_that_committed_then_failed_is_replayed_not_executed_again(env, monkeypatch):
    real = routes.respond
    failed = []

    def respond_once_broken(model, data, status=200, headers=None):
        if model is routes.s.TicketEnvelope and not failed:
            failed.append(data)
            raise RuntimeError("the answer could not be built")  # after the ticket committed
        return real(model, data, status, headers)

    real_stored = routes.stored_answer

    def stored_answer_once_broken(stored, headers=None):
        if not failed:
            failed.append(stored)
            raise RuntimeError("the answer could not be sent")  # after the ticket and its answer committed
        return real_stored(stored, headers)

    monkeypatch.setattr(routes, "respond", respond_once_broken)
    monkeypatch.setattr(routes, "stored_answer", stored_answer_once_broken)
    async with env.client(env.write, headers={"Idempotency-Key": "crash-1"}) as c:
        first = await c.post("/api/v1/tickets", json=new_ticket(5, externalId="ext-5"))
        # The write committed: the answer is rebuilt from what it made, never a 500 that invites a duplicate.
        assert first.status_code == 201, first.text
        retry = await c.post("/api/v1/tickets", json=new_ticket(5, externalId="ext-5"))
        assert retry.status_code == 201 and retry.json()["data"]["id"] == first.json()["data"]["id"]
        assert retry.json()["data"]["externalId"] == "ext-5"
    assert failed and await count(env) == 1
