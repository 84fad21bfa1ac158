"""Make untrusted text (mail, chat, names, filenames, model output) safe to show.

Everything a customer or a model wrote reaches the terminal only through
:func:`clean`: escape sequences, C0/C1 controls and bidirectional overrides are
removed, so nothing in the data can move the cursor, set the title, write the
clipboard, forge a hyperlink or reorder what an agent reads. Markup is not a
concern here: the UI builds ``rich.text.Text`` from the cleaned string, never
parses it.
"""

from __future__ import annotations

import re
import unicodedata

# Whole escape sequences first, so their parameters do not survive as litter:
# OSC/DCS/SOS/PM/APC strings (ESC ] ... BEL|ST, and their C1 forms), CSI
# sequences (ESC [ ... final, or 0x9B ... final), then any other two-byte ESC x.
_ESCAPES = re.compile(
    r"""
      (?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f]) .*? (?:\x07|\x1b\\|\x9c|$)   # string sequences
    | (?:\x1b\[|\x9b) [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?          # CSI
    | \x1b [\x20-\x2f]* [\x30-\x7e]?                                   # other ESC sequences
    """,
    re.VERBOSE | re.DOTALL,
)

# Bidi embeddings/overrides/isolates and other invisible format characters
# that can disguise text ("invoice\u202efdp.exe").
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _keep(ch: str, keep_newlines: bool) -> bool:
    if ch == "\n":
        return keep_newlines
    if ch == "\t":
        return True
    if ch in _BIDI:
        return False
    cat = unicodedata.category(ch)
    # Cc: C0 and C1 controls (incl. DEL, CR); Cs: lone surrogates from bad decoding.
    return cat not in ("Cc", "Cs")


def clean(text: str | None, *, keep_newlines: bool = True) -> str:
    """Return *text* with terminal control and escape sequences removed.

    CRLF and lone CR become newlines (a CR could otherwise overwrite a line on
    screen: ``ok\\rFAKE``). With ``keep_newlines=False`` newlines become spaces,
    for one-line places such as a table cell or a title.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ESCAPES.sub("", text)
    out = "".join(ch for ch in text if _keep(ch, True))
    if not keep_newlines:
        out = " ".join(out.split("\n"))
        out = out.replace("\t", " ")
    return out


def one_line(text: str | None, limit: int | None = None) -> str:
    """Clean *text* for a single-line cell, collapsing runs of whitespace."""
    out = " ".join(clean(text, keep_newlines=False).split())
    if limit is not None and len(out) > limit:
        out = out[: max(0, limit - 1)] + "…"
    return out
