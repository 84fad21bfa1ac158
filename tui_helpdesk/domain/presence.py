"""Who else is on a ticket: viewing it, or typing in its composer.

:class:`Presence` is a row as the store reads it (every recent agent on the
ticket); :class:`Here` is another agent as the ticket screen shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Presence:
    agent_id: int
    agent_name: str
    typing: bool
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Here:
    """Another agent on the same ticket."""

    agent_id: int
    name: str
    typing: bool
    seen_at: datetime
