"""Shared set-up for the AI tests: the OpenAI-compatible simulator on loopback and desks wired to it."""

from __future__ import annotations

import asyncio
import threading

from tui_helpdesk.adapters.ai.sim_http import AISimulator
from tui_helpdesk.bootstrap import Helpdesk, bootstrap
from tui_helpdesk.settings import AISettings, DeskSettings, Secret, Settings

AI_KEY = "sk-test-ai-key"
FRENCH = "Bonjour, ma commande 4521 n'est jamais arrivée et personne ne répond à mes messages."


def ai_settings(base_url: str, **overrides) -> AISettings:
    values = dict(base_url=base_url, model="sim-small", api_key=Secret(value=AI_KEY, label="ai api key"),
                  first_token_timeout=2.0, read_timeout=1.0, connect_timeout=2.0, max_retry_wait=1.0)
    values.update(overrides)
    return AISettings(**values)


def settings(db_url: str, base_url: str = "", *, translation: bool = True, **ai) -> Settings:
    desk = DeskSettings(translation=translation, team_language="en")
    return Settings(database_url=db_url, desks=(desk,), ai=ai_settings(base_url, **ai) if base_url else AISettings())


async def open_ai_desk(db_url: str, sim: AISimulator | None, clock=None, *, translation: bool = True, **ai) -> Helpdesk:
    return await bootstrap(settings(db_url, sim.base_url if sim else "", translation=translation, **ai), clock=clock)


async def french_ticket(hd: Helpdesk):
    return await hd.tickets.create(subject="Commande 4521", body=FRENCH, requester_email="zoe@example.fr",
                                   requester_name="Zoé Martin", channel="email")


class ThreadedSimulator:
    """The simulator on its own event loop in a thread, for tests that run ``helpdesk`` as a subprocess."""

    def __init__(self, **kwargs) -> None:
        self.sim = AISimulator(**kwargs)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> AISimulator:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)
        return self.sim

    def __exit__(self, *exc_info) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


__all__ = ["AI_KEY", "FRENCH", "ThreadedSimulator", "ai_settings", "french_ticket", "open_ai_desk", "settings"]
