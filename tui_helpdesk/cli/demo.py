"""``helpdesk demo``: the app on a demo database, built on first use.

The demo lives in the XDG data directory as ``demo.db``; ``--reset`` (or
deleting it) starts over. It is built in a temporary file and renamed into
place, so an interrupted build never leaves half a demo behind. While it runs,
a chatbot simulator keeps live chats coming (at most ``--pace`` escalations a
minute) and the desk's email replies are delivered to a mail sink on loopback
that keeps each message as a file (``demo-sent-mail/`` beside the database).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from ..domain.errors import UsageError
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


DEMO_ADDRESS = "support@demo.example"


def sent_mail_dir() -> Path:
    return directories().data / "demo-sent-mail"


def reset_demo(path: Path) -> None:
    """Forget the demo desk (its database and the mail its replies sent); the next start builds anew."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(sent_mail_dir(), ignore_errors=True)


def with_demo_mail(settings, sink) -> "object":
    """The demo desk sends its email replies to *sink* (a loopback SMTP server): delivered, and kept."""
    from ..settings import EmailSettings, MailAccount

    email = EmailSettings(address=DEMO_ADDRESS, display_name="auto",
                          signature="{agent_name}, {desk_name}\n(helpdesk demo: delivered to a local mail sink)",
                          smtp=MailAccount(host="127.0.0.1", port=sink.port, security="none"))
    desks = (replace(settings.desks[0], emails=(email,)),) + tuple(settings.desks[1:])
    return replace(settings, desks=desks)


def run_demo(args) -> int:
    """Build the demo database if it is missing, then open the app on it."""
    # The demo's desks are its own: the config's [[desks]] are not imported into it.
    settings = replace(load(getattr(args, "config", None)), desks_declared=False)
    path = demo_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if getattr(args, "reset", False):
        reset_demo(path)
        print("The demo desk was reset.", file=sys.stderr)
    if not path.exists():
        print(f"Building the demo desk in {path} (once; --reset starts over)…", file=sys.stderr)
        asyncio.run(build_demo(path, settings))
    from ..adapters.mail.sink import MailSink
    from ..ui.app import run
    from .ai_demo import with_demo_ai
    from .botsim import with_demo_chatbot

    pace = getattr(args, "pace", 2.0)
    if pace < 0:
        raise UsageError("--pace is how many chats a minute may ask for a person: 0 or more")
    # Replies are delivered for real, to a mail sink on loopback that keeps them as files.
    sink = MailSink(sent_mail_dir()).start()
    print(f"Demo: email replies go to a local mail sink, kept in {sink.directory} (nothing leaves this machine).",
          file=sys.stderr)
    # A chatbot simulator in this process keeps the Conversations view alive.
    settings, sim = with_demo_chatbot(with_demo_mail(replace(settings, database_url=sqlite_url(path)), sink),
                                      pace=pace)
    # And an AI simulator, unless an endpoint is configured: compose, summaries and translation work.
    settings, ai_sim = with_demo_ai(settings)
    try:
        return run(settings, act_as=getattr(args, "act_as", None))
    finally:
        if sim is not None:
            sim.stop()
        sink.stop()
        if ai_sim is not None:
            ai_sim.stop()
