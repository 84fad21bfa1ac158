"""A ticket's subject and summary from a chat transcript, asked of the AI assistant.

An escalated or taken-over conversation opens a ticket whose first note
summarises the chat. The :class:`~tui_helpdesk.services.ports.Assistant`
(any OpenAI-compatible chat completion) is asked for a subject line and a
2–3 sentence summary in the customer's language, in a fixed two-line form
that :func:`parse_summary` reads back. No assistant, an error, a slow or an
unreadable answer all mean "no summary": the ticket opens anyway and says
"AI summary unavailable."
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ...domain.chat.model import Conversation, MessageRole
from ...domain.text import clean, one_line
from ...domain.ai import strip_signature
from ..ai.prompts import Prompts, block, nonce
from ..ports import Assistant

log = logging.getLogger(__name__)

SUMMARY_UNAVAILABLE = "AI summary unavailable."
SUMMARY_TIMEOUT = 30.0
PROMPT_MESSAGES = 200  # the newest messages sent to the model; a summary needs no more
PROMPT_MESSAGE_CHARS = 2000

_WHO = {MessageRole.USER: "Customer", MessageRole.ASSISTANT: "Chatbot", MessageRole.HUMAN_AGENT: "Teammate"}


@dataclass(frozen=True, slots=True)
class Summary:
    """A subject line and a 2–3 sentence summary, in the customer's language."""

    subject: str
    text: str


def summary_prompt(conv: Conversation, language: str, prompts: Prompts | None = None) -> list[dict]:
    """The chat-completion messages asking for a subject and a summary of *conv* (prompt file ``escalation``).

    The transcript goes in as one data block: the customer's words are never
    instructions to the model.
    """
    system = (prompts or Prompts()).system(
        "escalation", customer_language=language or "unknown, use the language of the chat")
    lines = [f"{_WHO.get(m.role, 'Platform')}: {one_line(strip_signature(m.text), PROMPT_MESSAGE_CHARS)}"
             for m in list(conv.messages or ())[-PROMPT_MESSAGES:] if m.text.strip()]
    if conv.escalation_reason:
        lines.append(f"(The chatbot handed over because: {one_line(conv.escalation_reason, 300)})")
    user = block("TRANSCRIPT", "\n".join(lines) or "(no messages)", nonce())
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"{user}\nCustomer language: {language or 'unknown'}"}]


def parse_summary(answer: str) -> Summary | None:
    """Read the two-line answer; None when either part is missing or empty."""
    subject = ""
    summary: list[str] = []
    in_summary = False
    for raw in answer.splitlines():
        # Models like to dress the labels up: "**Subject:**", "## Summary:".
        line = raw.strip().lstrip("*#_ ")
        label, colon, rest = line.partition(":")
        key = label.strip("*_ ").lower()
        if colon and key == "subject":
            subject, in_summary = rest.strip("*_ "), False
        elif colon and key == "summary":
            summary, in_summary = [rest.strip("*_ ")], True
        elif in_summary:
            summary.append(raw.strip())
    subject = one_line(subject, 200)
    text = clean("\n".join(summary)).strip()[:2000]
    if not subject or not text:
        return None
    return Summary(subject, text)


async def summarise(assistant: Assistant | None, conv: Conversation, prompts: Prompts | None = None) -> Summary | None:
    """Ask *assistant* for *conv*'s subject and summary; None when there is none to be had."""
    if assistant is None:
        return None
    try:
        async with asyncio.timeout(SUMMARY_TIMEOUT):
            chunks = [chunk async for chunk in assistant.stream(summary_prompt(conv, conv.user.language, prompts))]
    except Exception as exc:  # noqa: BLE001 - a summary is never worth losing a ticket
        log.warning("conversation %s: no summary (%s)", conv.id, type(exc).__name__)
        return None
    return parse_summary("".join(chunk for chunk in chunks if isinstance(chunk, str)))


__all__ = ["SUMMARY_UNAVAILABLE", "Summary", "parse_summary", "summarise", "summary_prompt"]
