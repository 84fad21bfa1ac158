"""Cheap cleaning for mail text: :func:`~tui_helpdesk.domain.text.clean` and
:func:`~tui_helpdesk.domain.text.one_line` with a shortcut for plain ASCII.

Every string the mail parser hands out goes through one of these. Most mail is
plain ASCII without control characters, where the per-character pass of the
full cleaners changes nothing, so it is skipped; the other modules of this
package share the two helpers so the shortcut is decided in one place.
"""

from __future__ import annotations

import re

from tui_helpdesk.domain.text import clean, one_line


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean_text(text: str) -> str:
    """:func:`clean` for long text, skipping its per-character pass when the
    text is plain ASCII without controls (most mail), where it changes nothing.

    The shortcut is deliberately narrower than what ``clean`` removes, so it
    stays correct if ``clean`` learns to remove more non-ASCII characters.
    """
    if text.isascii() and _ASCII_CONTROL.search(text) is None:
        return text
    return clean(text)


def _one_line(text: str | None, limit: int | None = None) -> str:
    """:func:`one_line` with the same shortcut as :func:`_clean_text`."""
    if text and text.isascii() and _ASCII_CONTROL.search(text) is None:
        out = " ".join(text.split())
        return out if limit is None or len(out) <= limit else one_line(out, limit)
    return one_line(text, limit)
