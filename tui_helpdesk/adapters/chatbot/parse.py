"""Reading the platform's answers: every field checked, every text cleaned.

Each reader checks one field of a JSON object and, when it breaks the
contract, raises :class:`Invalid` saying where; the client turns that into
:class:`~tui_helpdesk.domain.chat.errors.BadResponse`. What comes out are the
frozen values of :mod:`tui_helpdesk.domain.chat.model`, with names, messages
and reasons passed through :func:`~tui_helpdesk.domain.text.clean`.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from tui_helpdesk.domain.chat.model import (
    ChatMessage,
    ChatUser,
    Conversation,
    ConversationState,
    LastMessage,
    MessageRole,
    PlatformHealth,
)
from tui_helpdesk.domain.text import clean, one_line

_MAX_ID_LEN = 200
_MAX_CURSOR_LEN = 2048
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


class Invalid(Exception):
    """A field of an answer broke the contract; becomes :class:`BadResponse`."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")


# Whole answers, as the client's calls receive them.


def parse_page(env: Any, cursor: str | None) -> tuple[list[Conversation], str | None, bool]:
    """A page of the change feed: (conversations, next cursor, has more); *cursor* was sent."""
    items = _list(env, "data", "$")
    convs = [_parse_conversation(_as_obj(item, f"data[{i}]"), f"data[{i}]") for i, item in enumerate(items)]
    page = _obj(env, "pagination", "$")
    has_more = _bool(page, "hasMore", "pagination")
    next_cursor = _opt_str(page, "cursor", "pagination")
    if next_cursor is None:
        if has_more:
            raise Invalid("pagination.cursor", "missing while hasMore is true")
        next_cursor = cursor
    elif not next_cursor or len(next_cursor) > _MAX_CURSOR_LEN or one_line(next_cursor) != next_cursor:
        raise Invalid("pagination.cursor", "not a valid cursor")
    return convs, next_cursor, has_more


def parse_conversation_of(data: Any, conversation_id: str, *, with_messages: bool = False) -> Conversation:
    """The conversation a call about *conversation_id* answered with (it must be that one)."""
    conv = _parse_conversation(_as_obj(data, "data"), "data", with_messages=with_messages)
    if conv.id != conversation_id:
        raise Invalid("data.id", "is not the conversation asked for")
    return conv


def parse_reply(data: Any) -> ChatMessage:
    return _parse_message(_as_obj(data, "data"), "data")


# Field readers: each checks one field of a JSON object and says where it broke.


def _as_obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(where, f"expected an object, got {_kind(value)}")
    return value


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise Invalid(f"{where}.{key}", "missing")
    return obj[key]


def _obj(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    return _as_obj(_field(obj, key, where), f"{where}.{key}")


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = _field(obj, key, where)
    if not isinstance(value, list):
        raise Invalid(f"{where}.{key}", f"expected a list, got {_kind(value)}")
    return value


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise Invalid(f"{where}.{key}", f"expected a string, got {_kind(value)}")
    return value


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{where}.{key}", f"expected a string or null, got {_kind(value)}")
    return value


def _bool(obj: dict[str, Any], key: str, where: str) -> bool:
    value = _field(obj, key, where)
    if not isinstance(value, bool):
        raise Invalid(f"{where}.{key}", f"expected true or false, got {_kind(value)}")
    return value


def _ident(obj: dict[str, Any], key: str, where: str) -> str:
    value = _str(obj, key, where)
    if not value or len(value) > _MAX_ID_LEN or one_line(value) != value:
        raise Invalid(f"{where}.{key}", "not a valid identifier")
    return value


def _time(obj: dict[str, Any], key: str, where: str) -> datetime:
    value = _field(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"{where}.{key}", f"expected Unix seconds, got {_kind(value)}")
    if not math.isfinite(value) or not 0 <= value <= MAX_TIMESTAMP:
        raise Invalid(f"{where}.{key}", "timestamp out of range")
    return datetime.fromtimestamp(value, tz=timezone.utc)


def _enum(obj: dict[str, Any], key: str, where: str, enum_type: type) -> Any:
    value = _str(obj, key, where)
    try:
        return enum_type(value)
    except ValueError:
        raise Invalid(f"{where}.{key}", f"unknown value {one_line(value, 40)!r}") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_health(data: Any) -> PlatformHealth:
    d = _as_obj(data, "data")
    version = _opt_str(d, "version", "data")
    return PlatformHealth(status=one_line(_str(d, "status", "data"), 40),
                          version=one_line(version, 40) if version is not None else None)


def _parse_user(d: dict[str, Any], where: str) -> ChatUser:
    email_ = _opt_str(d, "email", where)
    return ChatUser(
        id=_ident(d, "id", where),
        name=one_line(_str(d, "name", where), 200),
        language=one_line(_str(d, "language", where), 35),
        email=(one_line(email_, 320) or None) if email_ is not None else None,
    )


def _parse_message(d: dict[str, Any], where: str) -> ChatMessage:
    author = _opt_str(d, "author_name", where)
    return ChatMessage(
        id=_ident(d, "id", where),
        role=_enum(d, "role", where, MessageRole),
        text=clean(_str(d, "text", where)),
        created_at=_time(d, "created_at", where),
        author_name=(one_line(author, 200) or None) if author is not None else None,
    )


def _parse_last(d: dict[str, Any], where: str) -> LastMessage:
    return LastMessage(
        role=_enum(d, "role", where, MessageRole),
        text=clean(_str(d, "text", where)),
        created_at=_time(d, "created_at", where),
    )


def _parse_conversation(d: dict[str, Any], where: str, *, with_messages: bool = False) -> Conversation:
    reason = _opt_str(d, "escalation_reason", where)
    last = d.get("last_message")
    messages = None
    if with_messages:
        items = _list(d, "messages", where)
        messages = tuple(
            _parse_message(_as_obj(m, f"{where}.messages[{i}]"), f"{where}.messages[{i}]")
            for i, m in enumerate(items)
        )
    return Conversation(
        id=_ident(d, "id", where),
        state=_enum(d, "state", where, ConversationState),
        channel=one_line(_str(d, "channel", where), 40),
        user=_parse_user(_obj(d, "user", where), f"{where}.user"),
        ai_paused=_bool(d, "ai_paused", where),
        created_at=_time(d, "created_at", where),
        updated_at=_time(d, "updated_at", where),
        escalation_reason=clean(reason) if reason is not None else None,
        last_message=_parse_last(_as_obj(last, f"{where}.last_message"), f"{where}.last_message")
        if last is not None
        else None,
        messages=messages,
    )
