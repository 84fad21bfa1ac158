"""``helpdesk bot-sim``: run the chatbot platform simulator (docs/chatbot-api.md) as a real HTTP server.

The API key comes from ``$HELPDESK_CHATBOT_KEY``; without it a key is
generated and printed once, ready to export for the help desk. ``helpdesk
demo`` runs the same simulator in a background thread
(:func:`start_in_thread`) so its Conversations view is alive.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import threading
from dataclasses import dataclass, field

from ..domain.errors import HelpdeskError, UsageError

ENV_KEY = "HELPDESK_CHATBOT_KEY"
DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 picks one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated customers (default: 0)")
    parser.add_argument("--tick", type=float, default=3.0,
                        help="seconds between simulation steps (default: 3; 0 = only what the API does)")


def new_key() -> str:
    return "sim_" + secrets.token_urlsafe(24)


def _key_from_env() -> str | None:
    key = os.environ.get(ENV_KEY, "").strip()
    if not key:
        return None
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in key):
        raise UsageError(f"${ENV_KEY} holds characters not allowed in an API key (use printable ASCII, no spaces)")
    return key


def _check(args) -> None:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0-65535)")
    if not args.tick >= 0 or args.tick != args.tick:
        raise UsageError("--tick must be 0 or more seconds")


def run(args) -> int:
    """The ``helpdesk bot-sim`` command: serve until Ctrl-C."""
    from ..adapters.chatbot.sim import serve

    _check(args)
    key = _key_from_env()
    generated = key is None
    key = key or new_key()

    def ready(url: str) -> None:
        print(f"Chatbot simulator listening on {url}  (seed {args.seed}, Ctrl-C stops it)")
        if generated:
            print(f"API key, generated for this run (set ${ENV_KEY} to choose one):")
            print(f"  export {ENV_KEY}={key}")
        else:
            print(f"API key: from ${ENV_KEY}")
        print("Point a desk at it in config.toml:")
        print("  [desks.chatbot]")
        print(f'  base_url = "{url}"')
        print(f'  api_key_env = "{ENV_KEY}"')
        sys.stdout.flush()

    try:
        asyncio.run(serve(args.host, args.port, key, seed=args.seed, tick_seconds=args.tick or None, on_ready=ready))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        raise HelpdeskError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


@dataclass
class RunningSimulator:
    """A simulator serving from its own thread; :meth:`stop` ends it."""

    base_url: str
    api_key: str
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _task: asyncio.Task = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._task.cancel)
            self._thread.join(timeout)


def start_in_thread(*, seed: int = 0, tick: float | None = 3.0, host: str = "127.0.0.1", port: int = 0,
                    initial_conversations: int = 12, timeout: float = 10.0,
                    escalations_per_minute: float | None = None) -> RunningSimulator:
    """Start a simulator on a background thread (the demo's); returns once it listens."""
    from ..adapters.chatbot.sim import serve

    key = new_key()
    ready = threading.Event()
    box: dict = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop

        async def go() -> None:
            box["task"] = asyncio.current_task()
            await serve(host, port, key, seed=seed, tick_seconds=tick, initial_conversations=initial_conversations,
                        on_ready=lambda url: (box.__setitem__("url", url), ready.set()),
                        escalations_per_minute=escalations_per_minute)

        try:
            loop.run_until_complete(go())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            box["error"] = exc
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="bot-sim", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise HelpdeskError("the chatbot simulator did not start in time")
    if "error" in box:
        exc = box["error"]
        raise HelpdeskError(f"the chatbot simulator did not start: {getattr(exc, 'strerror', None) or exc}")
    return RunningSimulator(box["url"], key, box["loop"], box["task"], thread)


def with_demo_chatbot(settings, *, seed: int = 0, tick: float = 3.0, poll: float = 2.0, pace: float = 2.0):
    """Settings whose first desk talks to a fresh simulator in this process, and that simulator.

    For ``helpdesk demo``: the Conversations view is alive without any setup,
    and calm: at most *pace* chats a minute ask for a person.
    What the desk knew of an earlier demo's simulator is forgotten (its
    conversation ids start again). Returns ``(settings, None)`` and says why
    on stderr when the simulator cannot start.
    """
    from dataclasses import replace

    from ..settings import ChatbotSettings, Secret

    try:
        sim = start_in_thread(seed=seed, tick=tick, escalations_per_minute=pace)
    except HelpdeskError as exc:
        print(f"helpdesk: the demo runs without live chats: {exc}", file=sys.stderr)
        return settings, None
    chatbot = ChatbotSettings(base_url=sim.base_url, api_key=Secret(value=sim.api_key, label="demo chatbot key"),
                              poll_seconds=poll)
    desks = (replace(settings.desks[0], chatbot=chatbot, enabled=True),) + tuple(settings.desks[1:])
    settings = replace(settings, desks=desks)

    async def forget() -> None:
        from ..bootstrap import bootstrap

        hd = await bootstrap(settings)
        try:
            await hd.conversations.forget()
        finally:
            await hd.close()

    try:
        asyncio.run(forget())
    except BaseException:
        sim.stop()
        raise
    return settings, sim
