"""``helpdesk agent deactivate|activate LOGIN``: take a teammate off the team and bring them back (admins).

A deactivated agent keeps their history and their tickets' past, but is never
assigned (automatically or by hand), cannot open the app or run commands, and
is listed as deactivated by ``helpdesk agent list``.
"""

from __future__ import annotations


def add_actions(agent_sub, parser_class) -> None:
    """Register the two actions on the ``agent`` subparsers."""
    for name, text in (("deactivate", "take an agent off the team: never assigned, cannot act (admins)"),
                       ("activate", "bring a deactivated agent back (admins)")):
        x = agent_sub.add_parser(name, help=text)
        x.add_argument("login")
        x.add_argument("--json", action="store_true")


async def deactivate(hd, me, args) -> int:
    agent = await hd.agents.deactivate(me, args.login)
    return _report(agent, "deactivated", args.json)


async def activate(hd, me, args) -> int:
    agent = await hd.agents.activate(me, args.login)
    return _report(agent, "activated", args.json)


def _report(agent, done: str, as_json: bool) -> int:
    from .commands import agent_json
    from .main import dump_json

    dump_json(agent_json(agent)) if as_json else print(f"{done} agent {agent.login}")
    return 0


HANDLERS = {("agent", "deactivate"): deactivate, ("agent", "activate"): activate}
