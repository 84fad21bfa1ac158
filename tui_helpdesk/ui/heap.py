"""Keeping Python's cyclic garbage collector out of the way of keystrokes.

Starting the app builds a large, long-lived heap (Textual, SQLAlchemy, the
first screen). A full collection walks all of it: 40-70 ms on a small
machine, landing at random in the middle of a view switch or a search.
Once the first inbox frame is out, :func:`settle` freezes what exists, so
later collections walk only objects made since. Freezing is a constant-time
move of the collector's lists; the little start-up garbage it keeps is not
worth a collection pause of its own.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Exempt everything alive now from future collections."""
    gc.freeze()
