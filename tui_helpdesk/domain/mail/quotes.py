"""Fold the quoted history away from the new text of a message.

:func:`split_quoted` is the one rule for this: the mail parser uses it to fill
``ParsedMessage.quoted_text``, and the ticket timeline can use it for bodies
stored without a separate quoted part, so a body is folded the same way
wherever it is shown. It knows ``>``-quoted replies (top-, bottom- and
inline-posted), "On ... wrote:" attributions in many languages and
Outlook-style "Original Message" / "From: ... Sent: ..." blocks.
"""

from __future__ import annotations

import re

__all__ = ["split_quoted"]


_ORIGINAL_MESSAGE = re.compile(
    r"^\s*[-_=*]{2,}\s*(?:original message|original e-?mail|ursprüngliche nachricht|originalnachricht"
    r"|message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|mensagem original"
    r"|opprinnelig melding|ursprungligt meddelande|alkuperäinen viesti|исходное сообщение"
    r"|oryginalna wiadomość|původní zpráva)\s*[-_=*]{2,}\s*$",
    re.I,
)
_OUTLOOK_FROM = re.compile(r"^\s*\**\s*(?:from|von|de|da|van|från|fra|od|от|发件人|差出人)\s*\**\s*[:：]", re.I)
_OUTLOOK_SENT = re.compile(
    r"^\s*\**\s*(?:sent|date|gesendet|datum|envoyé|enviado|inviato|verzonden|skickat|sendt|lähetetty"
    r"|wysłano|отправлено|дата|发送时间|送信日時)\s*\**\s*[:：]",
    re.I,
)
_OUTLOOK_ONE_LINE = re.compile(r"^\s*\**\s*from\s*\**\s*:.{1,300}?\s\**\s*sent\s*\**\s*:", re.I)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_WROTE_START = re.compile(
    r"^\s*(?:(?:on|am|le|el|il|op|em|den|w dniu|dne|в)\s|\d{1,4}[./-]\d{1,2}[./-]\d{1,4})", re.I
)
_WROTE_VERB = (
    r"(?:wrote|writes|schrieb|a écrit|a ecrit|escribió|escribio|ha scritto|schreef|escreveu|skrev"
    r"|kirjoitti|napisał|napsal|написал|написала|написал\(а\)|寫道|写道|のメッセージ)"
)
_WROTE_END = re.compile(_WROTE_VERB + r"\s*[:：]?\s*$", re.I)
# German and others put the name after the verb: "Am ... schrieb Name <a@b>:".
_WROTE_INSIDE = re.compile(r"\s" + _WROTE_VERB + r"\s.{0,300}[:：]\s*$", re.I)


_FORWARDED = (
    "forwarded message", "begin forwarded message", "weitergeleitete nachricht",
    "anfang der weitergeleiteten nachricht", "message transféré", "début du message réexpédié",
    "mensaje reenviado", "messaggio inoltrato", "doorgestuurd bericht", "mensagem encaminhada",
    "пересылаемое сообщение", "vidarebefordrat meddelande", "videresendt melding",
)


def _is_forward_marker(line: str) -> bool:
    if len(line) > 90:
        return False
    lowered = line.lower()
    return any(marker in lowered for marker in _FORWARDED)


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _wrote_span(lines: list[str], i: int) -> int | None:
    """End index (exclusive) of an "On ... wrote:" attribution starting at *i*."""
    if not _WROTE_START.match(lines[i]) and not _WROTE_END.search(lines[i]):
        return None
    joined = ""
    for j in range(i, min(i + 3, len(lines))):
        if j > i and not lines[j].strip():
            break
        joined = (joined + " " + lines[j].strip()).strip()
        if len(joined) > 400:
            return None
        if _WROTE_END.search(joined):
            if j == i or _WROTE_START.match(lines[i]):
                return j + 1
            return None
        if _WROTE_START.match(lines[i]) and _WROTE_INSIDE.search(joined):
            return j + 1
    return None


def _outlook_block(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _ORIGINAL_MESSAGE.match(line):
        return True
    if _UNDERSCORES.match(line):
        following = [ln for ln in lines[i + 1:i + 4] if ln.strip()]
        return bool(following) and bool(_OUTLOOK_FROM.match(following[0]))
    if _OUTLOOK_FROM.match(line):
        if _OUTLOOK_ONE_LINE.match(line):
            return True
        for ln in lines[i + 1:i + 6]:
            if _OUTLOOK_SENT.match(ln):
                return True
    return False


def split_quoted(text: str, *, forwarded: bool = False) -> tuple[str, str]:
    """Split *text* into the new part and the trailing quoted history.

    Recognised: a trailing run of ``>`` lines (with the "On ... wrote:" line
    above it), an attribution followed only by quoted text, and Outlook-style
    "-----Original Message-----" / "From: ... Sent: ..." blocks, whose quoted
    text is not ``>``-prefixed so everything after them is history. Inline
    replies between quoted lines are kept in the new part. When nothing new
    would remain, nothing is folded.

    A forwarded message is content the sender wants read, not history: after
    a "Forwarded message" marker, or in a message whose subject says it is
    a forward (*forwarded*), nothing is folded.
    """
    if not text:
        return "", ""
    if forwarded:
        return text, ""
    lines = text.split("\n")
    n = len(lines)
    cut: int | None = None

    # Outlook blocks and attributions followed only by quotes, first one wins.
    seen_text = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if _is_quote(line):
            seen_text = True
            continue
        if _is_forward_marker(line):
            # A forwarded message is content the sender wants read, not history.
            return text, ""
        if seen_text and _outlook_block(lines, i):
            cut = i
            break
        if seen_text:
            end = _wrote_span(lines, i)
            if end is not None:
                quoted_after = False
                interleaved = False
                for ln in lines[end:]:
                    if not ln.strip():
                        continue
                    if _is_quote(ln):
                        quoted_after = True
                    elif quoted_after:
                        interleaved = True
                        break
                if not interleaved:
                    cut = i
                    break
        seen_text = True

    # Trailing run of quoted lines (bottom of an inline or bottom-posted reply).
    k = n
    while k > 0 and (not lines[k - 1].strip() or _is_quote(lines[k - 1])):
        k -= 1
    start = k
    while start < n and not lines[start].strip():
        start += 1
    if start < n:  # there is at least one quoted line at the end
        above = start
        while above > 0 and not lines[above - 1].strip():
            above -= 1
        for back in range(1, 4):
            i = above - back
            if i < 0:
                break
            if _wrote_span(lines, i) == above:
                start = i
                break
        if cut is None or start < cut:
            cut = start

    if cut is None:
        return text, ""
    new = "\n".join(lines[:cut]).rstrip()
    if not new.strip():
        return text, ""
    return new, "\n".join(lines[cut:]).strip("\n")
