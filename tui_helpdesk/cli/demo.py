"""``helpdesk demo``: the app on a demo database, built on first use.

The demo lives in the XDG data directory as ``demo.db``; delete it to get a
fresh one. It is built in a temporary file and renamed into place, so an
interrupted build never leaves half a demo behind.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path

from ..paths import directories
from ..settings import load


def demo_path() -> Path:
    return directories().data / "demo.db"


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def build_demo(path: Path, settings, *, quiet: bool = False) -> None:
    from ..bootstrap import bootstrap
    from ..services.demo import populate_demo

    tmp = path.with_name(path.name + ".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    hd = await bootstrap(replace(settings, database_url=sqlite_url(tmp)))
    try:
        await populate_demo(hd, progress=None if quiet else (lambda m: print(m, file=sys.stderr)))
    finally:
        await hd.close()
    os.replace(tmp, path)


def run_demo(args) -> int:
    """Build the demo database if it is missing, then open the app on it."""
    settings = load(getattr(args, "config", None))
    path = demo_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        print(f"Building the demo desk in {path} (a few seconds, once)…", file=sys.stderr)
        asyncio.run(build_demo(path, settings, quiet=True))
    from ..ui.app import run
    from .botsim import with_demo_chatbot

    from .ai_demo import with_demo_ai

    # A chatbot simulator in this process keeps the Conversations view alive.
    settings, sim = with_demo_chatbot(replace(settings, database_url=sqlite_url(path)))
    # And an AI simulator, unless an endpoint is configured: compose, summaries and translation work.
    settings, ai_sim = with_demo_ai(settings)
    try:
        return run(settings, act_as=getattr(args, "act_as", None))
    finally:
        if sim is not None:
            sim.stop()
        if ai_sim is not None:
            ai_sim.stop()
