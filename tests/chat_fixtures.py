"""Shared set-up for the chatbot integration tests: a simulator on loopback and a desk wired to it."""

from __future__ import annotations

from dataclasses import replace

import httpx

from tui_helpdesk.adapters.chatbot import ChatbotClient, RetryPolicy
from tui_helpdesk.adapters.chatbot.sim import Simulator
from tui_helpdesk.bootstrap import Helpdesk, bootstrap
from tui_helpdesk.settings import ChatbotSettings, DeskSettings, Secret, Settings

KEY = "hd_chat_test_key"
# Retries quick enough for tests: two attempts, milliseconds apart.
FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, max_retry_after=0.5)

PAYLOADS = (
    "\x1b]52;c;Y3VybCBldmlsfHNo\x1b\\",
    "\x1b]0;PWNED\x1b\\",
    "\u009b2J",
    "ok\rFAKE",
    "invoice\u202efdp.exe",
    "[@click=app.quit]x[/]",
    "[/]",
)
FORBIDDEN = ("\x1b", "\x07", "\x9b", "\u202e", "\r", "\x9c")


def chat_settings(db_url: str, base_url: str, *, assignment: str = "manual", poll: float = 0.05) -> Settings:
    desk = DeskSettings(
        assignment=assignment,
        chatbot=ChatbotSettings(base_url=base_url, api_key=Secret(value=KEY, label="chatbot api key"), poll_seconds=poll),
    )
    return Settings(database_url=db_url, desks=(desk,))


def fast_client(transport: httpx.AsyncBaseTransport | None = None):
    def make(desk: DeskSettings, key: str) -> ChatbotClient:
        return ChatbotClient(desk.chatbot.base_url, key, timeout=2, retry=FAST, transport=transport)
    return make


async def open_desk(db_url: str, sim: Simulator, clock, *, assignment: str = "manual",
                    transport: httpx.AsyncBaseTransport | None = None, poll: float = 0.05) -> Helpdesk:
    hd = await bootstrap(chat_settings(db_url, sim.base_url, assignment=assignment, poll=poll), clock=clock)
    hd.conversations.chat_platform_factory = fast_client(transport)
    return hd


class FailPaths(httpx.AsyncBaseTransport):
    """Real HTTP, except that requests whose path ends with one of *suffixes* never connect."""

    def __init__(self, *suffixes: str) -> None:
        self.suffixes = set(suffixes)
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if any(request.url.path.endswith(s) for s in self.suffixes):
            raise httpx.ConnectError("cut by the test", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def without_chatbot(settings: Settings) -> Settings:
    return replace(settings, desks=tuple(replace(d, chatbot=ChatbotSettings()) for d in settings.desks))
