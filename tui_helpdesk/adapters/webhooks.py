"""HTTP for webhooks: POST a signed body to a subscriber, with httpx.

Redirects are not followed (a subscriber moves by changing its URL), the
answer's body is not read beyond a little for the log, and every failure
of the far side becomes a :class:`~tui_helpdesk.domain.api.PostResult`.
The signing secret is in a header only; it never reaches a log line here.
"""

from __future__ import annotations

import time

from ..domain.api import PostResult, retry_after_seconds
from ..domain.text import one_line

USER_AGENT = "tui-helpdesk-webhooks/1"


class HttpPoster:
    def __init__(self, *, timeout: float = 10.0, connections: int = 8):
        import httpx  # here: a command that only queues a webhook never pays for importing it

        self._httpx = httpx
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers={"User-Agent": USER_AGENT},
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        start = time.monotonic()
        try:
            response = await self._client.post(url, content=body,
                                               headers={"Content-Type": "application/json", **headers})
        except self._httpx.TimeoutException:
            return PostResult(None, f"no answer within {self.timeout:g} s", duration_ms=_ms(start))
        except self._httpx.HTTPError as exc:
            return PostResult(None, one_line(f"{type(exc).__name__}: {exc}", 300) or type(exc).__name__,
                              duration_ms=_ms(start))
        error = None
        if not 200 <= response.status_code < 300:
            error = one_line(f"HTTP {response.status_code} {response.reason_phrase} {response.text[:200]}", 300)
        return PostResult(response.status_code, error,
                          retry_after_seconds(response.headers.get("retry-after"), time.time()), _ms(start))

    async def aclose(self) -> None:
        await self._client.aclose()


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
