"""The demo's AI: the configured endpoint when there is one, else the simulator in this process.

Without ``[ai] base_url``, ``helpdesk demo`` starts the project's own
OpenAI-compatible simulator on loopback (a thread beside the app), points the
AI settings at it. With either, translation is on for the demo's desk (its
settings are the demo's own, never stored in its database, like its chatbot
and mail sink), so drafts, polish, summaries and translated customer
messages all work with no setup.
Everything the simulator writes is marked ``[simulated]`` and the AI preview
says "simulated model".
"""

from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import dataclass, replace

SIM_MODEL = "sim-small"


@dataclass
class RunningAISimulator:
    base_url: str
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    sim: object

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(5)
        except Exception:  # noqa: BLE001 - leaving anyway
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def start_ai_simulator(*, first_token_delay: float = 0.3, chunk_delay: float = 0.02) -> RunningAISimulator:
    """The simulator on a background thread, answering like a (fast) real model."""
    from ..adapters.ai.sim_http import AISimulator

    sim = AISimulator(first_token_delay=first_token_delay, chunk_delay=chunk_delay)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ai-sim", daemon=True)
    thread.start()
    base_url = asyncio.run_coroutine_threadsafe(sim.start(), loop).result(10)
    return RunningAISimulator(base_url, loop, thread, sim)


def with_demo_ai(settings):
    """(settings, simulator or None): the demo's settings with an AI endpoint and translation on."""
    from ..settings import AISettings

    if not settings.ai.enabled:
        return settings, None  # turned off on purpose: the demo respects it
    if settings.ai.active:
        return _translating(settings), None
    try:
        running = start_ai_simulator()
    except Exception as exc:  # noqa: BLE001 - the demo runs without AI then
        print(f"helpdesk: the demo runs without AI: {exc}", file=sys.stderr)
        return settings, None
    ai = AISettings(base_url=running.base_url, model=SIM_MODEL, first_token_timeout=10.0, read_timeout=10.0)
    return _translating(replace(settings, ai=ai)), running


def _translating(settings):
    """The demo's first desk translates customer messages into its team's language (English by default)."""
    first = replace(settings.desks[0], translation=True, team_language=settings.desks[0].team_language or "en")
    return replace(settings, desks=(first,) + tuple(settings.desks[1:]))
