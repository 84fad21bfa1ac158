"""AI compose, summaries, translation and usage: what the app and the CLI ask of the model.

Every call goes through :meth:`AIService.stream`, which builds nothing itself:
it takes the messages an action prepared (prompt file + data blocks), streams
the answer from the :class:`~..ports.Assistant`, and meters the call (tokens,
time, action, agent, desk) whether it succeeded or not. The answer is
untrusted text: callers show it only through ``domain.text.clean``. Nothing
here ever sends a reply: compose results go back to the agent's composer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ...adapters.store.repository import Store
from ...domain.ai import Action, AIBadResponse, AIDisabled, strip_signature
from ...domain.errors import UsageError
from ...domain.mail.quotes import split_quoted
from ...domain.model import Agent, EntryKind, Ticket, TimelineEntry
from ...domain.text import clean, one_line
from ...settings import Settings
from ..ports import Assistant
from . import language as language_mod
from .prompts import Prompts, block, nonce
from .translation import TranslationPolicies, TranslationPolicy

log = logging.getLogger(__name__)

CONTEXT_ENTRIES = 60  # the newest messages and replies a draft or summary reads
ENTRY_CHARS = 4000
CONTEXT_CHARS = 24000
LONG_MESSAGE_CHARS = 4000  # longer customer messages are translated on demand only
TONES = ("", "friendlier", "more formal", "shorter")
SUMMARY_AUTHOR = "AI summary"
LANGUAGE_MEMORY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class SummaryResult:
    text: str
    regenerated: bool  # False: the stored summary still covers the ticket


def model_text(body: str) -> str:
    """What the model reads of an entry: quoted history and signature left out, cleaned."""
    new, _quoted = split_quoted(body or "")
    return clean(strip_signature(new or body or ""))[:ENTRY_CHARS]


class AIService:
    """The AI features; built by bootstrap with a factory for the assistant (built on first use)."""

    def __init__(self, store: Store, settings: Settings, *, assistant_factory: Callable[[], Assistant],
                 translation_lookup: Callable[[int], Awaitable[tuple[bool, str]]] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.ai = settings.ai
        self.prompts = Prompts(settings.ai.prompts_dir)
        self.policies = TranslationPolicies(store, settings, translation_lookup)
        self._factory = assistant_factory
        self._assistant: Assistant | None = None
        self._translating: dict[tuple[int, str], asyncio.Task] = {}
        self._translation_waiters: dict[asyncio.Task, int] = {}  # who still waits for each call
        self._languages: dict[int, tuple[str, float]] = {}  # requester id -> (language, when read)

    # ------------------------------------------------------------ the model

    @property
    def configured(self) -> bool:
        return self.ai.active

    def unavailable_reason(self) -> str:
        if not self.ai.enabled:
            return "AI is turned off ([ai] enabled = false)"
        return "no AI endpoint is configured (set [ai] base_url and model)"

    @property
    def assistant(self) -> Assistant:
        if not self.configured:
            raise AIDisabled(self.unavailable_reason())
        if self._assistant is None:
            self._assistant = self._factory()
        return self._assistant

    async def aclose(self) -> None:
        close = getattr(self._assistant, "aclose", None)
        if close is not None:
            await close()
        self._assistant = None

    def model_for(self, action: Action) -> str:
        return self.ai.model_for(action.value)

    def model_for_messages(self) -> str:
        """The model customer messages are translated with (part of a cached translation's key)."""
        return self.model_for(Action.TRANSLATE_MESSAGE)

    async def stream(
        self, action: Action, messages: list[dict], *, agent_id: int | None = None, desk_id: int | None = None,
        ticket_id: int | None = None, max_tokens: int | None = None,
    ) -> AsyncIterator[str]:
        """The model's answer, chunk by chunk (raw: clean before showing); the call is metered."""
        assistant = self.assistant
        usage: dict = {}
        ok = False
        started = time.monotonic()
        try:
            async for chunk in assistant.stream(messages, model=self.model_for(action), max_tokens=max_tokens,
                                                usage=usage):
                if not isinstance(chunk, str):
                    raise AIBadResponse("the AI endpoint sent an answer that is not text")
                yield chunk
            ok = True
        finally:
            await self._meter(action, usage, ok, started, agent_id, desk_id, ticket_id)

    async def complete(self, action: Action, messages: list[dict], **kwargs) -> str:
        return "".join([chunk async for chunk in self.stream(action, messages, **kwargs)])

    async def _meter(self, action, usage, ok, started, agent_id, desk_id, ticket_id) -> None:
        try:
            async with self.store.write() as tx:
                await tx.record_ai_usage(
                    action=action.value, agent_id=agent_id, desk_id=desk_id, ticket_id=ticket_id,
                    model=str(usage.get("model") or self.model_for(action))[:200],
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0),
                    ms=int(usage.get("ms") or (time.monotonic() - started) * 1000), ok=ok)
        except Exception:  # noqa: BLE001 - metering never costs the agent their answer
            log.warning("could not record AI usage for %s", action.value, exc_info=True)

    def metered(self, action: Action, *, desk_id: int | None = None) -> Assistant:
        """An :class:`Assistant` for code written against the port (escalation summaries) that meters."""
        service = self

        class _Metered:
            async def stream(self, messages, **_kwargs):
                async for chunk in service.stream(action, messages, desk_id=desk_id):
                    yield chunk

        return _Metered()

    # ------------------------------------------------------------ context

    async def _context(self, ticket_id: int, shown: tuple[Ticket, list[TimelineEntry]] | None = None,
                       ) -> tuple[Ticket, str, int]:
        """The ticket, its conversation as the model reads it, and its newest entry id.

        *shown* is what a ticket screen already holds (the ticket and its newest
        entries): no read then, so the request leaves at once.
        """
        if shown is not None and shown[1]:
            ticket, entries = shown[0], list(shown[1])[-CONTEXT_ENTRIES:]
            last = entries[-1].id
        else:
            async with self.store.read() as tx:
                ticket = await tx.get_ticket(ticket_id)
                entries = await tx.timeline_tail(ticket_id, CONTEXT_ENTRIES)
                last = await tx.last_entry_id(ticket_id)
        lines: list[str] = [f"Subject: {one_line(ticket.subject, 300)}"]
        for e in entries:
            if e.kind is EntryKind.MESSAGE:
                lines.append(f"Customer: {model_text(e.body)}")
            elif e.kind is EntryKind.REPLY:
                lines.append(f"Agent: {model_text(e.body)}")
        text = "\n".join(lines)
        return ticket, text[-CONTEXT_CHARS:], last

    # ------------------------------------------------------------ compose

    async def compose(
        self, action: Action, ticket_id: int, me: Agent | None, *, draft: str = "", tone: str = "",
        instruction: str = "", to: str | None = None, shown: tuple[Ticket, list[TimelineEntry]] | None = None,
    ) -> AsyncIterator[str]:
        """Draft, polish or translate a reply on *ticket_id*; the text streams back, nothing is sent.

        *shown*: the ticket and the entries a screen already holds, read from there instead of the store.
        """
        if action in (Action.POLISH, Action.TRANSLATE) and not draft.strip():
            raise UsageError(f"nothing to {action.value}: the draft is empty")
        if tone not in TONES:
            raise UsageError(f"tone must be one of: {', '.join(t for t in TONES if t)}")
        instruction = one_line(instruction, 500)
        code = nonce()
        if action is Action.DRAFT:
            ticket, context, _ = await self._context(ticket_id, shown)
            lang = to or await self.customer_language(ticket) or "unknown, use the language of the customer"
            system = self.prompts.system("draft", customer_language=lang)
            user = [block("TICKET", context, code)]
        elif action is Action.POLISH:
            ticket = shown[0] if shown else await self._ticket(ticket_id)
            system = self.prompts.system("polish", tone=tone or "the same as the draft")
            user = [block("DRAFT", draft, code), f"Tone: {tone or 'unchanged'}"]
        elif action is Action.TRANSLATE:
            ticket = shown[0] if shown else await self._ticket(ticket_id)
            lang = to or await self.customer_language(ticket)
            if not lang:
                raise UsageError("the customer's language is not known yet; give one (--to LANG, or set it on the ticket)")
            system = self.prompts.system("translate", target_language=lang)
            user = [block("DRAFT", draft, code), f"Target language: {lang}"]
        else:
            raise UsageError(f"not a compose action: {action.value}")
        if instruction:
            user.append(f"Instruction: {instruction}")
        messages = [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(user)}]
        async for chunk in self.stream(action, messages, agent_id=me.id if me else None, desk_id=ticket.desk_id,
                                       ticket_id=ticket.id):
            yield chunk

    async def _ticket(self, ticket_id: int) -> Ticket:
        async with self.store.read() as tx:
            return await tx.get_ticket(ticket_id)

    # ------------------------------------------------------------ summaries

    async def summarize(self, ticket_id: int, me: Agent | None, *, on_chunk: Callable[[str], None] | None = None,
                        ) -> SummaryResult:
        """Summarise the ticket as an internal note, unless the stored summary still covers it."""
        from ..conversations.summary import parse_summary

        ticket, context, last = await self._context(ticket_id)
        async with self.store.read() as tx:
            stored = await tx.ticket_summary(ticket_id)
        if stored is not None and stored.last_entry_id >= last:
            return SummaryResult(stored.text, False)
        lang = await self.customer_language(ticket) or "unknown, use the language of the customer"
        code = nonce()
        messages = [
            {"role": "system", "content": self.prompts.system("summarize", customer_language=lang)},
            {"role": "user", "content": f"{block('TICKET', context, code)}\nCustomer language: {lang}"},
        ]
        chunks: list[str] = []
        async for chunk in self.stream(Action.SUMMARIZE, messages, agent_id=me.id if me else None,
                                       desk_id=ticket.desk_id, ticket_id=ticket_id):
            chunks.append(chunk)
            if on_chunk:
                on_chunk(chunk)
        parsed = parse_summary("".join(chunks))
        if parsed is None:
            raise AIBadResponse("the AI answer was not a summary (no Subject: and Summary: lines); try again")
        text = f"{parsed.subject}\n{parsed.text}"
        async with self.store.write() as tx:
            entry = await tx.insert_entry(
                ticket_id=ticket_id, kind=EntryKind.NOTE, body=text, author_name=SUMMARY_AUTHOR,
                meta={"ai": "summary", "model": self.model_for(Action.SUMMARIZE), "covers": last,
                      "by": me.login if me else None})
            await tx.put_ticket_summary(ticket_id, text, self.model_for(Action.SUMMARIZE), entry.id)
            await tx.update_ticket(ticket_id, expected_version=None, actor=me.name if me else SUMMARY_AUTHOR,
                                   summary=parsed.text, updated_at=entry.created_at)
            await tx.record_change(ticket_id, "note", me.id if me else None)
        return SummaryResult(text, True)

    # ------------------------------------------------------------ language

    async def customer_language(self, ticket: Ticket) -> str | None:
        """The override, else the language detected (once) from the customer's own messages, else the platform's.

        Remembered for a minute per requester (an AI action asks it every time;
        an override made in another terminal shows within that minute).
        """
        rid = ticket.requester.id
        known = self._languages.get(rid)
        if known is not None and time.monotonic() - known[1] < LANGUAGE_MEMORY_SECONDS:
            return known[0]
        code = await self._customer_language(ticket)
        if code:
            self._languages[rid] = (code, time.monotonic())
        return code

    async def _customer_language(self, ticket: Ticket) -> str | None:
        rid = ticket.requester.id
        async with self.store.read() as tx:
            row = await tx.requester_language(rid)
            if row is not None and row.effective:
                return row.effective
            entries = [e for e in await tx.timeline_tail(ticket.id, 40) if e.kind is EntryKind.MESSAGE]
        newest = entries[-1].id if entries else None
        if newest is not None and (row is None or (row.detected_entry_id or 0) < newest):
            found = await asyncio.to_thread(language_mod.detect, [model_text(e.body) for e in entries[-8:]])
            async with self.store.write() as tx:
                await tx.set_requester_language(rid, detected=found, detected_entry_id=newest)
            if found:
                return found
        return ticket.language or ticket.requester.language

    async def language_source(self, ticket: Ticket) -> str:
        """Where the customer's language comes from: ``set by an agent``, ``detected`` or ``from the channel``."""
        async with self.store.read() as tx:
            row = await tx.requester_language(ticket.requester.id)
        if row is not None and row.override:
            return "set by an agent"
        if row is not None and row.detected:
            return "detected"
        return "from the channel"

    async def set_customer_language(self, ticket_id: int, code: str | None, me: Agent) -> None:
        """The agent's override of the customer's language (None: back to the detected one)."""
        if code is not None:
            code = code.strip().lower()
            if not code or len(code) > 16 or not all(part.isalnum() for part in code.split("-")):
                raise UsageError(f"'{code}' is not a language code (like fr or pt-BR)")
        async with self.store.write() as tx:
            ticket = await tx.get_ticket(ticket_id)
            await tx.set_requester_language(ticket.requester.id, override=code)
            await tx.record_change(ticket_id, "language", me.id)
        self._languages.pop(ticket.requester.id, None)

    # ------------------------------------------------------------ translation

    async def policy(self, ticket: Ticket) -> TranslationPolicy:
        return await self.policies.for_desk(ticket.desk_id)

    async def cached_translations(self, entries: list[TimelineEntry], target: str) -> dict[int, str]:
        ids = [e.id for e in entries if e.kind is EntryKind.MESSAGE]
        async with self.store.read() as tx:
            return await tx.translations(ids, target, self.model_for(Action.TRANSLATE_MESSAGE))

    async def translate_entry(self, entry: TimelineEntry, target: str, *, source: str | None = None,
                              desk_id: int | None = None, agent_id: int | None = None) -> str:
        """One customer message in *target*: from the store when any terminal made it, else made and kept."""
        if entry.kind is not EntryKind.MESSAGE:
            raise UsageError("only customer messages are translated")
        model = self.model_for(Action.TRANSLATE_MESSAGE)
        key = (entry.id, target)
        task = self._translating.get(key)
        if task is None:  # two widgets asking at once share one call
            # The stored translation is looked up inside the shared task: a second asker
            # counts as waiting from the moment it asks, so the first one leaving meanwhile
            # does not stop the call for it.
            task = asyncio.ensure_future(self._stored_or_translated(entry, target, model, source, desk_id, agent_id))
            self._translating[key] = task
            task.add_done_callback(lambda t: self._translating.get(key) is t and self._translating.pop(key))
        waiters = self._translation_waiters
        waiters[task] = waiters.get(task, 0) + 1
        try:
            return await asyncio.shield(task)
        finally:
            waiters[task] -= 1
            if not waiters[task]:
                del waiters[task]
                if not task.done():  # everyone who asked left (their screens closed): stop the request
                    task.cancel()
                    if self._translating.get(key) is task:
                        del self._translating[key]

    async def _stored_or_translated(self, entry, target, model, source, desk_id, agent_id) -> str:
        async with self.store.read() as tx:
            have = (await tx.translations([entry.id], target, model)).get(entry.id)
        if have is not None:
            return have
        return await self._translate(entry, target, model, source, desk_id, agent_id)

    async def _translate(self, entry, target, model, source, desk_id, agent_id) -> str:
        code = nonce()
        messages = [
            {"role": "system", "content": self.prompts.system("translate_message", target_language=target)},
            {"role": "user", "content": f"{block('MESSAGE', clean(entry.body), code)}\nTarget language: {target}"},
        ]
        text = clean(await self.complete(Action.TRANSLATE_MESSAGE, messages, agent_id=agent_id, desk_id=desk_id,
                                         ticket_id=entry.ticket_id)).strip()
        if not text:
            raise AIBadResponse("the AI endpoint answered with an empty translation")
        async with self.store.write() as tx:
            await tx.put_translation(entry.id, target, model, text, source)
        return text

    # ------------------------------------------------------------ usage

    async def usage(self, since: datetime, *, agent_id: int | None = None):
        async with self.store.read() as tx:
            return await tx.ai_usage(since, agent_id=agent_id)

    async def today(self, agent_id: int) -> tuple[int, int]:
        """(calls, tokens) of *agent_id* since midnight UTC."""
        async with self.store.read() as tx:
            now = tx.now()
            return await tx.ai_tokens(agent_id, now.replace(hour=0, minute=0, second=0, microsecond=0))


def since(text: str, now: datetime) -> datetime:
    """``7d``, ``12h``, ``2w`` or ``2026-01-31`` -> a naive UTC instant."""
    text = text.strip().lower()
    units = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
    if text[:-1].isdigit() and text[-1:] in units:
        return now - int(text[:-1]) * units[text[-1]]
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise UsageError(f"--since takes 7d, 12h, 2w or a date like 2026-01-31, not '{text}'") from None
