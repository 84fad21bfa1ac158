"""Which desks translate customer messages, and into what: the one place that reads it.

Translation is a desk setting (on/off, the team's language). It is read only
through :meth:`TranslationPolicies.for_desk`: the desk settings in the shared
database (``DeskSettingsService.translation``), or, without them, the local
config's ``[desks.translation]``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ...adapters.store.repository import Store
from ...settings import Settings


@dataclass(frozen=True, slots=True)
class TranslationPolicy:
    enabled: bool = False
    team_language: str = "en"

    def wants(self, customer_language: str | None) -> bool:
        """Translate customer messages in *customer_language* for this team?"""
        return (self.enabled and bool(customer_language)
                and _base(customer_language) != _base(self.team_language))


def _base(code: str | None) -> str:
    return (code or "").lower().split("-")[0]


class TranslationPolicies:
    """Desk id -> :class:`TranslationPolicy`."""

    def __init__(self, store: Store, settings: Settings,
                 lookup: Callable[[int], Awaitable[tuple[bool, str]]] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.lookup = lookup  # the desk settings service's (on, team language), shared by the team
        self._slugs: dict[int, str] = {}

    async def for_desk(self, desk_id: int) -> TranslationPolicy:
        if self.lookup is not None:
            enabled, team_language = await self.lookup(desk_id)
            return TranslationPolicy(enabled=enabled, team_language=team_language or "en")
        slug = self._slugs.get(desk_id)
        if slug is None:
            async with self.store.read() as tx:
                slug = self._slugs[desk_id] = (await tx.get_desk(desk_id)).slug
        desk = next((d for d in self.settings.desks if d.slug == slug), None)
        if desk is None:
            return TranslationPolicy()
        return TranslationPolicy(enabled=desk.translation, team_language=desk.team_language or "en")
