"""Header values of a mail message: RFC 2047 encoded words, address lists,
Message-IDs and dates.

Everything here reads the raw values the ``compat32`` parser kept, decodes
them one by one and reports what could not be read in ``problems`` instead of
raising.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
from datetime import datetime, timezone
from typing import Iterable

from .charset import _raw_to_str, decode_bytes
from .cleaning import _one_line

__all__ = ["decode_header_value"]


# --------------------------------------------------------------------------
# RFC 2047 encoded words

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([bBqQ])\?([^?\s]*)\?=")
_QP_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def _decode_word_payload(encoding: str, payload: str) -> bytes | None:
    if encoding in "bB":
        data = payload.encode("ascii", "ignore")
        data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
        data += b"=" * (-len(data) % 4)
        try:
            return base64.b64decode(data)
        except (binascii.Error, ValueError):
            return None
    data = payload.encode("utf-8", "replace").replace(b"_", b" ")
    return _QP_HEX.sub(lambda m: bytes((int(m.group(1), 16),)), data)


def decode_header_value(value: str | None, problems: list[str] | None = None,
                        where: str = "header") -> str:
    """Decode RFC 2047 encoded words and raw 8-bit text in a header value.

    Adjacent encoded words in the same charset are joined before decoding, so
    a multi-byte character split across two words (a common mailer bug)
    survives. The result is unfolded but not yet cleaned.
    """
    if not value:
        return ""
    value = _raw_to_str(value, problems, where)
    value = value.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ").replace("\n", " ")
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0
    after_word = False

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_charset, problems, where))
        pending = []
        pending_charset = ""

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos:match.start()]
        # Whitespace between two encoded words is folding, not content (RFC 2047 §6.2).
        if gap and not (after_word and gap.isspace()):
            flush()
            out.append(gap)
        charset, enc, payload = match.groups()
        decoded = _decode_word_payload(enc, payload)
        if decoded is None:
            flush()
            if problems is not None:
                problems.append(f"{where}: undecodable encoded word kept as is")
            out.append(match.group(0))
        else:
            if pending and charset.lower() != pending_charset.lower():
                flush()
            pending_charset = charset
            pending.append(decoded)
        pos = match.end()
        after_word = True
    flush()
    out.append(value[pos:])
    return "".join(out)


# --------------------------------------------------------------------------
# Addresses, ids, dates

_MSGID = re.compile(r"<([^<>\s]{1,900})>")
_BARE_MSGID = re.compile(r"[^<>\s@]{1,400}@[^<>\s@]{1,400}")


def _msgids(value: str | None) -> list[str]:
    if not value:
        return []
    value = _raw_to_str(value)
    ids = [f"<{m}>" for m in _MSGID.findall(value)]
    if not ids:
        ids = [f"<{m}>" for m in _BARE_MSGID.findall(value.strip())]
    seen: dict[str, None] = {}
    for msgid in ids:
        cleaned = _one_line(msgid)
        if cleaned and cleaned not in seen:
            seen[cleaned] = None
    return list(seen)


def _addresses(values: Iterable[str], problems: list[str], where: str) -> list[tuple[str, str]]:
    """(display name, lowercased address) pairs from raw header values.

    Addresses are split before encoded words are decoded, so an encoded word
    cannot inject a comma or an angle-bracketed address of its own.
    """
    raw = [_raw_to_str(v, problems, where).replace("\r", " ").replace("\n", " ") for v in values]
    try:
        pairs = email.utils.getaddresses(raw)
    except Exception:  # noqa: BLE001 - the stdlib parser has raised on odd input before
        problems.append(f"{where}: unreadable address list")
        return []
    result = []
    for name, addr in pairs:
        addr = _one_line(addr).strip("<> ").lower()
        name = _one_line(decode_header_value(name, problems, where)).strip().strip("\"'").strip()
        if not addr and not name:
            continue
        if not addr and "@" in name:
            addr, name = name.lower(), ""
        result.append((name, addr))
    return result


def _parse_date(value: str | None, problems: list[str]) -> datetime | None:
    if not value:
        return None
    text = _one_line(_raw_to_str(value))
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        problems.append(f"Date: unreadable {_one_line(text, 60)!r}")
        return None
    if parsed is None:
        problems.append(f"Date: unreadable {_one_line(text, 60)!r}")
        return None
    if parsed.tzinfo is None:
        # "-0000" means "UTC, but the local zone is unknown" (RFC 5322 §3.3).
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed
