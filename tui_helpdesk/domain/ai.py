"""What the AI features share that does no I/O: their actions, their errors, the word diff.

Every failure of a model call is an :class:`AIError` whose message is one
line an agent can act on ("the AI endpoint refused the API key (401)");
the draft the agent was writing is never touched by one.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import Enum

from .errors import HelpdeskError


class Action(str, Enum):
    """What a model call was for; each has its prompt file and may have its own model."""

    DRAFT = "draft"
    POLISH = "polish"
    TRANSLATE = "translate"
    SUMMARIZE = "summarize"
    ESCALATION = "escalation"  # the subject and summary of a handed-over chat
    TRANSLATE_MESSAGE = "translate_message"  # a customer message shown in the team's language
    PING = "ping"  # `helpdesk doctor`


class AIError(HelpdeskError):
    """A model call that gave no usable answer; the message says why in one line."""


class AIDisabled(AIError):
    pass


class AIAuthFailed(AIError):
    pass


class AIModelNotFound(AIError):
    pass


class AIRateLimited(AIError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AITimeout(AIError):
    pass


class AIStreamBroken(AIError):
    pass


class AIBadResponse(AIError):
    pass


class AIUnavailable(AIError):
    """Connection refused, DNS, 5xx: the endpoint is not answering."""


@dataclass(frozen=True, slots=True)
class DiffPiece:
    """One run of a word diff: ``op`` is ``=`` (kept), ``-`` (removed) or ``+`` (added)."""

    op: str
    text: str


_TOKENS = re.compile(r"\s+|[^\s]+")


def word_diff(before: str, after: str) -> list[DiffPiece]:
    """*after* against *before*, word by word (whitespace runs are tokens of their own)."""
    a = _TOKENS.findall(before)
    b = _TOKENS.findall(after)
    out: list[DiffPiece] = []

    def add(op: str, text: str) -> None:
        if not text:
            return
        if out and out[-1].op == op:
            out[-1] = DiffPiece(op, out[-1].text + text)
        else:
            out.append(DiffPiece(op, text))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            add("=", "".join(a[i1:i2]))
        else:
            add("-", "".join(a[i1:i2]))
            add("+", "".join(b[j1:j2]))
    return out


def language_name(code: str | None) -> str:
    """An English name for a BCP 47 code ("fr" -> "French"); the code itself when unknown."""
    if not code:
        return "unknown"
    return _NAMES.get(code.lower().split("-")[0], code)


_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "id": "Indonesian",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "nl": "Dutch",
    "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian",
    "vi": "Vietnamese", "zh": "Chinese",
}


_SIGNATURE = re.compile(
    r"^(?:-- ?|—|__+|sent from my \w+.*|envoyé de mon \w+.*|von meinem \w+ gesendet.*|enviado desde mi \w+.*)$",
    re.I,
)


def strip_signature(text: str) -> str:
    """*text* without its signature: from a ``-- `` line (or a phone's "Sent from my…") down."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if i > 0 and _SIGNATURE.match(line.strip()):
            return "\n".join(lines[:i]).rstrip()
    return text.rstrip()
