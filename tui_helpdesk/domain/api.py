"""The public API's records and rules, without I/O: tokens, scopes, idempotency, webhook events.

Tokens look like ``hd_<prefix>_<secret>``: the prefix (public, random) finds
the stored row, the whole token's SHA-256 is compared in constant time.
Webhook event names are the ones integrators subscribe to; internal notes
have no event and never leave the help desk.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from .errors import UsageError

SCOPES = ("read", "write")
TOKEN_PREFIX = "hd"

# Webhook events, by name.
TICKET_CREATED = "ticket.created"
STATUS_CHANGED = "ticket.status_changed"
ASSIGNEE_CHANGED = "ticket.assignee_changed"
CUSTOMER_MESSAGE = "ticket.customer_message"
AGENT_REPLY = "ticket.agent_reply"
EVENTS = (TICKET_CREATED, STATUS_CHANGED, ASSIGNEE_CHANGED, CUSTOMER_MESSAGE, AGENT_REPLY)

# How long a receiver should accept a signed timestamp (documented in the README).
REPLAY_WINDOW_SECONDS = 300
# How long a stored idempotent result is replayed.
IDEMPOTENCY_HOURS = 24
MAX_IDEMPOTENCY_KEY = 255


def parse_scopes(text: str) -> tuple[str, ...]:
    """``read`` or ``write`` (which includes read), or a comma list of them."""
    wanted = {s.strip().lower() for s in text.split(",") if s.strip()}
    unknown = wanted - set(SCOPES)
    if not wanted or unknown:
        raise UsageError(f"unknown scope {', '.join(sorted(unknown)) or repr(text)} (read, write)")
    if "write" in wanted:
        wanted.add("read")
    return tuple(s for s in SCOPES if s in wanted)


def parse_events(text: str) -> tuple[str, ...]:
    """A comma list of event names, or ``all``; short names (``created``) are accepted."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("name at least one event (or 'all')")
    if names == ["all"] or names == ["*"]:
        return EVENTS
    out = []
    for name in names:
        full = name if name.startswith("ticket.") else f"ticket.{name}"
        if full not in EVENTS:
            raise UsageError(f"unknown event '{name}' (events: {', '.join(EVENTS)}, or all)")
        if full not in out:
            out.append(full)
    return tuple(e for e in EVENTS if e in out)


def new_token() -> tuple[str, str]:
    """(prefix, token): a fresh token, shown once, and its public prefix."""
    prefix = secrets.token_hex(6)
    return prefix, f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def token_prefix(token: str) -> str | None:
    """The prefix of a well-formed token, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 12 or len(parts[2]) < 20 or len(token) > 200:
        return None
    return parts[1]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over ``timestamp.raw_body``, hex."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def check_url(url: str) -> str:
    from urllib.parse import urlsplit

    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000 or any(c.isspace() for c in url):
        raise UsageError(f"'{url[:80]}' is not an http(s) URL")
    if parts.username or parts.password:
        raise UsageError("put no credentials in a webhook URL; verify the signature instead")
    return url


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    desk_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    token_hash: str = field(default="", repr=False)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    id: int
    desk_id: int
    key: str
    operation: str
    request_hash: str
    state: str  # running | done
    ticket_id: int | None
    entry_id: int | None
    status_code: int | None
    response: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    desk_id: int
    url: str
    events: tuple[str, ...]
    description: str
    state: str  # active | paused
    paused_reason: str | None
    failures: int
    created_at: datetime
    secret: str = field(default="", repr=False)  # signs, never shown again, never logged
    previous_secret: str | None = field(default=None, repr=False)
    previous_until: datetime | None = None

    def secrets_at(self, now: datetime) -> list[str]:
        """The secrets that sign now: the current one, and the previous one during a rotation."""
        out = [self.secret]
        if self.previous_secret and self.previous_until and self.previous_until > now:
            out.append(self.previous_secret)
        return out


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    uid: str
    subscription_id: int
    event: str
    ticket_id: int | None
    body: str
    status: str  # pending | sent | failed
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    redelivery_of: int | None = None


@dataclass(frozen=True, slots=True)
class AttemptLog:
    delivery_id: int
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class PostResult:
    """What a subscriber answered to one webhook POST."""

    status: int | None  # None: no answer (timeout, connection refused)
    error: str | None = None
    retry_after: float | None = None  # seconds, from a 429's or 503's Retry-After
    duration_ms: int = 0


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) as seconds from *now* (Unix time)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86_400))
    from email.utils import parsedate_to_datetime

    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at is None:
        return None
    return max(0.0, min(at.timestamp() - now, 86_400.0))
