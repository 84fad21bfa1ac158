"""The help desk's time convention: naive datetimes in UTC.

The database stores timestamps without a zone, all of them UTC. Clocks handed
to the store (``Store.open(clock=...)``, test clocks) may return aware or
naive datetimes; everything written or compared goes through
:func:`naive_utc` first, so the two never meet.
"""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def naive_utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at
