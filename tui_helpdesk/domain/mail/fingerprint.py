"""The content fingerprint of a raw message: what makes two deliveries "the same message".

A duplicate is the same message seen again (SPEC §6): delivered to two desk
addresses, through a list and directly, or fetched again after a new
UIDVALIDITY. Such copies differ only in what the transport added or changed —
Received, Return-Path, Delivered-To, DKIM/ARC signatures, spam verdicts — and
in line endings. Broken mailers reuse Message-IDs for different messages, so
the Message-ID alone cannot tell; the fingerprint hashes the headers the
author's mailer wrote and the body, and nothing a relay adds. Pure: bytes in,
hex digest out.
"""

from __future__ import annotations

import hashlib

__all__ = ["content_fingerprint"]

# Headers written by the author's mailer. Every other header may be added or
# rewritten on the way (and relays invent new ones all the time), so a list of
# what to keep holds up better than a list of what to drop.
_AUTHORED = frozenset({
    b"from", b"sender", b"reply-to", b"to", b"cc", b"date", b"subject", b"message-id", b"in-reply-to",
    b"references", b"mime-version", b"content-type", b"content-transfer-encoding", b"content-disposition",
})


def content_fingerprint(raw: bytes) -> str:
    """SHA-256 of *raw*'s authored headers and body, blind to transport headers and line endings."""
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    head, _, body = text.partition(b"\n\n")
    digest = hashlib.sha256()
    current: list[bytes] = []

    def flush() -> None:
        if current:
            name, _, value = b" ".join(current).partition(b":")
            name = name.strip().lower()
            if name in _AUTHORED:
                digest.update(name + b":" + b" ".join(value.split()) + b"\n")
            current.clear()

    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            current.append(line.strip())
        else:
            flush()
            current.append(line.strip())
    flush()
    digest.update(b"\n")
    # Trailing blanks are the part of a body relays touch (padding, a final newline).
    digest.update(b"\n".join(line.rstrip() for line in body.rstrip().split(b"\n")))
    return digest.hexdigest()
