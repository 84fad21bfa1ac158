"""A desk's shared settings as a document, checked field by field (SPEC §1, §5, §6).

The document is what the ``desk_settings`` table holds, what ``helpdesk desk
export`` writes and ``desk apply`` reads (the TOML ``[[desks]]`` shape of the
config file), and what the settings screens edit. Pure: no I/O.

It never holds a secret or a command: every member of the group can write a
shared SQLite file, so a stored ``password_command`` would run as whoever read
it. :func:`parse_desk` refuses such keys with a clear message.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from .assignment import WEEKDAYS, Method, Shift, parse_shift
from .errors import ConfigError, UsageError

SECURITIES = ("tls", "starttls", "none")
# Keys that name a secret or a command: refused in the shared document.
_SECRET = re.compile(r"(password|api_key|secret|token)(_env|_command)?$|_command$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")


class SettingsInvalid(UsageError):
    """Some fields are wrong; *errors* maps a field path to its message. Nothing was saved."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        first = next(iter(self.errors.items()))
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"{first[0]}: {first[1]}{more}")


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """Where an address's mail is read (IMAP) or sent (SMTP); the password stays local."""

    host: str = ""
    port: int = 0
    username: str = ""
    security: str = "tls"


@dataclass(frozen=True, slots=True)
class EmailConfig:
    address: str
    display_name: str = "auto"  # "auto" = the replying agent's name
    signature: str = ""
    acknowledge: str = ""
    mailbox: str = "INBOX"
    processed_folder: str = ""
    poll_seconds: int = 60
    imap: AccountConfig = field(default_factory=AccountConfig)
    smtp: AccountConfig = field(default_factory=AccountConfig)
    # A mailbox's mail from before its first sync: "import" as quiet history, or "skip";
    # history_days > 0 keeps only that many recent days of it.
    history: str = "import"
    history_days: int = 0


@dataclass(frozen=True, slots=True)
class ShiftConfig:
    """A named weekly shift: time zone and ``weekday → "HH:MM-HH:MM"`` (end ≤ start runs overnight)."""

    name: str
    timezone: str = "UTC"
    hours: tuple[tuple[str, str], ...] = ()

    def shift(self) -> Shift:
        return parse_shift(self.name, self.timezone, dict(self.hours))


@dataclass(frozen=True, slots=True)
class DeskConfig:
    slug: str
    name: str
    enabled: bool = True
    reopen_days: int = 7
    assignment: str = "manual"
    next_shift_fallback: bool = False
    shifts: tuple[ShiftConfig, ...] = ()
    emails: tuple[EmailConfig, ...] = ()
    translation: bool = False
    team_language: str = "en"
    chatbot_url: str = ""
    chatbot_poll_seconds: float = 3.0

    def shift_map(self) -> dict[str, Shift]:
        return {s.name: s.shift() for s in self.shifts}


@dataclass(frozen=True, slots=True)
class AgentSchedule:
    """The per-agent part of scheduling and assignment: shift, cap, time off."""

    login: str
    shift: str | None = None
    max_open: int = 0
    time_off: tuple[tuple[date, date], ...] = ()


# ------------------------------------------------------------------ parsing


def _int(errors, path, value, low, high) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors[path] = f"must be a whole number from {low} to {high}"
        return low
    try:
        number = int(str(value).strip())
    except ValueError:
        errors[path] = f"must be a whole number from {low} to {high}, not {value!r}"
        return low
    if not low <= number <= high:
        errors[path] = f"must be from {low} to {high}, not {number}"
    return number


def _bool(errors, path, value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "on", "yes", "1", "false", "off", "no", "0"):
        return value.strip().lower() in ("true", "on", "yes", "1")
    errors[path] = f"must be true or false, not {value!r}"
    return False


def _text(errors, path, value, limit, *, one_line=True) -> str:
    if not isinstance(value, str):
        errors[path] = "must be text"
        return ""
    if one_line and ("\n" in value or "\r" in value):
        errors[path] = "must be one line"
    if len(value) > limit:
        errors[path] = f"is too long ({len(value)} characters, at most {limit})"
    return value.strip() if one_line else value


