"""Uuencoded files inside message text (``begin 644 name`` … ``end``): taken out as attachments.

Old mailers and scripts still paste files into the text this way; left in
place they are kilobytes of noise on the ticket. Only complete, decodable
blocks are taken out; anything else stays text.
"""

from __future__ import annotations

import binascii
import re

__all__ = ["extract_uuencoded"]

_BEGIN = re.compile(r"^begin(?:-base64)? ([0-7]{3,4}) ([^\n]{1,255})\n", re.M)
_END = re.compile(r"\nend[ \t\r]*(?:\n|$)")
_MAX_BLOCKS = 50


def _decode_line(line: str) -> bytes:
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        # Some encoders pad lines with extra characters: decode only what the length byte promises.
        count = ((ord(line[0]) - 32) & 63) * 4 + 5
        return binascii.a2b_uu(line[:count // 3])


def extract_uuencoded(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(text without the blocks, [(file name, data)]); the text is unchanged when there is none."""
    if "begin " not in text:
        return text, []
    files: list[tuple[str, bytes]] = []
    out: list[str] = []
    pos = 0
    for match in _BEGIN.finditer(text):
        if match.start() < pos or len(files) >= _MAX_BLOCKS or match.group(0).startswith("begin-base64"):
            continue
        found = _END.search(text, match.end() - 1)
        if found is None:
            break
        end = found.start()
        block = text[match.end():end + 1].split("\n")
        data = bytearray()
        try:
            for line in block:
                line = line.rstrip("\r")
                if not line or line in ("`", " "):
                    continue
                data += _decode_line(line)
        except (binascii.Error, IndexError, ValueError):
            continue  # not uuencode after all: leave it as text
        out.append(text[pos:match.start()])
        pos = found.end()
        files.append((match.group(2).strip(), bytes(data)))
    if not files:
        return text, []
    out.append(text[pos:])
    return "".join(out), files
