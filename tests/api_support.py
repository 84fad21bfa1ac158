"""The public API for the tests: the real server on loopback and a webhook receiver.

:class:`ApiServer` runs ``create_app`` under uvicorn in a thread with its own
event loop and its own Helpdesk (its own engine on the same database), like
``helpdesk api serve`` in another process; tests drive it with httpx.
:class:`Receiver` is a webhook endpoint (aiohttp on loopback) whose answers
the test scripts: ``ok``, a status code, ``timeout`` (answers too late) and
``down`` (the port refuses connections) — and that verifies signatures the
way the README tells integrators to.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from aiohttp import web

from tui_helpdesk.api.app import ApiOptions, create_app


class ApiServer:
    def __init__(self, settings, options: ApiOptions | None = None):
        self.settings = settings
        self.options = options or ApiOptions(webhook_poll=0.1)
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ApiServer":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(self.settings, options=self.options), log_level="warning",
                                lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=20)

    async def astop(self) -> None:
        """Stop from inside a running event loop without blocking it."""
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.thread.join, 20)

    def __enter__(self) -> "ApiServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def verify(secret: str, headers, body: bytes, *, window: int = 300, now: float | None = None) -> bool:
    """The README's verification recipe: HMAC-SHA256 over "<timestamp>.<raw body>", within the replay window."""
    stamp = headers.get("X-Helpdesk-Timestamp", "")
    if not stamp.isdigit() or abs((now or time.time()) - int(stamp)) > window:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    given = [p.split("=", 1)[1] for p in headers.get("X-Helpdesk-Signature", "").split(",") if p.startswith("v1=")]
    return any(hmac.compare_digest(expected, g) for g in given)


@dataclass
class Call:
    headers: dict
    body: bytes
    answer: str | int

    @property
    def delivery(self) -> str:
        return self.headers["X-Helpdesk-Delivery"]

    @property
    def event(self) -> str:
        return self.headers["X-Helpdesk-Event"]

    def json(self):
        import json

        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook endpoint. ``script`` is consumed one answer per request, then ``default`` answers."""

    script: list = field(default_factory=list)
    default: str | int = "ok"
    retry_after: str | None = None
    slow_seconds: float = 2.0
    calls: list[Call] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        answer = self.script.pop(0) if self.script else self.default
        body = await request.read()
        self.calls.append(Call(dict(request.headers), body, answer))
        if answer == "timeout":
            await asyncio.sleep(self.slow_seconds)
            return web.Response(status=200)
        if answer == "ok":
            return web.json_response({"ok": True})
        headers = {"Retry-After": self.retry_after} if answer == 429 and self.retry_after else {}
        return web.Response(status=int(answer), text="nope", headers=headers)

    async def start(self) -> "Receiver":
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        """Down: the port refuses connections until :meth:`start` again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def delivered(self) -> list[Call]:
        """The calls answered with a 2xx."""
        return [c for c in self.calls if c.answer == "ok"]
