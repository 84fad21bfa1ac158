"""The chatbot platform simulator, seen over raw HTTP.

Checks that it speaks the contract of docs/chatbot-api.md (envelopes, auth,
rate-limit headers, errors), that its simulation is deterministic and lively
(languages, escalations, endings, a quiet bot while paused), and that its
test hooks, fault injection, background ticking and ``serve`` work.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tui_helpdesk.adapters.chatbot import ChatbotClient, RetryPolicy
from tui_helpdesk.adapters.chatbot.sim import GARBAGE_KINDS, Simulator, serve

from ..clock import Clock

KEY = "oc_sim_test_key"
T0 = 1_717_430_400.0
AUTH = {"Authorization": f"Bearer {KEY}"}
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


pytestmark = [pytest.mark.clock(T0), pytest.mark.sim(key=KEY, seed=3, on_clock=True)]


@pytest.fixture
async def http(sim: Simulator):
    async with httpx.AsyncClient(base_url=sim.base_url + "/api/v2", headers=AUTH) as client:
        yield client


def _all(sim: Simulator) -> list[dict]:
    return [sim.snapshot(i) for i in sim.conversation_ids()]


# --------------------------------------------------------------- simulation


def test_same_seed_same_story() -> None:
    def run(seed: int) -> list[dict]:
        clock = Clock(T0)
        s = Simulator(KEY, seed=seed, clock=clock)
        s.populate(8)
        for _ in range(30):
            clock.now += 2
            s.tick()
        return _all(s)

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_simulation_is_lively_and_multilingual(clock: Clock) -> None:
    s = Simulator(KEY, seed=5, clock=clock, max_live=40)
    s.populate(40, steps=60)
    convs = _all(s)
    languages = {c["user"]["language"] for c in convs}
    assert {"en", "es", "de", "fr", "pt", "ja"} <= languages
    states = {c["state"] for c in convs}
    assert {"ongoing", "escalated", "ended"} <= states
    assert all(c["escalation_reason"] for c in convs if c["state"] == "escalated")
    assert len({c["channel"] for c in convs}) >= 3
    roles = {m["role"] for c in convs for m in c["messages"]}
    assert {"user", "assistant", "system"} <= roles
    for c in convs:  # the transcript is in order and the last message matches
        times = [m["created_at"] for m in c["messages"]]
        assert times == sorted(times)
        assert c["last_message"]["text"] == c["messages"][-1]["text"]


def test_bot_answers_only_while_not_paused(clock: Clock) -> None:
    s = Simulator(KEY, seed=1, clock=clock)
    conv_id = s.add_conversation("Ana", text="¿Hola?", language="es", ai_paused=True)
    for _ in range(5):
        s.tick()
    assert [m["role"] for m in s.snapshot(conv_id)["messages"]] == ["user"]


def test_hooks(clock: Clock) -> None:
    s = Simulator(KEY, seed=1, clock=clock)
    conv_id = s.add_conversation(text="Hi", language="ja", channel="messenger", email="a@example.com")
    snap = s.snapshot(conv_id)
    assert snap["user"]["name"] and snap["user"]["email"] == "a@example.com"
    assert snap["channel"] == "messenger" and snap["state"] == "ongoing"

    s.escalate(conv_id, "refund over limit")
    snap = s.snapshot(conv_id)
    assert snap["state"] == "escalated" and snap["escalation_reason"] == "refund over limit"
    assert [m["role"] for m in snap["messages"]] == ["user", "assistant", "system"]

    s.end(conv_id)
    s.end(conv_id)
    assert s.snapshot(conv_id)["state"] == "ended"
    with pytest.raises(ValueError):
        s.escalate(conv_id, "too late")

    s.customer_says(conv_id, "One more thing")  # reopens
    assert s.snapshot(conv_id)["state"] == "ongoing"
    with pytest.raises(KeyError):
        s.customer_says("conv_missing", "hello")
    with pytest.raises(ValueError):
        s.garbage_next(1, kind="nonsense")


# ------------------------------------------------------------------ contract


async def test_envelopes(http: httpx.AsyncClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("Alice", text="hello")
    health = await http.get("/health")
    assert health.json() == {"data": {"status": "ok", "version": "sim-1"}}

    page = (await http.get("/conversations", params={"limit": 5})).json()
    assert set(page) == {"data", "pagination"}
    assert page["pagination"]["hasMore"] is False and isinstance(page["pagination"]["cursor"], str)
    conv = page["data"][0]
    assert "messages" not in conv
    assert set(conv) >= {"id", "state", "channel", "user", "ai_paused", "escalation_reason",
                         "created_at", "updated_at", "last_message"}
    assert conv["created_at"] == T0

    full = (await http.get(f"/conversations/{conv_id}")).json()["data"]
    assert full["messages"][0] == {"id": full["messages"][0]["id"], "role": "user", "text": "hello",
                                   "created_at": T0}

    missing = await http.get("/conversations/conv_nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "RESOURCE_NOT_FOUND", "message": "No such conversation"}}
    wrong_path = await http.get("/nothing/here")
    assert wrong_path.status_code == 404 and wrong_path.json()["error"]["code"] == "RESOURCE_NOT_FOUND"


async def test_auth(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url + "/api/v2") as anon:
        assert (await anon.get("/health")).status_code == 200  # health needs no key
        r = await anon.get("/conversations")
        assert r.status_code == 401 and r.json()["error"]["code"] == "AUTH_MISSING_API_KEY"
        r = await anon.get("/conversations", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "AUTH_INVALID_API_KEY"
        r = await anon.get("/health", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401  # a key that is sent is checked
        r = await anon.get("/conversations", headers={"Authorization": f"Basic {KEY}"})
        assert r.status_code == 401


async def test_rate_limit_headers_on_every_response(http: httpx.AsyncClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("A", text="a")
    responses = [
        await http.get("/health"),
        await http.get("/conversations"),
        await http.get(f"/conversations/{conv_id}"),
        await http.get("/conversations/nope"),
        await http.get("/conversations", params={"limit": 0}),
        await http.get("/conversations", headers={"Authorization": "Bearer wrong"}),
        await http.post(f"/conversations/{conv_id}/ai/pause"),
    ]
    sim.fail_next(1)
    responses.append(await http.get("/health"))
    sim.rate_limit_next(1, retry_after=2)
    responses.append(await http.get("/health"))
    sim.garbage_next(1, kind="html")
    responses.append(await http.get("/health"))
    assert [r.status_code for r in responses] == [200, 200, 200, 404, 400, 401, 200, 503, 429, 200]
    for r in responses:
        for header in RATE_HEADERS:
            assert r.headers[header].isdigit(), (r.status_code, header)
        assert r.headers["X-Request-Id"]
    assert responses[8].headers["Retry-After"] == "2"
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses[:4]]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > remaining[-1]


async def test_rate_limit_is_enforced_per_window(clock: Clock) -> None:
    s = Simulator(KEY, clock=clock, rate_limit=3, rate_window=10)
    url = await s.start()
    try:
        async with httpx.AsyncClient(base_url=url + "/api/v2", headers=AUTH) as http:
            codes = [(await http.get("/health")).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            limited = await http.get("/health")
            assert limited.json()["error"]["code"] == "RATE_LIMIT_TOO_MANY_REQUESTS"
            assert float(limited.headers["Retry-After"]) > 0
            assert limited.headers["X-RateLimit-Remaining"] == "0"
            assert int(limited.headers["X-RateLimit-Reset"]) == T0 + 10
            clock.now += 10
            assert (await http.get("/health")).status_code == 200
    finally:
        await s.stop()


async def test_change_feed_validation(http: httpx.AsyncClient, sim: Simulator) -> None:
    for limit in ("0", "101", "ten"):
        r = await http.get("/conversations", params={"limit": limit})
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_INVALID_QUERY"
    r = await http.get("/conversations", params={"updated_since_cursor": "!!!"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_INVALID_CURSOR"
    sim.add_conversation("A", text="a")
    r = await http.get("/conversations", params={"limit": 100})
    assert len(r.json()["data"]) == 1


async def test_reply_validation(http: httpx.AsyncClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("A", text="a")
    path = f"/conversations/{conv_id}/messages"
    for body in (b"not json", b"[]", json.dumps({"text": "hi", "agent_name": "D"}).encode(),
                 json.dumps({"text": " ", "agent_name": "D", "idempotency_key": "k"}).encode(),
                 json.dumps({"text": 5, "agent_name": "D", "idempotency_key": "k"}).encode()):
        r = await http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_INVALID_BODY"
    ok = await http.post(path, json={"text": "hi", "agent_name": "Dana", "idempotency_key": "k"})
    assert ok.status_code == 201
    replay = await http.post(path, json={"text": "hi", "agent_name": "Dana", "idempotency_key": "k"})
    assert replay.status_code == 200 and replay.json() == ok.json()
    assert [m["role"] for m in sim.snapshot(conv_id)["messages"]].count("human_agent") == 1


async def test_human_reply_stops_the_pending_bot_answer(http: httpx.AsyncClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("A", text="help")
    await http.post(f"/conversations/{conv_id}/messages",
                    json={"text": "I'm here", "agent_name": "Dana", "idempotency_key": "k"})
    sim.tick()
    roles = [m["role"] for m in sim.snapshot(conv_id)["messages"]]
    assert roles[:2] == ["user", "human_agent"] and "assistant" not in roles[:3]


async def test_actions_show_up_in_the_change_feed(http: httpx.AsyncClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("A", text="a")
    cursor = (await http.get("/conversations")).json()["pagination"]["cursor"]
    await http.post(f"/conversations/{conv_id}/takeover")
    page = (await http.get("/conversations", params={"updated_since_cursor": cursor})).json()
    assert [c["state"] for c in page["data"]] == ["taken_over"]
    assert page["data"][0]["ai_paused"] is True


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
async def test_garbage_breaks_the_contract(http: httpx.AsyncClient, sim: Simulator, kind: str) -> None:
    conv_id = sim.add_conversation("A", text="a")
    sim.garbage_next(1, kind=kind)
    r = await http.get(f"/conversations/{conv_id}")
    assert r.status_code == 200
    try:
        body = json.loads(r.content)
    except (ValueError, RecursionError):
        return
    assert body != (await http.get(f"/conversations/{conv_id}")).json()


async def test_garbage_cycles_through_kinds(http: httpx.AsyncClient, sim: Simulator) -> None:
    sim.garbage_next(len(GARBAGE_KINDS))
    bodies = {(await http.get("/health")).content for _ in GARBAGE_KINDS}
    assert len(bodies) >= len(GARBAGE_KINDS) - 3  # some kinds fall back to the same shape on /health
    assert (await http.get("/health")).json()["data"]["status"] == "ok"


async def test_down_drops_connections(http: httpx.AsyncClient, sim: Simulator) -> None:
    sim.down = True
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get("/health")
    sim.down = False
    assert (await http.get("/health")).status_code == 200


async def test_stopped_simulator_refuses_connections(clock: Clock) -> None:
    s = Simulator(KEY, clock=clock)
    url = await s.start()
    await s.stop()
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url + "/api/v2/health")


# ----------------------------------------------------------------- running


async def test_background_ticking() -> None:
    s = Simulator(KEY, seed=2)
    s.populate(3, steps=0)
    before = sum(len(c["messages"]) for c in _all(s))
    await s.start(tick_seconds=0.02)
    try:
        await asyncio.sleep(0.3)
    finally:
        await s.stop()
    assert sum(len(c["messages"]) for c in _all(s)) > before


async def test_serve_runs_until_cancelled() -> None:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve("127.0.0.1", 0, KEY, 4, 0.05, on_ready=ready.set_result))
    url = await asyncio.wait_for(ready, 5)
    async with ChatbotClient(url, KEY, retry=RetryPolicy(attempts=1)) as bot:
        assert (await bot.health()).status == "ok"
        convs, _, _ = await bot.changed_conversations(None, 100)
        assert len(convs) >= 12
        full = await bot.get_conversation(convs[0].id)
        assert full.messages
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url + "/api/v2/health")


async def test_start_twice_is_an_error(sim: Simulator) -> None:
    with pytest.raises(RuntimeError):
        await sim.start()
