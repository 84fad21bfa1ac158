"""The ASGI layer around every request: request ids, the body size limit, the content type, rate headers.

Plain ASGI (no per-request objects beyond a dict) because it runs on every
call: the body is read here up to :data:`MAX_BODY_BYTES` and handed on, so
an oversized or chunked-forever body is refused with 413 before any JSON
parsing; a body that is not ``application/json`` is 415.
"""

from __future__ import annotations

import json
import secrets

MAX_BODY_BYTES = 1_048_576  # 1 MiB, stated in the README and the OpenAPI description


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _request_id(given: str | None) -> str:
    if given and len(given) <= 128 and given.isascii() and given.isprintable() and " " not in given:
        return given
    return secrets.token_hex(16)  # as random as a uuid4's hex, without building a UUID per request


class ApiMiddleware:
    def __init__(self, app, max_body: int = MAX_BODY_BYTES):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = _request_id(_header(scope, b"x-request-id"))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                for name, value in (state.get("rate_headers") or {}).items():
                    headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = _header(scope, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                return await _error(send_with_headers, 413, "PAYLOAD_TOO_LARGE",
                                    f"the body is larger than {self.max_body:,} bytes")
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    return await _error(send_with_headers, 413, "PAYLOAD_TOO_LARGE",
                                        f"the body is larger than {self.max_body:,} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if body and not (ctype == "application/json" or ctype.endswith("+json")):
                return await _error(send_with_headers, 415, "UNSUPPORTED_MEDIA_TYPE",
                                    "send the body as Content-Type: application/json")
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return await self.app(scope, replay, send_with_headers)
        return await self.app(scope, receive, send_with_headers)


async def _error(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
