"""The simulator's memory: its conversations and their messages, as the API shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...domain.chat.model import ConversationState as State
from ...domain.chat.model import MessageRole as Role
from . import sim_script as script


@dataclass
class SimMessage:
    id: str
    role: Role
    text: str
    created_at: float
    author_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "role": self.role.value,
            "text": self.text,
            "created_at": self.created_at,
        }
        if self.author_name is not None:
            out["author_name"] = self.author_name
        return out


@dataclass
class SimConversation:
    id: str
    channel: str
    user_id: str
    name: str
    email: str | None
    language: str
    created_at: float
    updated_at: float
    seq: int = 0
    state: State = State.ONGOING
    ai_paused: bool = False
    escalation_reason: str | None = None
    messages: list[SimMessage] = field(default_factory=list)
    topic: script.Topic | None = None
    order: str = ""
    turns: int = 0  # customer messages so far
    awaiting_bot: bool = False  # a customer message the bot has not answered
    replies: dict[str, tuple[str, str, SimMessage]] = field(default_factory=dict)

    def to_json(self, *, with_messages: bool = False) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "name": self.name, "language": self.language}
        if self.email is not None:
            user["email"] = self.email
        last = self.messages[-1] if self.messages else None
        out: dict[str, Any] = {
            "id": self.id,
            "state": self.state.value,
            "channel": self.channel,
            "user": user,
            "ai_paused": self.ai_paused,
            "escalation_reason": self.escalation_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_message": {"role": last.role.value, "text": last.text, "created_at": last.created_at}
            if last
            else None,
        }
        if with_messages:
            out["messages"] = [m.to_json() for m in self.messages]
        return out
