"""The chatbot platform: its HTTP client, its data types and a simulator of it.

``ChatbotClient`` (``.client``) talks to the platform described in
docs/chatbot-api.md and returns the cleaned, typed values of ``.model``;
failures are the ``ChatbotError`` family of ``.errors``. The simulator
(``.sim``, which needs aiohttp) is imported on its own.
"""

from .client import ChatbotClient, RetryPolicy
from .errors import (
    BadResponse,
    ChatbotError,
    InvalidCursor,
    NotFound,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
)
from .model import (
    ChatMessage,
    ChatUser,
    Conversation,
    ConversationState,
    LastMessage,
    MessageRole,
    PlatformHealth,
    RateLimitInfo,
)

__all__ = [
    "BadResponse",
    "ChatMessage",
    "ChatUser",
    "ChatbotClient",
    "ChatbotError",
    "Conversation",
    "ConversationState",
    "InvalidCursor",
    "LastMessage",
    "MessageRole",
    "NotFound",
    "PlatformHealth",
    "RateLimitInfo",
    "RateLimited",
    "Rejected",
    "RetryPolicy",
    "Unauthorized",
    "Unavailable",
]
