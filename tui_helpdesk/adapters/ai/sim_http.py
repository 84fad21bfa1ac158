"""An OpenAI-compatible endpoint on loopback, deterministic, for the tests and the demo.

``POST /v1/chat/completions`` (plain or streamed as SSE chunks, with ``usage``
when ``stream_options.include_usage`` asks) and ``GET /v1/models``. What it
answers is decided from the request alone, so a test can predict it: the
packaged prompts start with ``Task: <action>.`` and pass customer text inside
``<<<NAME nonce`` … ``NAME nonce>>>`` blocks, which the simulator reads back.
Every answer is visibly marked as simulated.

Failure modes for tests, queued with :meth:`AISimulator.fail_next`: ``401``,
``404`` (unknown model), ``429`` (with Retry-After), ``broken`` (the stream
stops midway without ``[DONE]``), ``garbage`` (chunks that are not JSON),
``stall`` (a first chunk, then silence). ``first_token_delay`` holds the first
token back, like a real model thinking.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

from aiohttp import web

MARK = "[simulated]"
_BLOCK = re.compile(r"<<<([A-Z_]+) ([0-9a-f]+)\n(.*?)\n?\1 \2>>>", re.S)
_TASK = re.compile(r"Task:\s*([a-z_]+)")
_LANG = re.compile(r"(?:Target language|Customer language)[^:]*:\s*([A-Za-z-]+)")
_TOKENS = re.compile(r"\s*\S+|\s+")


@dataclass
class Failure:
    kind: str
    retry_after: float = 1.0


@dataclass
class AISimulator:
    """The simulator; ``await start()`` gives its ``/v1`` base URL."""

    api_key: str | None = None  # None: any key (a local server)
    models: tuple[str, ...] = ("sim-small", "sim-large")
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    requests: list[dict] = field(default_factory=list)
    _failures: list[Failure] = field(default_factory=list)
    _replies: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    base_url: str = ""

    def fail_next(self, kind: str, *, retry_after: float = 1.0, times: int = 1) -> None:
        """Spoil the next *times* completions with *kind* (see the module docstring)."""
        self._failures.extend(Failure(kind, retry_after) for _ in range(times))

    def reply_next(self, text: str) -> None:
        """Answer the next completion with *text* exactly (escape and markup payload tests)."""
        self._replies.append(text)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._h_completions)
        app.router.add_get("/v1/models", self._h_models)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        self.base_url = f"http://{bound[0]}:{bound[1]}/v1"
        return self.base_url

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "AISimulator":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ handlers

    def _denied(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("Authorization", "") != f"Bearer {self.api_key}":
            return _error(401, "invalid_api_key", "Incorrect API key provided")
        return None

    async def _h_models(self, request: web.Request) -> web.Response:
        denied = self._denied(request)
        if denied:
            return denied
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "simulator"} for m in self.models]})

    async def _h_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_request_error", "the body is not JSON")
        self.requests.append(body)
        failure = self._failures.pop(0) if self._failures else None
        if failure and failure.kind == "401":
            return _error(401, "invalid_api_key", "Incorrect API key provided")
        denied = self._denied(request)
        if denied:
            return denied
        model = body.get("model", "")
        if (failure and failure.kind == "404") or model not in self.models:
            return _error(404, "model_not_found", f"The model `{model}` does not exist")
        if failure and failure.kind == "429":
            return _error(429, "rate_limit_exceeded", "Rate limit reached",
                          headers={"Retry-After": f"{failure.retry_after:g}"})
        text = self._replies.pop(0) if self._replies else answer(body.get("messages") or [])
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        pieces = _TOKENS.findall(text) or [""]
        if not body.get("stream"):
            await asyncio.sleep(self.first_token_delay)
            if failure and failure.kind == "garbage":
                return web.Response(status=200, text="{\"choices\": [ garbage", content_type="application/json")
            return web.json_response(_completion(model, text, prompt_tokens, len(pieces)))
        return await self._stream(request, body, model, pieces, prompt_tokens, failure)

    async def _stream(self, request, body, model, pieces, prompt_tokens, failure) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await response.prepare(request)
            return await self._send_stream(request, response, body, model, pieces, prompt_tokens, failure)
        except ConnectionResetError:  # the client went away mid-answer (a cancel): nothing to report
            return response

    async def _send_stream(self, request, response, body, model, pieces, prompt_tokens, failure):
        ident = f"chatcmpl-sim{len(self.requests)}"
        created = int(time.time())

        async def send(payload) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
            await response.write(f"data: {data}\n\n".encode())

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        await asyncio.sleep(self.first_token_delay)
        if failure and failure.kind == "garbage":
            await send("{\"choices\": [{\"delta\": {\"content\": \"Hel")
            await send("<html>502 Bad Gateway</html>")
            await response.write_eof()
            return response
        await send(chunk({"role": "assistant", "content": ""}))
        for n, piece in enumerate(pieces):
            if failure and failure.kind == "broken" and n >= max(1, len(pieces) // 2):
                # The connection drops mid-answer: no finish_reason, no [DONE].
                if request.transport is not None:
                    request.transport.abort()
                return response
            if failure and failure.kind == "stall" and n == 1:
                await self._stopping.wait()  # silence until the simulator stops
                return response
            await send(chunk({"content": piece}))
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        await send(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                        "choices": [], "usage": _usage(prompt_tokens, len(pieces))})
        await send("[DONE]")
        await response.write_eof()
        return response


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(model: str, text: str, prompt: int, completion: int) -> dict:
    return {"id": "chatcmpl-sim", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": _usage(prompt, completion)}


def _error(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": code, "code": code, "param": None}},
                             status=status, headers=headers)


# ------------------------------------------------------------------ answers


def answer(messages: list[dict]) -> str:
    """The simulated answer to *messages*: decided by the prompt's ``Task:`` and its data blocks."""
    system = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    user = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    task = (_TASK.search(system) or _TASK.search(user))
    action = task.group(1) if task else ""
    blocks = {name: text for name, _nonce, text in _BLOCK.findall(user)}
    lang = (_LANG.search(user) or _LANG.search(system))
    language = lang.group(1) if lang else ""
    instruction = ""
    for line in user.splitlines():
        if line.startswith("Instruction:"):
            instruction = line.partition(":")[2].strip()
    if action == "ping":
        return "pong"
    if action in ("translate", "translate_message"):
        text = blocks.get("DRAFT") or blocks.get("MESSAGE") or ""
        return f"[simulated {language or '?'}] {text.strip()}"
    if action in ("summarize", "escalation"):
        source = blocks.get("TICKET") or blocks.get("TRANSCRIPT") or user
        first = _first_customer_line(source)
        subject = " ".join(first.split()[:8]) or "Customer request"
        return (f"Subject: {subject}\nSummary: {MARK} The customer wrote: \"{first[:160]}\". "
                f"The thread holds {max(1, source.count(chr(10)) + 1)} lines; an answer from the team is awaited.")
    if action == "polish":
        draft = (blocks.get("DRAFT") or "").strip()
        tone = ""
        for line in user.splitlines():
            if line.startswith("Tone:"):
                tone = line.partition(":")[2].strip()
        return _polish(draft, tone, instruction)
    if action == "draft":
        first = _first_customer_line(blocks.get("TICKET") or "")
        extra = f" {instruction[:1].upper()}{instruction[1:].rstrip('.')}." if instruction else ""
        return (f"{MARK} Hello,\n\nThank you for your message about \"{' '.join(first.split()[:8])}\". "
                f"We are looking into it and will get back to you shortly.{extra}\n\nBest regards")
    return f"{MARK} I can only help with help-desk replies."


def _first_customer_line(text: str) -> str:
    for line in text.splitlines():
        head, colon, rest = line.partition(":")
        if colon and head.strip().lower().startswith("customer") and rest.strip():
            return rest.strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _polish(draft: str, tone: str, instruction: str) -> str:
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(draft.split())) if s.strip()]
    sentences = [s[0].upper() + s[1:] if s else s for s in sentences] or ["Thank you for your message."]
    if "short" in tone:
        sentences = sentences[:1]
    elif "formal" in tone:
        sentences = ["Dear customer,"] + sentences + ["Yours sincerely"]
    elif "friend" in tone:
        sentences = ["Hi there!"] + sentences + ["Have a lovely day!"]
    else:
        sentences = sentences + ["Thank you for your patience."]
    if instruction:
        sentences.append(f"({instruction.rstrip('.')}.)")
    return f"{MARK} " + " ".join(sentences)
