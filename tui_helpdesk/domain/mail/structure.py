"""Finding the MIME structure when the fast parse misses it: what real mailers write.

The fast path (``compat32``) takes a ``boundary`` parameter literally. Two
shapes real mailers produce defeat it: the quoted value folded onto the next
line (Outlook), which ``email.policy.default`` unfolds correctly, and the
parameter continued on an unindented line, which ends the header block for
every parser. :func:`rescue` is called only when a declared multipart was
not read as one: it tries ``policy.default`` first, then the boundary the
body itself uses (a ``--X`` line with a closing ``--X--``), written back
into a repaired header, and gives up (the caller keeps today's result)
when neither yields parts.
"""

from __future__ import annotations

import email.policy
import re
from email.message import Message
from email.parser import BytesParser

__all__ = ["rescue"]

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")
_CONTENT_TYPE = re.compile(rb"^content-type[ \t]*:[ \t]*(multipart/[A-Za-z0-9.+_-]+)", re.I)
_DELIMITER = re.compile(rb"^--([ -~]{1,70}?)[ \t]*\r?$", re.M)
_MAX_SCAN = 2_000_000


def rescue(raw: bytes) -> Message | None:
    """A multipart tree for *raw* when one can be found, else None."""
    try:
        msg = BytesParser(policy=email.policy.default).parsebytes(raw)
        if msg.is_multipart() and msg.get_payload():
            return msg
    except Exception:  # noqa: BLE001 - the default policy raises on some broken headers
        pass
    repaired = _repair_boundary(raw)
    if repaired is None:
        return None
    msg = BytesParser(policy=email.policy.compat32).parsebytes(repaired)
    return msg if msg.is_multipart() and msg.get_payload() else None


def _repair_boundary(raw: bytes) -> bytes | None:
    """*raw* with its top Content-Type rewritten to the boundary its body uses."""
    end = _HEADER_END.search(raw)
    if end is None:
        return None
    lines = raw[:end.start()].split(b"\n")
    start = next((i for i, ln in enumerate(lines) if _CONTENT_TYPE.match(ln)), None)
    if start is None:
        return None
    subtype = _CONTENT_TYPE.match(lines[start]).group(1)
    stop = start + 1
    # The header's continuation lines, indented or not (a line that is no "Name:" header).
    while stop < len(lines) and (lines[stop][:1] in (b" ", b"\t") or not _HEADER_LINE.match(lines[stop])):
        stop += 1
    header_text = b" ".join(ln.strip() for ln in lines[start:stop])
    rest = raw[end.start():]
    body_lines = lines[stop:]
    # The header block may have ended early at an unindented continuation line.
    if stop == len(lines):
        rest_head = rest.lstrip(b"\r\n")
        first = rest_head.split(b"\n", 1)[0]
        if re.match(rb"^\s*[A-Za-z][A-Za-z0-9-]*\*?\s*=", first) and not _HEADER_LINE.match(first):
            header_text += b" " + first.strip()
            rest = b"\r\n" + rest_head[len(first) + 1:]
    boundary = _body_boundary(rest[:_MAX_SCAN], header_text)
    if boundary is None:
        return None
    params = re.sub(rb"(?i)boundary\s*=\s*(\"[^\"]*\"?|[^;\s]*)", b"", header_text.split(b";", 1)[1] if b";" in header_text else b"")
    params = b";".join(p for p in (x.strip() for x in params.split(b";")) if p)
    header = b"Content-Type: " + subtype + b'; boundary="' + boundary + b'"' + (b"; " + params if params else b"")
    head = b"\r\n".join(ln.rstrip(b"\r") for ln in lines[:start] + [header] + body_lines)
    return head + rest


def _body_boundary(body: bytes, header_text: bytes) -> bytes | None:
    """The delimiter the body uses: opened by ``--X`` and closed by ``--X--``; the declared one first."""
    seen: dict[bytes, int] = {}
    for match in _DELIMITER.finditer(body):
        seen[match.group(1)] = seen.get(match.group(1), 0) + 1
    declared = re.sub(rb"\s+", b"", header_text)
    candidates = [b for b in seen if not b.endswith(b"--") and (b + b"--") in seen]
    if not candidates:
        return None
    # Prefer the one the header names, once its folding whitespace is gone.
    for b in candidates:
        if re.sub(rb"\s+", b"", b) and re.sub(rb"\s+", b"", b) in declared:
            return b
    return max(candidates, key=lambda b: seen[b]) if len(candidates) == 1 else None
