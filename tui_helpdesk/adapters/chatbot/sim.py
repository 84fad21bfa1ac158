"""A chatbot platform simulator: a real HTTP server speaking docs/chatbot-api.md.

The demo (``helpdesk bot-sim``) and the tests run the help desk against it.
It keeps conversations in memory: simulated customers write in several
languages, the bot answers while it is allowed to, some conversations
escalate to a human and some end. Teammates' replies posted through the API
appear in the thread, and while the bot is paused for a conversation it stays
quiet.

The simulation moves one step per :meth:`Simulator.tick` (deterministic for a
given seed and sequence of calls), or on its own every few seconds. Test hooks
drive it directly (:meth:`~Simulator.add_conversation`,
:meth:`~Simulator.customer_says`, :meth:`~Simulator.escalate`,
:meth:`~Simulator.end`) and inject faults: error statuses, 429s, malformed
answers and dropped connections.

This module holds the simulation (lifecycle, hooks, faults, behaviour);
:mod:`.sim_http` answers the HTTP requests, :mod:`.sim_state` holds the
conversations and :mod:`.sim_script` the lines spoken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ...domain.chat.model import ConversationState as State
from ...domain.chat.model import MessageRole as Role
from . import sim_script as script
from .sim_http import API, GARBAGE_KINDS, SimulatorHttp
from .sim_state import SimConversation, SimMessage

log = logging.getLogger(__name__)


class Simulator(SimulatorHttp):
    """An in-memory chatbot platform behind a real aiohttp server.

    *clock* returns Unix seconds and stamps everything (messages, rate-limit
    windows); tests pass a fake one. *rate_limit* requests are allowed per
    *rate_window* seconds of that clock, like the real platform's limit.
    """

    def __init__(
        self,
        api_key: str,
        *,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        rate_limit: int = 100,
        rate_window: float = 10.0,
        max_live: int = 25,
        escalations_per_minute: float | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("the simulator needs an API key")
        self._api_key = api_key
        self._rng = random.Random(seed)
        self._clock = clock
        self._rate_limit = rate_limit
        self._rate_window = rate_window
        self._window_index: int | None = None
        self._window_count = 0
        self.max_live = max_live
        # At most this many chats ask for a human per minute (None: as the dice fall):
        # the demo's desk should be busy, not flooded.
        self.escalations_per_minute = escalations_per_minute
        self._escalated_at: list[float] = []
        self._convs: dict[str, SimConversation] = {}
        self._seq = 0
        self._conv_counter = 0
        self._msg_counter = 0
        self._request_counter = 0
        self._epoch = secrets.token_hex(4)
        # Faults, consumed one request at a time.
        self._fail: list[int] = []
        self._rate_limited: list[float] = []
        self._garbage: list[str | None] = []
        self._garbage_served = 0
        self.down = False
        #: (method, path) of every request that reached the server, for tests.
        self.requests: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.base_url: str | None = None

    def __repr__(self) -> str:
        return f"Simulator(base_url={self.base_url!r}, conversations={len(self._convs)})"

    # ------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, tick_seconds: float | None = None) -> str:
        """Listen on *host*:*port* (0 picks a free port); return the base URL.

        With *tick_seconds*, the simulation also advances on its own.
        """
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * 1024)
        r = app.router
        r.add_get(f"{API}/health", self._h_health)
        r.add_get(f"{API}/conversations", self._h_list)
        r.add_get(f"{API}/conversations/{{id}}", self._h_get)
        r.add_post(f"{API}/conversations/{{id}}/ai/pause", self._h_pause)
        r.add_post(f"{API}/conversations/{{id}}/ai/resume", self._h_resume)
        r.add_post(f"{API}/conversations/{{id}}/takeover", self._h_takeover)
        r.add_post(f"{API}/conversations/{{id}}/messages", self._h_post_message)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown}:{bound_port}"
        if tick_seconds:
            self._ticker = asyncio.create_task(self._tick_forever(tick_seconds), name="bot-sim ticker")
        return self.base_url

    async def stop(self) -> None:
        """Stop ticking and close the server (new connections are refused)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "Simulator":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _tick_forever(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                self.tick()
            except Exception:  # keep serving even if a step goes wrong
                log.exception("simulator tick failed")

    # ------------------------------------------------------------ test hooks

    def add_conversation(
        self,
        name: str | None = None,
        *,
        text: str | None = None,
        language: str = "en",
        channel: str = "web",
        email: str | None = None,
        user_id: str | None = None,
        ai_paused: bool = False,
    ) -> str:
        """Start a conversation (with the customer's first message, if *text*); return its id.

        Conversations added here move only through the hooks and the API; the
        bot still answers them while it is not paused.
        """
        lang = script.LANGUAGES.get(language)
        if name is None:
            names = lang.names if lang else script.LANGUAGES["en"].names
            name = names[self._conv_counter % len(names)]
        conv = self._new_conversation(name=name, language=language, channel=channel, email=email, user_id=user_id)
        conv.ai_paused = ai_paused
        if text is not None:
            self._customer_message(conv, text)
        return conv.id

    def customer_says(self, conv_id: str, text: str) -> str:
        """The customer writes *text*; an ended conversation reopens. Returns the message id."""
        conv = self._conv(conv_id)
        if conv.state is State.ENDED:
            conv.state = State.ONGOING
            self._add_message(conv, Role.SYSTEM, script.SYSTEM_REOPENED)
        return self._customer_message(conv, text).id

    def escalate(self, conv_id: str, reason: str) -> None:
        """The bot hands the conversation to a human, giving *reason*."""
        conv = self._conv(conv_id)
        if conv.state is State.ENDED:
            raise ValueError(f"conversation {conv_id} has ended")
        self._escalate(conv, reason)

    def end(self, conv_id: str) -> None:
        """The conversation ends (idempotent)."""
        conv = self._conv(conv_id)
        if conv.state is not State.ENDED:
            self._end(conv)

    def snapshot(self, conv_id: str) -> dict[str, Any]:
        """The conversation as the API returns it, messages included."""
        return self._conv(conv_id).to_json(with_messages=True)

    def conversation_ids(self) -> list[str]:
        return list(self._convs)

    def populate(self, count: int, *, steps: int = 6) -> None:
        """Start *count* random conversations and let them run *steps* ticks."""
        for _ in range(count):
            self._random_conversation()
        for _ in range(steps):
            self.tick()

    # ----------------------------------------------------------------- faults

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """Answer the next *n* requests with *status* and an error envelope."""
        self._fail.extend([status] * n)

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        """Answer the next *n* requests with 429 and ``Retry-After: retry_after``."""
        self._rate_limited.extend([retry_after] * n)

    def garbage_next(self, n: int = 1, kind: str | None = None) -> None:
        """Answer the next *n* requests with a malformed 200 (see ``GARBAGE_KINDS``).

        The request still takes effect; only its answer is spoiled. Without
        *kind*, successive answers cycle through all kinds.
        """
        if kind is not None and kind not in GARBAGE_KINDS:
            raise ValueError(f"unknown garbage kind {kind!r}")
        self._garbage.extend([kind] * n)

    # ------------------------------------------------------------ simulation

    def tick(self) -> None:
        """Advance the simulation one step."""
        rng = self._rng
        for conv in list(self._convs.values()):
            if conv.awaiting_bot and not conv.ai_paused and conv.state in (State.ONGOING, State.ESCALATED):
                self._bot_answer(conv)
        live = [c for c in self._convs.values() if c.state is not State.ENDED]
        if len(live) < self.max_live and rng.random() < 0.35:
            self._random_conversation()
        for conv in live:
            if conv.topic is None:  # added by a hook: only hooks move it (the bot still answers)
                continue
            roll = rng.random()
            lang = script.LANGUAGES.get(conv.language, script.LANGUAGES["en"])
            last = conv.messages[-1] if conv.messages else None
            if conv.state is State.ONGOING:
                if conv.awaiting_bot:
                    continue
                if roll < 0.08 and conv.turns >= 1 and self._may_escalate():
                    if rng.random() < 0.5:
                        self._customer_message(conv, lang.ask_human)
                    self._escalate(conv, self._reason(conv))
                elif roll < 0.16 and conv.turns >= 2:
                    self._end(conv)
                elif roll < 0.40:
                    self._customer_message(conv, self._follow_up(conv))
            elif last is not None and last.role is Role.HUMAN_AGENT:
                if roll < 0.45:
                    self._customer_message(conv, rng.choice(lang.thanks))
            elif last is not None and last.role is Role.USER:
                if roll < 0.03:
                    self._end(conv)
            elif roll < 0.06:
                self._customer_message(conv, self._follow_up(conv))

    def _may_escalate(self) -> bool:
        """Whether one more escalation fits this minute's budget (and count it if so)."""
        if self.escalations_per_minute is None:
            return True
        now = self._clock()
        self._escalated_at = [t for t in self._escalated_at if now - t < 60.0]
        if len(self._escalated_at) >= self.escalations_per_minute:
            return False
        self._escalated_at.append(now)
        return True

    def _random_conversation(self) -> SimConversation:
        rng = self._rng
        codes = list(script.LANGUAGE_WEIGHTS)
        code = rng.choices(codes, weights=[script.LANGUAGE_WEIGHTS[c] for c in codes])[0]
        lang = script.LANGUAGES[code]
        name = rng.choice(lang.names)
        channel = rng.choice(script.CHANNELS)
        email = None
        if channel in ("web", "messenger") and rng.random() < 0.7:
            local = "".join(ch for ch in name.lower().replace(" ", ".") if ch.isascii() and (ch.isalnum() or ch == "."))
            email = f"{local or 'customer'}{rng.randint(1, 99)}@example.com"
        conv = self._new_conversation(name=name, language=code, channel=channel, email=email, user_id=None)
        conv.topic = rng.choice(lang.topics)
        conv.order = str(rng.randint(10000, 99999))
        self._customer_message(conv, conv.topic.opening.format(order=conv.order))
        return conv

    def _follow_up(self, conv: SimConversation) -> str:
        assert conv.topic is not None
        lines = conv.topic.follow_ups
        return lines[(conv.turns - 1) % len(lines)].format(order=conv.order)

    def _reason(self, conv: SimConversation) -> str:
        if conv.topic is None:
            return "Customer asked for a human"
        return conv.topic.escalation_reason.format(order=conv.order)

    def _bot_answer(self, conv: SimConversation) -> None:
        lang = script.LANGUAGES.get(conv.language, script.LANGUAGES["en"])
        if conv.state is State.ESCALATED:
            text = lang.holding
        elif conv.topic is not None and conv.turns <= len(conv.topic.bot_answers):
            text = conv.topic.bot_answers[conv.turns - 1].format(order=conv.order)
        else:
            text = script.GENERIC_BOT.get(conv.language, script.GENERIC_BOT["en"])
        self._add_message(conv, Role.ASSISTANT, text)
        conv.awaiting_bot = False

    def _escalate(self, conv: SimConversation, reason: str) -> None:
        lang = script.LANGUAGES.get(conv.language, script.LANGUAGES["en"])
        if not conv.ai_paused:
            self._add_message(conv, Role.ASSISTANT, lang.handoff)
        conv.state = State.ESCALATED
        conv.escalation_reason = reason
        conv.awaiting_bot = False
        self._add_message(conv, Role.SYSTEM, script.SYSTEM_ESCALATED.format(reason=reason))

    def _end(self, conv: SimConversation) -> None:
        conv.state = State.ENDED
        conv.awaiting_bot = False
        self._add_message(conv, Role.SYSTEM, script.SYSTEM_ENDED)

    # --------------------------------------------------------------- storage

    def _now(self) -> float:
        return round(float(self._clock()), 3)

    def _new_conversation(
        self, *, name: str, language: str, channel: str, email: str | None, user_id: str | None
    ) -> SimConversation:
        self._conv_counter += 1
        n = self._conv_counter
        now = self._now()
        conv = SimConversation(
            id=f"conv_{n:04d}",
            channel=channel,
            user_id=user_id or f"user_{n:04d}",
            name=name,
            email=email,
            language=language,
            created_at=now,
            updated_at=now,
        )
        self._convs[conv.id] = conv
        self._touch(conv)
        return conv

    def _conv(self, conv_id: str) -> SimConversation:
        try:
            return self._convs[conv_id]
        except KeyError:
            raise KeyError(f"no conversation {conv_id!r}") from None

    def _touch(self, conv: SimConversation) -> None:
        self._seq += 1
        conv.seq = self._seq
        conv.updated_at = max(conv.updated_at, self._now())

    def _add_message(self, conv: SimConversation, role: Role, text: str, author_name: str | None = None) -> SimMessage:
        self._msg_counter += 1
        msg = SimMessage(f"msg_{self._msg_counter:06d}", role, text, self._now(), author_name)
        conv.messages.append(msg)
        self._touch(conv)
        return msg

    def _customer_message(self, conv: SimConversation, text: str) -> SimMessage:
        conv.turns += 1
        conv.awaiting_bot = True
        return self._add_message(conv, Role.USER, text)


async def serve(
    host: str,
    port: int,
    api_key: str,
    seed: int = 0,
    tick_seconds: float | None = 3.0,
    *,
    initial_conversations: int = 12,
    on_ready: Callable[[str], Any] | None = None,
    escalations_per_minute: float | None = None,
) -> None:
    """Run a simulator until cancelled (the ``helpdesk bot-sim`` command).

    Starts with *initial_conversations* conversations already under way and
    advances every *tick_seconds*. *on_ready* receives the base URL once the
    server listens.
    """
    sim = Simulator(api_key, seed=seed, escalations_per_minute=escalations_per_minute)
    sim.populate(initial_conversations)
    url = await sim.start(host, port, tick_seconds=tick_seconds)
    log.info("chatbot simulator listening on %s", url)
    if on_ready is not None:
        on_ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()
