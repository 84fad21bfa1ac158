"""Bytes to text for mail: declared charsets, the labels mailers get wrong,
and the fallbacks when a label lies.

:func:`decode_bytes` never raises; what it had to guess is appended to the
caller's ``problems`` list. The result is not yet cleaned.
"""

from __future__ import annotations

import codecs

from .cleaning import _one_line

__all__ = ["decode_bytes"]


# Declared charsets that Python does not know, or knows under a narrower
# meaning than mailers use in practice (WHATWG-style supersets).
_CHARSET_ALIASES = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-31j": "cp932",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "x-user-defined": "cp1252",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "unknown-8bit": "",
    "x-unknown": "",
    "unknown": "",
    "default": "",
    "charset": "",
}

_ENCODING_CACHE: dict[str, str | None] = {}
_WEAK_CODECS = frozenset({"cp1252", "latin-1", "iso8859-1", "ascii"})


def _codec_for(charset: str | None) -> str | None:
    """Python codec name for a declared MIME charset, or None if unusable."""
    if not charset:
        return None
    key = charset.strip().strip("\"'").lower()
    if key in _ENCODING_CACHE:
        return _ENCODING_CACHE[key]
    name = key.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    name = _CHARSET_ALIASES.get(name, name)
    result: str | None = None
    if name and len(name) <= 40:
        try:
            info = codecs.lookup(name)
        except (LookupError, ValueError):
            info = None
        # Only real text encodings: "base64" or "rot13" are codecs too.
        if info is not None and getattr(info, "_is_text_encoding", True):
            result = info.name
    if len(_ENCODING_CACHE) < 512:
        _ENCODING_CACHE[key] = result
    return result


def decode_bytes(data: bytes, charset: str | None, problems: list[str] | None = None,
                 where: str = "text") -> str:
    """Decode *data* declared as *charset*, falling back when the label lies.

    Order: the declared charset strictly, UTF-8 strictly, then — unless the
    declared charset reads it with only a few broken bytes — Windows-1252
    strictly, and last the declared charset (or Windows-1252 when it is
    unknown) with replacement characters. A fallback is recorded in
    *problems*; the result is not yet cleaned.
    """
    if not data:
        return ""
    codec = _codec_for(charset)
    if codec in _WEAK_CODECS and not data.isascii():
        # Mailers label UTF-8 as ASCII or Latin-1 all the time; the reverse
        # (Latin-1 text that happens to be valid UTF-8) practically never happens.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if codec is not None:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if charset and codec is None and problems is not None and not data.isascii():
            problems.append(f"{where}: unknown charset {_one_line(charset, 40)!r}, read as UTF-8")
        return text
    if codec is None:
        # Mostly UTF-8 with a few broken bytes (a name cut mid-character) reads
        # better as UTF-8 with replacement characters than as Windows-1252.
        text = data.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        non_ascii = len(text) - len(text.encode("ascii", "ignore")) - bad
        if non_ascii >= 3 * bad:
            if problems is not None:
                problems.append(f"{where}: invalid UTF-8 bytes replaced")
            return text
    elif codec not in _WEAK_CODECS and not _mostly_readable(data, codec):
        # Declared UTF-8 but written in Latin-1 (or Windows-1252) is the usual
        # lie; those bytes read right as Windows-1252, not as U+FFFD.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            pass
        else:
            if problems is not None:
                problems.append(f"{where}: not valid {_one_line(charset or '', 40)}, read as Windows-1252")
            return text
    if problems is not None:
        if codec is None and charset:
            problems.append(f"{where}: unknown charset {_one_line(charset, 40)!r}, read as Windows-1252")
        elif codec is None:
            problems.append(f"{where}: undeclared 8-bit text, read as Windows-1252")
        else:
            problems.append(f"{where}: invalid {_one_line(charset, 40)} bytes replaced")
    try:
        return data.decode(codec or "cp1252", errors="replace")
    except LookupError:
        return data.decode("cp1252", errors="replace")


def _mostly_readable(data: bytes, codec: str) -> bool:
    """Whether *codec* reads *data* with only a few broken bytes among real text.

    A text in the declared charset with a character cut in half keeps the
    declared charset; one with nothing but broken bytes was never in it.
    """
    try:
        text = data.decode(codec, errors="replace")
    except LookupError:
        return False
    bad = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore")) - bad
    return non_ascii >= 3 * bad


def _raw_to_str(value: str, problems: list[str] | None = None, where: str = "header") -> str:
    """A header string as the parser stored it back to real text.

    The bytes parser keeps 8-bit header bytes as lone surrogates; they are
    turned back into bytes and decoded like any undeclared text.
    """
    if not isinstance(value, str):
        value = str(value)  # compat32 hands out Header objects for some 8-bit values
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "replace")
    return decode_bytes(data, None, problems, where)
