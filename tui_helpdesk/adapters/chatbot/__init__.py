"""The chatbot platform adapter: its HTTP client and a simulator of it.

``ChatbotClient`` (``.client``) talks to the platform described in
docs/chatbot-api.md: it checks every answer (``.parse``), retries what may
succeed later (``.retry``) and returns the cleaned, typed values of
:mod:`tui_helpdesk.domain.chat.model`; failures are the ``ChatbotError``
family of :mod:`tui_helpdesk.domain.chat.errors`. The simulator (``.sim``,
which needs aiohttp) is imported on its own.
"""

from .client import ChatbotClient
from .retry import RetryPolicy

__all__ = [
    "ChatbotClient",
    "RetryPolicy",
]