def _secrets(doc: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            where = f"{path}.{key}" if path else str(key)
            if _SECRET.search(str(key)):
                found.append(where)
            else:
                found.extend(_secrets(value, where))
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            found.extend(_secrets(item, f"{path}[{i}]"))
    return found


def span_minutes(span: str) -> tuple[int, int]:
    """``"22:00-06:00"`` → (start, end) in minutes from the day's start; end > start (overnight adds a day)."""
    start_s, _, end_s = span.partition("-")
    start_s, end_s = start_s.strip(), end_s.strip()
    if not (_HHMM.match(start_s) and _HHMM.match(end_s)):
        raise ValueError(f"must be HH:MM-HH:MM, not {span!r}")
    start = int(start_s[:2]) * 60 + int(start_s[3:])
    end = int(end_s[:2]) * 60 + int(end_s[3:])
    if end <= start:
        end += 24 * 60
    return start, end


def _shift(errors, path, doc) -> ShiftConfig | None:
    if not isinstance(doc, dict):
        errors[path] = "must be a table with name, timezone and hours"
        return None
    name = _text(errors, f"{path}.name", doc.get("name", ""), 100)
    if not name:
        errors[f"{path}.name"] = "a shift needs a name"
    tz = _text(errors, f"{path}.timezone", doc.get("timezone", "UTC"), 64)
    hours_doc = doc.get("hours", {})
    if not isinstance(hours_doc, dict):
        errors[f"{path}.hours"] = "must map weekdays to HH:MM-HH:MM"
        hours_doc = {}
    hours: list[tuple[str, str]] = []
    week: list[tuple[int, int, str]] = []
    for day, span in hours_doc.items():
        key = str(day).strip().lower()[:3]
        where = f"{path}.hours.{day}"
        if key not in WEEKDAYS or len(str(day).strip()) < 3:
            errors[where] = f"unknown weekday {day!r} (mon..sun)"
            continue
        if not isinstance(span, str):
            errors[where] = "must be HH:MM-HH:MM"
            continue
        try:
            start, end = span_minutes(span)
        except ValueError as exc:
            errors[where] = str(exc)
            continue
        span = span.replace(" ", "")
        hours.append((key, span))
        offset = WEEKDAYS.index(key) * 1440
        week.append((offset + start, offset + end, key))
    # One shift's days may not overlap (an overnight Monday running into Tuesday's start).
    week.sort()
    total = 7 * 1440
    for i, (start, end, day) in enumerate(week):
        nxt_start, _, nxt_day = week[(i + 1) % len(week)]
        if len(week) > 1 and i + 1 == len(week):
            nxt_start += total  # the week wraps: Sunday night into Monday
        if len(week) > 1 and end > nxt_start:
            errors[f"{path}.hours.{day}"] = f"overlaps {nxt_day}"
    if name and f"{path}.timezone" not in errors:
        try:
            parse_shift(name, tz, {})
        except ConfigError:
            errors[f"{path}.timezone"] = f"unknown time zone {tz!r} (like Europe/Lisbon or UTC)"
    order = {d: i for i, d in enumerate(WEEKDAYS)}
    return ShiftConfig(name, tz, tuple(sorted(hours, key=lambda h: order[h[0]])))


def _account(errors, path, doc) -> AccountConfig:
    if not isinstance(doc, dict):
        errors[path] = "must be a table"
        return AccountConfig()
    security = doc.get("security", "tls")
    if security not in SECURITIES:
        errors[f"{path}.security"] = f"must be one of {', '.join(SECURITIES)}, not {security!r}"
    return AccountConfig(
        host=_text(errors, f"{path}.host", doc.get("host", ""), 255),
        port=_int(errors, f"{path}.port", doc.get("port", 0), 0, 65535),
        username=_text(errors, f"{path}.username", doc.get("username", ""), 320),
        security=security if security in SECURITIES else "tls",
    )


def _email(errors, path, doc) -> EmailConfig | None:
    if not isinstance(doc, dict):
        errors[path] = "must be a table"
        return None
    address = _text(errors, f"{path}.address", doc.get("address", ""), 320).lower()
    if not _ADDRESS.match(address):
        errors[f"{path}.address"] = f"{address!r} is not an email address"
    display = _text(errors, f"{path}.display_name", doc.get("display_name", "auto"), 200) or "auto"
    return EmailConfig(
        address=address, display_name=display,
        signature=_text(errors, f"{path}.signature", doc.get("signature", ""), 4000, one_line=False),
        acknowledge=_text(errors, f"{path}.acknowledge", doc.get("acknowledge", ""), 4000, one_line=False),
        mailbox=_text(errors, f"{path}.mailbox", doc.get("mailbox", "INBOX"), 200) or "INBOX",
        processed_folder=_text(errors, f"{path}.processed_folder", doc.get("processed_folder", ""), 200),
        poll_seconds=_int(errors, f"{path}.poll_seconds", doc.get("poll_seconds", 60), 5, 86400),
        imap=_account(errors, f"{path}.imap", doc.get("imap", {})),
        smtp=_account(errors, f"{path}.smtp", doc.get("smtp", {})),
        history=_history(errors, f"{path}.history", doc.get("history", "import")),
        history_days=_int(errors, f"{path}.history_days", doc.get("history_days", 0), 0, 36500),
    )


def _history(errors, path, value) -> str:
    if value not in ("import", "skip"):
        errors[path] = f'must be "import" or "skip", not {value!r}'
        return "import"
    return value


def parse_desk(doc: dict) -> DeskConfig:
    """A TOML-shaped desk document → :class:`DeskConfig`, or :class:`SettingsInvalid` naming every bad field."""
    errors: dict[str, str] = {}
    if not isinstance(doc, dict):
        raise SettingsInvalid({"desk": "must be a table"})
    for where in _secrets(doc):
        errors[where] = ("secrets and commands are not kept in the shared settings; "
                         "put them in your own config file or environment")
    slug = str(doc.get("slug", "")).strip().lower()
    if not _SLUG.match(slug):
        errors["slug"] = f"{slug!r} is not a desk slug (lower-case letters, digits, - and _)"
    name = _text(errors, "name", doc.get("name", slug), 200)
    if not name and "name" not in errors:
        errors["name"] = "a desk needs a name"
    assignment = doc.get("assignment", {}) or {}
    method = assignment.get("method", "manual") if isinstance(assignment, dict) else None
    try:
        method = Method(method).value
    except ValueError:
        errors["assignment.method"] = f"must be manual, balanced or round_robin, not {method!r}"
        method = "manual"
    scheduling = doc.get("scheduling", {}) or {}
    shifts = []
    for i, sh in enumerate(scheduling.get("shifts", []) if isinstance(scheduling, dict) else []):
        parsed = _shift(errors, f"scheduling.shifts[{i}]", sh)
        if parsed is None:
            continue
        if parsed.name and parsed.name in {s.name for s in shifts}:
            errors[f"scheduling.shifts[{i}].name"] = f"there is already a shift named {parsed.name!r}"
        shifts.append(parsed)
    emails = []
    for i, e in enumerate(doc.get("email", []) or []):
        parsed = _email(errors, f"email[{i}]", e)
        if parsed is None:
            continue
        if parsed.address and parsed.address in {x.address for x in emails}:
            errors[f"email[{i}].address"] = f"{parsed.address} is listed twice"
        emails.append(parsed)
    translation = doc.get("translation", {}) or {}
    language = str(translation.get("language", "en")).strip()
    if not _LANG.match(language):
        errors["translation.language"] = f"{language!r} is not a language code (like en, pt or pt-BR)"
    chatbot = doc.get("chatbot", {}) or {}
    url = _text(errors, "chatbot.base_url", chatbot.get("base_url", ""), 2000)
    if url and not re.match(r"^https?://[^\s/]+", url):
        errors["chatbot.base_url"] = f"must be an http:// or https:// URL, not {url!r}"
    poll = chatbot.get("poll_seconds", 3.0)
    if isinstance(poll, bool) or not isinstance(poll, (int, float)) or not 0.2 <= poll <= 3600:
        errors["chatbot.poll_seconds"] = f"must be a number of seconds from 0.2 to 3600, not {poll!r}"
        poll = 3.0
    config = DeskConfig(
        slug=slug, name=name,
        enabled=_bool(errors, "enabled", doc.get("enabled", True)),
        reopen_days=_int(errors, "reopen_days", doc.get("reopen_days", 7), 0, 3650),
        assignment=method,
        next_shift_fallback=_bool(errors, "assignment.next_shift_fallback",
                                  assignment.get("next_shift_fallback", False) if isinstance(assignment, dict) else False),
        shifts=tuple(shifts), emails=tuple(emails),
        translation=_bool(errors, "translation.enabled", translation.get("enabled", False)),
        team_language=language, chatbot_url=url.rstrip("/") if url else "", chatbot_poll_seconds=float(poll),
    )
    if errors:
        raise SettingsInvalid(errors)
    return config


def desk_doc(config: DeskConfig) -> dict:
    """:class:`DeskConfig` → the TOML-shaped document (the inverse of :func:`parse_desk`)."""
    return {
        "slug": config.slug, "name": config.name, "enabled": config.enabled, "reopen_days": config.reopen_days,
        "assignment": {"method": config.assignment, "next_shift_fallback": config.next_shift_fallback},
        "scheduling": {"shifts": [{"name": s.name, "timezone": s.timezone, "hours": dict(s.hours)}
                                  for s in config.shifts]},
        "email": [
            {"address": e.address, "display_name": e.display_name, "signature": e.signature,
             "acknowledge": e.acknowledge, "mailbox": e.mailbox, "processed_folder": e.processed_folder,
             "poll_seconds": e.poll_seconds, "imap": asdict(e.imap), "smtp": asdict(e.smtp),
             "history": e.history, "history_days": e.history_days}
            for e in config.emails
        ],
        "translation": {"enabled": config.translation, "language": config.team_language},
        "chatbot": {"base_url": config.chatbot_url, "poll_seconds": config.chatbot_poll_seconds},
    }


# ------------------------------------------------------------------ agents


def parse_range(text: str) -> tuple[date, date]:
    """``2026-12-24..2026-12-31`` (inclusive) → (start, end); one date is a one-day range."""
    start_s, _, end_s = str(text).strip().partition("..")
    try:
        start = date.fromisoformat(start_s.strip())
        end = date.fromisoformat(end_s.strip()) if end_s else start
    except ValueError:
        raise UsageError(f"time off must be YYYY-MM-DD..YYYY-MM-DD, not {text!r}") from None
    if end < start:
        raise UsageError(f"time off {text!r} ends before it starts")
    return start, end


def parse_agents(docs: list, shift_names: set[str]) -> list[AgentSchedule]:
    """``[[agents]]`` of an exported file → schedules; every bad field is named."""
    errors: dict[str, str] = {}
    out = []
    seen: set[str] = set()
    for i, doc in enumerate(docs or []):
        path = f"agents[{i}]"
        if not isinstance(doc, dict):
            errors[path] = "must be a table"
            continue
        login = str(doc.get("login", "")).strip()
        if not login:
            errors[f"{path}.login"] = "needs a login"
        elif login.lower() in seen:
            errors[f"{path}.login"] = f"{login} is listed twice"
        seen.add(login.lower())
        shift = doc.get("shift") or None
        if shift is not None and shift not in shift_names:
            errors[f"{path}.shift"] = f"no shift named {shift!r}"
        cap = _int(errors, f"{path}.max_open", doc.get("max_open", 0), 0, 100000)
        ranges = []
        for j, text in enumerate(doc.get("time_off", []) or []):
            try:
                ranges.append(parse_range(text))
            except UsageError as exc:
                errors[f"{path}.time_off[{j}]"] = str(exc)
        out.append(AgentSchedule(login, shift, cap, tuple(sorted(ranges))))
    if errors:
        raise SettingsInvalid(errors)
    return out


def agent_doc(schedule: AgentSchedule) -> dict:
    doc: dict = {"login": schedule.login, "max_open": schedule.max_open}
    if schedule.shift:
        doc["shift"] = schedule.shift
    doc["time_off"] = [f"{a.isoformat()}..{b.isoformat()}" for a, b in schedule.time_off]
    return doc


# ------------------------------------------------------------------ diffs


def flatten(doc: Any, path: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists of tables are keyed by name/address/login when they have one."""
    out: dict[str, Any] = {}
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.update(flatten(value, f"{path}.{key}" if path else str(key)))
    elif isinstance(doc, list) and doc and all(isinstance(x, dict) for x in doc):
        for i, item in enumerate(doc):
            label = item.get("name") or item.get("address") or item.get("login") or str(i)
            out.update(flatten(item, f"{path}[{label}]"))
    else:
        out[path] = doc
    return out


def diff(old: Any, new: Any) -> list[str]:
    """One line per changed field: ``assignment.method: manual → balanced``."""
    a, b = flatten(old), flatten(new)
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, _MISSING) != b.get(key, _MISSING):
            lines.append(f"{key}: {_show(a.get(key, _MISSING))} → {_show(b.get(key, _MISSING))}")
    return lines


class _Missing:
    def __repr__(self) -> str:
        return "(none)"


_MISSING = _Missing()


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(none)"
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 60 else text[:57] + "…"
