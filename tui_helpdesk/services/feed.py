"""The change feed: "what changed since N", for live refresh across processes."""

from __future__ import annotations

from ..adapters.store.repository import Store
from ..domain.model import Change


class ChangeFeed:
    def __init__(self, store: Store):
        self.store = store

    async def latest(self) -> int:
        async with self.store.read() as tx:
            return await tx.latest_seq()

    async def since(self, seq: int, limit: int = 1000) -> tuple[list[Change], int]:
        """Changes after *seq*, oldest first, and the seq to ask from next time."""
        async with self.store.read() as tx:
            changes = await tx.changes_since(seq, limit)
        return changes, (changes[-1].seq if changes else seq)
