"""ChatbotClient against the simulator over real HTTP on 127.0.0.1.

Covers the contract in docs/chatbot-api.md from the client's side: the change
feed and its cursors, transcripts, pause/resume/takeover, replies and their
idempotency, retries and the errors they end in, malformed answers, and that
untrusted text comes back clean and the API key never leaks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import time
import traceback
from datetime import datetime, timezone

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.traceback import Traceback

from tui_helpdesk.adapters.chatbot import ChatbotClient, RetryPolicy
from tui_helpdesk.adapters.chatbot.sim import GARBAGE_KINDS, Simulator
from tui_helpdesk.domain.chat.errors import (
    BadResponse,
    ChatbotError,
    InvalidCursor,
    NotFound,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
)
from tui_helpdesk.domain.chat.model import ChatMessage, Conversation, ConversationState, MessageRole

from ..clock import Clock

KEY = "oc_test_9f8e7d6c5b4a"
T0 = 1_717_430_400.0
FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.005, max_retry_after=5)

PAYLOADS = [
    "\x1b]52;c;Y3VybCBldmlsfHNo\x1b\\",
    "\x1b]0;PWNED\x1b\\",
    "\x1b[21t",
    "\x1bP$qm\x1b\\",
    "\x1b[2J",
    "\u009b2J",
    "ok\rFAKE",
    "\x1b]8;;https://evil.example/\x1b\\https://bank.example\x1b]8;;\x1b\\",
    "invoice\u202efdp.exe",
    "[@click=app.quit]x[/]",
    '[link="https://evil.example"]Reset[/link]',
    "[/]",
    "Re: [/] x",
    "[@click=]x[/]",
    "trailing\\",
    "bell\x07and\x08back\x7fdel\x85nel",
]
FORBIDDEN = set("\x1b\x07\x9b\x9c\x9d\r\x08\x7f") | set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


pytestmark = [pytest.mark.clock(T0), pytest.mark.sim(key=KEY, seed=7, on_clock=True)]


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def client(sim: Simulator, sleeps: list[float]):
    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    async with ChatbotClient(sim.base_url, KEY, timeout=2, retry=FAST, sleep=record) as bot:
        yield bot


# ------------------------------------------------------------------ basics


async def test_health(client: ChatbotClient) -> None:
    health = await client.health()
    assert health.status == "ok"
    assert client.rate_limit is not None and client.rate_limit.limit == 100


async def test_base_url_may_carry_api_prefix(sim: Simulator) -> None:
    async with ChatbotClient(sim.base_url + "/api/v2/", KEY, retry=FAST) as bot:
        assert (await bot.health()).status == "ok"


async def test_change_feed_pages_with_cursor(client: ChatbotClient, sim: Simulator) -> None:
    ids = [sim.add_conversation(f"Customer {i}", text=f"hello {i}") for i in range(7)]

    seen: list[str] = []
    cursor = None
    pages = []
    while True:
        convs, cursor, more = await client.changed_conversations(cursor, limit=3)
        pages.append((len(convs), more))
        seen += [c.id for c in convs]
        if not more:
            break
    assert pages == [(3, True), (3, True), (1, False)]
    assert seen == ids
    assert all(c.messages is None for c in convs)
    assert convs[0].last_message is not None and convs[0].last_message.text == "hello 6"

    # Nothing new: empty page, the cursor keeps its place.
    convs, again, more = await client.changed_conversations(cursor, limit=3)
    assert (convs, again, more) == ([], cursor, False)

    # One conversation changes: only it comes back, in its new state.
    sim.customer_says(ids[2], "still there?")
    convs, cursor2, more = await client.changed_conversations(cursor, limit=3)
    assert [c.id for c in convs] == [ids[2]]
    assert convs[0].last_message.text == "still there?"
    assert cursor2 != cursor and not more


async def test_changed_conversation_moves_to_end_of_feed(client: ChatbotClient, sim: Simulator) -> None:
    a = sim.add_conversation("A", text="a")
    b = sim.add_conversation("B", text="b")
    sim.customer_says(a, "again")
    convs, _, _ = await client.changed_conversations(None, limit=10)
    assert [c.id for c in convs] == [b, a]


async def test_conversation_fields_and_transcript(client: ChatbotClient, sim: Simulator, clock: Clock) -> None:
    conv_id = sim.add_conversation("Lucía Fernández", text="Hola, mi pedido no llegó", language="es",
                                   channel="whatsapp", email="lucia@example.com")
    clock.now += 5
    sim.tick()  # the bot answers
    clock.now += 5
    sim.escalate(conv_id, "Customer wants a refund")

    conv = await client.get_conversation(conv_id)
    assert isinstance(conv, Conversation)
    assert conv.state is ConversationState.ESCALATED
    assert conv.channel == "whatsapp"
    assert conv.user.name == "Lucía Fernández" and conv.user.language == "es"
    assert conv.user.email == "lucia@example.com"
    assert conv.escalation_reason == "Customer wants a refund"
    assert conv.created_at == datetime.fromtimestamp(T0, tz=timezone.utc)
    assert conv.updated_at == datetime.fromtimestamp(T0 + 10, tz=timezone.utc)
    roles = [m.role for m in conv.messages]
    assert roles == [MessageRole.USER, MessageRole.ASSISTANT, MessageRole.ASSISTANT, MessageRole.SYSTEM]
    assert conv.messages[0].text == "Hola, mi pedido no llegó"
    assert [m.created_at for m in conv.messages] == sorted(m.created_at for m in conv.messages)
    assert conv.last_message is not None and conv.last_message.role is MessageRole.SYSTEM
    assert len({m.id for m in conv.messages}) == 4


async def test_unknown_conversation_is_not_found(client: ChatbotClient) -> None:
    with pytest.raises(NotFound):
        await client.get_conversation("conv_nope")
    with pytest.raises(NotFound):
        await client.pause_ai("conv/../../health")


async def test_bogus_cursor_is_invalid_cursor(client: ChatbotClient) -> None:
    with pytest.raises(InvalidCursor):
        await client.changed_conversations("bm90LWEtY3Vyc29y", limit=5)


async def test_cursor_from_another_platform_run_is_invalid(client: ChatbotClient, clock: Clock) -> None:
    other = Simulator(KEY, seed=7, clock=clock)
    other.add_conversation("X", text="x")
    await other.start()
    try:
        async with ChatbotClient(other.base_url, KEY, retry=FAST) as bot:
            _, foreign_cursor, _ = await bot.changed_conversations(None, 5)
    finally:
        await other.stop()
    with pytest.raises(InvalidCursor):
        await client.changed_conversations(foreign_cursor, 5)


async def test_limit_is_checked_before_sending(client: ChatbotClient, sim: Simulator) -> None:
    for bad in (0, 101, "10", True):
        with pytest.raises(ValueError):
            await client.changed_conversations(None, bad)  # type: ignore[arg-type]
    assert sim.requests == []


# --------------------------------------------------- pause, resume, takeover


async def test_pause_and_resume_are_idempotent(client: ChatbotClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("Sam", text="hi")
    _, cursor, _ = await client.changed_conversations(None, 10)

    first = await client.pause_ai(conv_id)
    second = await client.pause_ai(conv_id)
    assert first.ai_paused and second.ai_paused
    assert first == second
    convs, cursor, _ = await client.changed_conversations(cursor, 10)
    assert [c.id for c in convs] == [conv_id]  # one change, not two
    convs, cursor, _ = await client.changed_conversations(cursor, 10)
    assert convs == []

    resumed = await client.resume_ai(conv_id)
    again = await client.resume_ai(conv_id)
    assert not resumed.ai_paused and not again.ai_paused
    assert resumed == again
    assert (await client.get_conversation(conv_id)).ai_paused is False


async def test_bot_stays_quiet_while_paused(client: ChatbotClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("Anna", text="Hallo?", language="de")
    sim.tick()
    before = await client.get_conversation(conv_id)
    assert before.messages[-1].role is MessageRole.ASSISTANT  # the bot answers while on

    await client.pause_ai(conv_id)
    sim.customer_says(conv_id, "Ist da jemand?")
    for _ in range(10):
        sim.tick()
    paused = await client.get_conversation(conv_id)
    after_pause = paused.messages[len(before.messages):]
    assert MessageRole.ASSISTANT not in [m.role for m in after_pause]

    await client.resume_ai(conv_id)
    sim.tick()
    resumed = await client.get_conversation(conv_id)
    assert MessageRole.ASSISTANT in [m.role for m in resumed.messages[len(paused.messages):]]


async def test_resume_hands_an_escalated_conversation_back(client: ChatbotClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("Grace", text="I need a human")
    sim.escalate(conv_id, "asked for a human")
    paused = await client.pause_ai(conv_id)
    assert paused.state is ConversationState.ESCALATED and paused.ai_paused
    back = await client.resume_ai(conv_id)
    assert back.state is ConversationState.ONGOING
    assert not back.ai_paused and back.escalation_reason is None


async def test_take_over(client: ChatbotClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("Tom", text="hello")
    conv = await client.take_over(conv_id)
    assert conv.state is ConversationState.TAKEN_OVER and conv.ai_paused
    assert await client.take_over(conv_id) == conv  # idempotent

    ended = sim.add_conversation("Done", text="bye")
    sim.end(ended)
    with pytest.raises(Rejected) as info:
        await client.take_over(ended)
    assert info.value.code == "CONVERSATION_ENDED"


# ------------------------------------------------------------------ replies


async def test_reply_appears_in_thread_and_is_idempotent(client: ChatbotClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("Camille", text="Bonjour", language="fr")
    await client.take_over(conv_id)

    first = await client.post_reply(conv_id, "Bonjour Camille, je regarde.", "Dana", "ticket-1-entry-1")
    again = await client.post_reply(conv_id, "Bonjour Camille, je regarde.", "Dana", "ticket-1-entry-1")
    assert isinstance(first, ChatMessage)
    assert first == again
    assert first.role is MessageRole.HUMAN_AGENT and first.author_name == "Dana"

    conv = await client.get_conversation(conv_id)
    human = [m for m in conv.messages if m.role is MessageRole.HUMAN_AGENT]
    assert [m.id for m in human] == [first.id]
    assert human[0].text == "Bonjour Camille, je regarde."
    assert conv.last_message is not None and conv.last_message.role is MessageRole.HUMAN_AGENT

    second = await client.post_reply(conv_id, "C'est réglé.", "Dana", "ticket-1-entry-2")
    assert second.id != first.id

    with pytest.raises(Rejected) as info:
        await client.post_reply(conv_id, "Something else", "Dana", "ticket-1-entry-1")
    assert info.value.code == "IDEMPOTENCY_KEY_REUSED"


async def test_reply_retried_after_lost_answer_posts_once(client: ChatbotClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("João", text="Olá", language="pt")
    sim.garbage_next(1, kind="truncated")  # the reply is stored, its answer is lost
    with pytest.raises(BadResponse):
        await client.post_reply(conv_id, "Olá João!", "Dana", "k-1")
    msg = await client.post_reply(conv_id, "Olá João!", "Dana", "k-1")
    conv = await client.get_conversation(conv_id)
    assert [m.id for m in conv.messages if m.role is MessageRole.HUMAN_AGENT] == [msg.id]


async def test_reply_on_ended_conversation_is_rejected(client: ChatbotClient, sim: Simulator) -> None:
    conv_id = sim.add_conversation("Chloé", text="merci")
    sim.end(conv_id)
    with pytest.raises(Rejected) as info:
        await client.post_reply(conv_id, "Bonjour", "Dana", "k-9")
    assert info.value.code == "CONVERSATION_ENDED" and info.value.status == 409


async def test_reply_arguments_are_checked(client: ChatbotClient) -> None:
    with pytest.raises(ValueError):
        await client.post_reply("conv_0001", "  ", "Dana", "k")
    with pytest.raises(ValueError):
        await client.post_reply("conv_0001", "hi", "Dana", "")
    with pytest.raises(ValueError):
        await client.get_conversation("")


# ------------------------------------------------------- retries and errors


async def test_429_retry_after_is_honoured_then_succeeds(client: ChatbotClient, sim: Simulator,
                                                         sleeps: list[float]) -> None:
    sim.rate_limit_next(2, retry_after=3)
    assert (await client.health()).status == "ok"
    assert len(sim.requests) == 3
    assert len(sleeps) == 2 and all(3 <= s < 4.1 for s in sleeps)


async def test_429_waits_in_real_time(sim: Simulator) -> None:
    sim.rate_limit_next(1, retry_after=0.3)
    async with ChatbotClient(sim.base_url, KEY, retry=RetryPolicy(base_delay=0.01)) as bot:
        started = time.monotonic()
        await bot.health()
        assert time.monotonic() - started >= 0.3


async def test_429_persisting_becomes_rate_limited(client: ChatbotClient, sim: Simulator) -> None:
    sim.rate_limit_next(10, retry_after=1)
    with pytest.raises(RateLimited) as info:
        await client.changed_conversations(None, 10)
    assert info.value.retry_after == 1
    assert len(sim.requests) == FAST.attempts


async def test_long_retry_after_is_left_to_the_caller(client: ChatbotClient, sim: Simulator,
                                                      sleeps: list[float]) -> None:
    sim.rate_limit_next(1, retry_after=600)
    with pytest.raises(RateLimited) as info:
        await client.health()
    assert info.value.retry_after == 600 and sleeps == [] and len(sim.requests) == 1


async def test_5xx_retried_then_succeeds(client: ChatbotClient, sim: Simulator, sleeps: list[float]) -> None:
    sim.add_conversation("A", text="a")
    sim.fail_next(2, status=502)
    convs, _, _ = await client.changed_conversations(None, 10)
    assert len(convs) == 1 and len(sim.requests) == 3
    assert len(sleeps) == 2 and sleeps[0] <= sleeps[1] * 2 + 1e-9


async def test_5xx_surfaces_as_unavailable_after_the_limit(client: ChatbotClient, sim: Simulator) -> None:
    sim.fail_next(10, status=503)
    with pytest.raises(Unavailable) as info:
        await client.health()
    assert len(sim.requests) == FAST.attempts
    assert info.value.status == 503 and info.value.transient
    assert "4 attempts" in str(info.value)


async def test_backoff_grows_exponentially_with_jitter() -> None:
    import random

    policy = RetryPolicy(base_delay=1, max_delay=30)
    rng = random.Random(1)
    for retry, full in ((1, 1), (2, 2), (3, 4), (4, 8), (9, 30)):
        delays = [policy.backoff(retry, rng) for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 1


async def test_4xx_is_not_retried(client: ChatbotClient, sim: Simulator) -> None:
    sim.fail_next(5, status=400)
    with pytest.raises(Rejected):
        await client.health()
    assert len(sim.requests) == 1


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
async def test_garbage_is_bad_response(client: ChatbotClient, sim: Simulator, kind: str) -> None:
    conv_id = sim.add_conversation("Alice", text="hello")
    sim.tick()
    calls = [
        client.health,
        lambda: client.changed_conversations(None, 10),
        lambda: client.get_conversation(conv_id),
        lambda: client.pause_ai(conv_id),
        lambda: client.resume_ai(conv_id),
        lambda: client.take_over(conv_id),
        lambda: client.post_reply(conv_id, "hi", "Dana", f"key-{kind}"),
    ]
    for call in calls:
        sim.garbage_next(1, kind=kind)
        with pytest.raises(BadResponse):
            await call()
    # Garbage is not retried, and the client works again afterwards.
    assert len(sim.requests) == len(calls)
    assert (await client.get_conversation(conv_id)).id == conv_id


async def test_server_dropping_connections_is_unavailable(client: ChatbotClient, sim: Simulator) -> None:
    await client.health()  # a kept-alive connection exists
    sim.down = True
    with pytest.raises(Unavailable):
        await client.health()
    assert len(sim.requests) == 1 + FAST.attempts
    sim.down = False
    assert (await client.health()).status == "ok"


async def test_server_gone_is_unavailable(clock: Clock) -> None:
    simulator = Simulator(KEY, clock=clock)
    url = await simulator.start()
    await simulator.stop()
    async with ChatbotClient(url, KEY, retry=FAST) as bot:
        with pytest.raises(Unavailable) as info:
            await bot.health()
    assert "could not connect" in str(info.value)


async def test_silent_server_times_out_as_unavailable() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answer; returns when the client hangs up
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ChatbotClient(f"http://127.0.0.1:{port}", KEY, timeout=0.2,
                                 retry=RetryPolicy(attempts=2, base_delay=0.01)) as bot:
            started = time.monotonic()
            with pytest.raises(Unavailable) as info:
                await bot.health()
            assert time.monotonic() - started < 2
        assert "timed out" in str(info.value)
    finally:
        server.close()


async def test_wrong_key_is_unauthorized(sim: Simulator) -> None:
    async with ChatbotClient(sim.base_url, "oc_wrong_key_123", retry=FAST) as bot:
        for call in (bot.health, lambda: bot.changed_conversations(None, 5), lambda: bot.pause_ai("conv_0001")):
            with pytest.raises(Unauthorized) as info:
                await call()
            assert info.value.status == 401 and not info.value.transient
            assert "oc_wrong_key_123" not in str(info.value)
    assert len(sim.requests) == 3  # never retried


async def test_every_failure_is_a_chatbot_error(client: ChatbotClient, sim: Simulator) -> None:
    from tui_helpdesk.domain.errors import HelpdeskError

    sim.fail_next(4)
    with pytest.raises(ChatbotError) as info:
        await client.health()
    assert isinstance(info.value, HelpdeskError)


# ------------------------------------------------------------ untrusted text


def _texts(value: object) -> list[str]:
    """Every string inside a dataclass tree."""
    if isinstance(value, str):
        return [value]
    if dataclasses.is_dataclass(value):
        out: list[str] = []
        for f in dataclasses.fields(value):
            out += _texts(getattr(value, f.name))
        return out
    if isinstance(value, (tuple, list)):
        return [s for item in value for s in _texts(item)]
    return []


async def test_payloads_come_back_clean(client: ChatbotClient, sim: Simulator) -> None:
    ids = []
    for payload in PAYLOADS:
        conv_id = sim.add_conversation(payload, text=payload, channel=payload, email=payload,
                                       language=payload, user_id=f"u-{len(ids)}")
        sim.escalate(conv_id, payload)
        ids.append(conv_id)
    listed, _, _ = await client.changed_conversations(None, 100)
    fetched = [await client.get_conversation(i) for i in ids]
    reply = await client.post_reply(ids[0], "\x1b]0;PWNED\x1b\\Hello", "\x1b[2JDana\u202e", "k")

    for obj in [*listed, *fetched, reply]:
        for text in _texts(obj):
            assert not FORBIDDEN & set(text), repr(text)

    by_id = {c.id: c for c in fetched}
    markup = by_id[ids[PAYLOADS.index("[@click=app.quit]x[/]")]]
    assert markup.user.name == "[@click=app.quit]x[/]"  # literal text, untouched
    assert markup.messages[0].text == "[@click=app.quit]x[/]"
    assert by_id[ids[PAYLOADS.index("invoice\u202efdp.exe")]].user.name == "invoicefdp.exe"
    assert by_id[ids[PAYLOADS.index("ok\rFAKE")]].messages[0].text == "ok\nFAKE"
    assert by_id[ids[PAYLOADS.index("ok\rFAKE")]].user.name == "ok FAKE"  # one line
    assert by_id[ids[PAYLOADS.index("trailing\\")]].user.name == "trailing\\"
    assert reply.text == "Hello" and reply.author_name == "Dana"


async def test_hostile_error_message_is_cleaned(sim: Simulator) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "\x1b[2JBAD", "message": f"\x1b]0;PWNED\x1b\\no {KEY} here\u202e"}}
        return httpx.Response(400, json=body)

    async with ChatbotClient("http://platform.test", KEY, transport=httpx.MockTransport(handler)) as bot:
        with pytest.raises(Rejected) as info:
            await bot.health()
    text = str(info.value)
    assert not FORBIDDEN & set(text) and KEY not in text
    assert info.value.code == "BAD"


# ------------------------------------------------------------------ secrets


async def test_api_key_never_leaks(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bot = ChatbotClient(sim.base_url, KEY, retry=FAST)
    errors: list[BaseException] = []
    async with bot:
        sim.fail_next(10)
        sim.rate_limit_next(1, retry_after=0)
        for call in (bot.health, lambda: bot.get_conversation("nope")):
            try:
                await call()
            except ChatbotError as exc:
                errors.append(exc)
        sim.garbage_next(1)
        try:
            await bot.health()
        except ChatbotError as exc:
            errors.append(exc)
        sim.down = True
        try:
            await bot.health()
        except ChatbotError as exc:
            errors.append(exc)
    assert len(errors) == 4
    assert {type(e) for e in errors} == {Unavailable, BadResponse}
    seen = [repr(bot), str(bot), caplog.text]
    for exc in errors:
        seen += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for exc in errors:  # as a crash screen with local variables would show it
        out = io.StringIO()
        Console(file=out, width=200).print(Traceback.from_exception(type(exc), exc, exc.__traceback__,
                                                                    show_locals=True))
        seen.append(out.getvalue())
    assert all(KEY not in s for s in seen)
    assert "retrying" in caplog.text  # the retries were logged, without the key


def test_constructor_checks_without_echoing_the_key() -> None:
    with pytest.raises(ValueError) as info:
        ChatbotClient("http://x.test", "oc_secret\r\nX-Evil: 1")
    assert "oc_secret" not in str(info.value)
    with pytest.raises(ValueError):
        ChatbotClient("http://user:pw@x.test", KEY)
    with pytest.raises(ValueError):
        ChatbotClient("ftp://x.test", KEY)
    with pytest.raises(ValueError):
        ChatbotClient("http://x.test", "")


# ------------------------------------------------- any answer, one error type


def _valid_conversation(i: int = 1) -> dict:
    return {
        "id": f"conv_{i}",
        "state": "ongoing",
        "channel": "web",
        "user": {"id": "u1", "name": "Alice", "language": "en"},
        "ai_paused": False,
        "escalation_reason": None,
        "created_at": T0,
        "updated_at": T0,
        "last_message": {"role": "user", "text": "hi", "created_at": T0},
        "messages": [{"id": "m1", "role": "user", "text": "hi", "created_at": T0}],
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


def _replace(value: object, path: tuple, new: object) -> object:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = json.loads(json.dumps(value))
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _run_against(body: bytes, status: int, call: str) -> object:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"Retry-After": "0"})

    async def go() -> object:
        async with ChatbotClient("http://platform.test", KEY, transport=httpx.MockTransport(handler),
                                 retry=RetryPolicy(attempts=2, base_delay=0), sleep=_no_sleep) as bot:
            if call == "list":
                return await bot.changed_conversations(None, 10)
            if call == "get":
                return await bot.get_conversation("conv_1")
            if call == "pause":
                return await bot.pause_ai("conv_1")
            if call == "reply":
                return await bot.post_reply("conv_1", "hi", "Dana", "k")
            return await bot.health()

    return asyncio.run(go())


async def _no_sleep(seconds: float) -> None:
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    call=st.sampled_from(["list", "get", "pause", "reply", "health"]),
    status=st.sampled_from([200, 200, 200, 201, 204, 302, 400, 404, 409, 429, 500]),
)
def test_any_answer_gives_a_result_or_a_chatbot_error(data: st.DataObject, call: str, status: int) -> None:
    if call == "list":
        valid: object = {"data": [_valid_conversation()], "pagination": {"cursor": "c", "hasMore": False}}
    elif call == "reply":
        valid = {"data": _valid_conversation()["messages"][0]}
    elif call == "health":
        valid = {"data": {"status": "ok"}}
    else:
        valid = {"data": _valid_conversation()}
    mode = data.draw(st.sampled_from(["mutate", "random", "bytes"]))
    if mode == "mutate":
        path = data.draw(st.sampled_from(_paths(valid)))
        body = json.dumps(_replace(valid, path, data.draw(json_values))).encode()
    elif mode == "random":
        body = json.dumps(data.draw(json_values)).encode()
    else:
        body = data.draw(st.binary(max_size=64))
    try:
        _run_against(body, status, call)
    except ChatbotError:
        pass
