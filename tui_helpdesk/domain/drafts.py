"""A teammate's unsent reply or note on a ticket.

One per agent and ticket, kept in the shared database so it survives quitting
and follows the agent to another terminal. The store reads it back as a
:class:`Draft`; the composer hands the same type to the ticket screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Draft:
    ticket_id: int
    mode: str  # "reply" or "note"
    body: str
    base_entry_id: int  # the ticket's last entry when the draft began
    updated_at: datetime
