"""HTTP for webhooks: POST a signed body to a subscriber, with aiohttp.

aiohttp rather than httpx: the sender runs inside the API server, next to the
requests it answers, and aiohttp's client costs a fraction of httpx's CPU per
request — at hundreds of deliveries a second that is the difference between
delivery keeping up with creation and not.

Redirects are not followed (a subscriber moves by changing its URL), the
answer's body is not read beyond a little for the log, and every failure
of the far side becomes a :class:`~tui_helpdesk.domain.api.PostResult`.
The signing secret is in a header only; it never reaches a log line here.
"""

from __future__ import annotations

import asyncio
import time

from ..domain.api import PostResult, retry_after_seconds
from ..domain.text import one_line

USER_AGENT = "tui-helpdesk-webhooks/1"


class HttpPoster:
    def __init__(self, *, timeout: float = 10.0, connections: int = 8):
        self.timeout = timeout
        self._connections = connections
        self._session = None  # made on the first post, inside the running loop

    def _client(self):
        import aiohttp  # here: a command that only queues a webhook never pays for importing it

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout), trust_env=False,
                connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=self._connections),
                headers={"User-Agent": USER_AGENT}, auto_decompress=False)
        return aiohttp, self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        aiohttp, session = self._client()
        start = time.monotonic()
        try:
            async with session.post(url, data=body, allow_redirects=False,
                                    headers={"Content-Type": "application/json", **headers}) as response:
                status = response.status
                error = None
                if not 200 <= status < 300:
                    sample = (await response.content.read(200)).decode("utf-8", "replace")
                    error = one_line(f"HTTP {status} {response.reason or ''} {sample}", 300)
                retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
        except (asyncio.TimeoutError, TimeoutError):
            return PostResult(None, f"no answer within {self.timeout:g} s", duration_ms=_ms(start))
        except (aiohttp.ClientError, ValueError, OSError) as exc:  # ValueError: a URL aiohttp cannot use
            return PostResult(None, one_line(f"{type(exc).__name__}: {exc}", 300) or type(exc).__name__,
                              duration_ms=_ms(start))
        return PostResult(status, error, retry_after, _ms(start))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
