"""The :class:`~tui_helpdesk.services.ports.Assistant` on any OpenAI-compatible endpoint.

Streams chat completions with the ``openai`` package (imported on the first
call, never at start-up). Every failure becomes one
:class:`~tui_helpdesk.domain.ai.AIError` with a line the agent can act on; a
429 is retried once after its Retry-After when that wait is short. The key is
read from the environment or ``api_key_command`` when the client is built and
lives only in this object's memory.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import AsyncIterator

from ...domain.ai import (
    AIAuthFailed,
    AIBadResponse,
    AIDisabled,
    AIError,
    AIModelNotFound,
    AIRateLimited,
    AIStreamBroken,
    AITimeout,
    AIUnavailable,
)
from ...settings import AISettings

# Local servers (llama.cpp, Ollama) take any key; the SDK insists on one.
NO_KEY = "none"


class OpenAIAssistant:
    """One endpoint, one ``AsyncOpenAI`` client (built on first use)."""

    def __init__(self, settings: AISettings, *, api_key: str | None = None) -> None:
        self.settings = settings
        self._api_key = api_key
        self._client = None

    async def _get_client(self):
        if self._client is None and self.settings.active:
            # The SDK takes a second or more to import, and api_key_command may take a while:
            # both in a thread, so the app's loop keeps drawing.
            await asyncio.to_thread(importlib.import_module, "openai")
            if self._api_key is None:
                self._api_key = await asyncio.to_thread(self.settings.api_key.get) or ""
        return self._build_client()

    def _build_client(self):
        if not self.settings.enabled:
            raise AIDisabled("AI is turned off ([ai] enabled = false)")
        if not self.settings.base_url:
            raise AIDisabled("no AI endpoint is configured ([ai] base_url)")
        if self._client is None:
            from openai import AsyncOpenAI

            key = self._api_key if self._api_key is not None else self.settings.api_key.get()  # "": none
            s = self.settings
            self._client = AsyncOpenAI(
                base_url=s.base_url, api_key=key or NO_KEY, max_retries=0,
                # One number: the SDK's own HTTP layer takes no other type; the first-token
                # and between-chunk limits are kept here, in :meth:`stream`.
                timeout=max(s.connect_timeout, s.read_timeout, s.first_token_timeout),
            )
        return self._client

    async def stream(
        self, messages: list[dict], *, model: str | None = None, temperature: float | None = None,
        max_tokens: int | None = None, usage: dict | None = None,
    ) -> AsyncIterator[str]:
        """Yield the answer's text as it streams; fill *usage* (tokens, model, ms) when given."""
        client = await self._get_client()
        model = model or self.settings.model
        if not model:
            raise AIModelNotFound("no AI model is configured ([ai] model)")
        started = time.monotonic()
        stream = await self._open(client, messages, model, temperature, max_tokens)
        finished = False
        try:
            iterator = stream.__aiter__()
            wait = self.settings.first_token_timeout
            while True:
                try:
                    async with asyncio.timeout(wait):
                        chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise AITimeout(f"the AI endpoint stopped answering (no data for {wait:g} s)") from None
                wait = self.settings.read_timeout
                if getattr(chunk, "usage", None) is not None and usage is not None:
                    usage["prompt_tokens"] = chunk.usage.prompt_tokens or 0
                    usage["completion_tokens"] = chunk.usage.completion_tokens or 0
                for choice in getattr(chunk, "choices", None) or ():
                    text = getattr(choice.delta, "content", None) if choice.delta else None
                    if text:
                        yield text
                    if choice.finish_reason:
                        finished = True
        except AIError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to one line; never a traceback in the UI
            raise _mapped(exc, midstream=True) from None
        finally:
            if usage is not None:
                usage["model"] = model
                usage["ms"] = int((time.monotonic() - started) * 1000)
            await stream.close()
        if not finished:
            raise AIStreamBroken("the AI answer was cut off midway; try again")

    async def _open(self, client, messages, model, temperature, max_tokens):
        kwargs: dict = {"model": model, "messages": messages, "stream": True,
                        "stream_options": {"include_usage": True}}
        if temperature is not None:
            kwargs["temperature"] = temperature
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(self.settings.connect_timeout + self.settings.first_token_timeout):
                    return await client.chat.completions.create(**kwargs)
            except TimeoutError:
                raise AITimeout("the AI endpoint did not answer in time") from None
            except Exception as exc:  # noqa: BLE001
                error = _mapped(exc, model=model)
                if (attempt == 1 and isinstance(error, AIRateLimited) and error.retry_after is not None
                        and error.retry_after <= self.settings.max_retry_wait):
                    await asyncio.sleep(error.retry_after)
                    continue
                raise error from None
        raise AssertionError("unreachable")

    async def models(self) -> list[str]:
        """The endpoint's model ids (``GET /models``)."""
        client = await self._get_client()
        try:
            page = await client.models.list()
        except Exception as exc:  # noqa: BLE001
            raise _mapped(exc) from None
        return [m.id for m in page.data]

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _retry_after(headers) -> float | None:
    value = (headers or {}).get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _mapped(exc: Exception, *, model: str = "", midstream: bool = False) -> AIError:
    """Any failure of the SDK or the wire as one clear :class:`AIError`."""
    import openai

    if isinstance(exc, AIError):
        return exc
    if midstream and isinstance(exc, openai.APIConnectionError):
        return AIStreamBroken("the AI answer was cut off midway; try again")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return AIAuthFailed(f"the AI endpoint refused the API key ({exc.status_code}); check [ai] api_key_env")
    if isinstance(exc, openai.NotFoundError):
        return AIModelNotFound(f"the AI endpoint has no model {model!r} (404); check [ai] model")
    if isinstance(exc, openai.RateLimitError):
        wait = _retry_after(exc.response.headers)
        hint = f"; try again in {wait:g} s" if wait is not None else "; try again later"
        return AIRateLimited(f"the AI endpoint is rate limiting requests (429){hint}", wait)
    if isinstance(exc, openai.APITimeoutError):
        return AITimeout("the AI endpoint did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return AIUnavailable("cannot reach the AI endpoint; check [ai] base_url")
    if isinstance(exc, openai.APIStatusError):
        return AIUnavailable(f"the AI endpoint failed ({exc.status_code})")
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError | ValueError | TypeError
                  | AttributeError | KeyError):
        return AIBadResponse("the AI endpoint sent an answer that is not valid (garbled JSON)")
    if isinstance(exc, openai.APIError) or type(exc).__module__.split(".")[0].startswith(("httpx", "httpcore", "h11")):
        # The connection dropped while the answer streamed.
        return AIStreamBroken("the AI answer was cut off midway; try again")
    return AIBadResponse(f"the AI endpoint's answer could not be read ({type(exc).__name__})")
