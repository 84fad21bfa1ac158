"""@mentions in internal notes: ``@login`` names an agent."""

from __future__ import annotations

import re

# A login as on a Unix host: letters, digits, dot, dash, underscore. The
# look-behind keeps e-mail addresses (bob@example.com) from counting.
_MENTION = re.compile(r"(?<![\w.@])@([A-Za-z_][\w.-]{0,31})")


def find_mentions(body: str) -> list[str]:
    """Logins mentioned in *body*, in order, without duplicates."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(body or ""):
        seen.setdefault(match.group(1).rstrip(".-").lower(), None)
    return list(seen)
