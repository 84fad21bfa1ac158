"""The ``helpdesk`` command: the app, and everything it does for scripts.

Exit codes: 0 ok, 2 usage error, 1 any other error. Errors are one line on
stderr; a user's mistake never prints a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence

from ..domain.errors import HelpdeskError, UsageError
from . import agent_cmds, ai_cmds, api_cmds, botsim, commands, desk_cmds, mail_cmds


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line, exit 2
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="helpdesk", description="A help-desk ticket inbox that lives in the terminal.")
    p.add_argument("--db", metavar="URL", help="database URL or SQLite path (env HELPDESK_DB)")
    p.add_argument("--config", metavar="PATH", help="config file (env HELPDESK_CONFIG)")
    p.add_argument("--as", dest="act_as", metavar="LOGIN", help="act as another agent (admins only; env HELPDESK_AS)")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    x = sub.add_parser("demo", help="open the app on a demo database full of tickets")
    x.add_argument("--pace", type=float, default=2.0, metavar="N",
                   help="at most N live chats a minute ask for a person (default 2)")
    x.add_argument("--reset", action="store_true", help="throw the demo desk away and build a new one")
    botsim.add_arguments(sub.add_parser("bot-sim", help="run a chatbot platform simulator (docs/chatbot-api.md)"))

    t = sub.add_parser("ticket", help="list, show, create and work on tickets").add_subparsers(
        dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    x = t.add_parser("list", help="list tickets in a view")
    x.add_argument("--view", default="all", help="view name or key (default: all)")
    x.add_argument("--query", "-q", default="", help='filter, e.g. \'status:on_you assignee:me "refund"\'')
    x.add_argument("--limit", type=int, default=50)
    x.add_argument("--json", action="store_true")
    x = t.add_parser("show", help="show a ticket and its timeline")
    x.add_argument("id", type=_ticket_id)
    x.add_argument("--json", action="store_true")
    x = t.add_parser("create", help="create a ticket")
    x.add_argument("--requester", required=True, metavar="EMAIL")
    x.add_argument("--name", default="")
    x.add_argument("--subject", required=True)
    x.add_argument("--body", required=True, help="message text, or - to read stdin")
    x.add_argument("--channel", default="api")
    x.add_argument("--desk")
    x.add_argument("--tag", action="append", default=[])
    x.add_argument("--json", action="store_true")
    x = t.add_parser("start", help="write first: a new email ticket whose first message goes to --to")
    x.add_argument("--to", required=True, metavar="EMAIL")
    x.add_argument("--name", default="", help="the customer's name")
    x.add_argument("--cc", action="append", default=[], metavar="EMAIL")
    x.add_argument("--subject", required=True)
    x.add_argument("--body", required=True, help="message text, or - to read stdin")
    x.add_argument("--desk")
    x.add_argument("--json", action="store_true")
    for name, text in (("reply", "reply to the customer"), ("note", "add an internal note")):
        x = t.add_parser(name, help=text)
        x.add_argument("id", type=_ticket_id)
        x.add_argument("--body", required=True, help="text, or - to read stdin")
        if name == "reply":
            x.add_argument("--cc", action="append", metavar="EMAIL",
                           help="email tickets: the Cc of this reply and the next (repeat; --cc '' for nobody)")
        x.add_argument("--json", action="store_true")
    x = t.add_parser("status", help="set a ticket's status")
    x.add_argument("id", type=_ticket_id)
    x.add_argument("status")
    x.add_argument("--reason")
    x.add_argument("--until", metavar="WHEN", help="on_hold only: come back to On you then (2h, 3d, tomorrow, mon, "
                                                   "14:30, 2026-12-24 09:00; this machine's time zone)")
    x.add_argument("--json", action="store_true")
    x = t.add_parser("assign", help="assign a ticket to an agent, or 'none'")
    x.add_argument("id", type=_ticket_id)
    x.add_argument("agent")
    x.add_argument("--json", action="store_true")
    x = t.add_parser("tag", help="add or remove tags (+tag / -tag)")
    x.add_argument("id", type=_ticket_id)
    x.add_argument("tags", nargs="*", metavar="TAG", help="+tag adds, -tag removes, a bare tag adds")
    x.add_argument("--json", action="store_true")
    mail_cmds.add_ticket_arguments(t)

    a = sub.add_parser("agent", help="the team").add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    x = a.add_parser("list", help="list the agents of the desk")
    x.add_argument("--json", action="store_true")
    x = a.add_parser("add", help="add a teammate by their OS login (admins)")
    x.add_argument("login")
    x.add_argument("--name", default="")
    x.add_argument("--email", default="")
    x.add_argument("--role", default="agent", choices=["admin", "agent"])
    x.add_argument("--json", action="store_true")
    x = a.add_parser("set", help="change an agent's name, email, role, availability, cap or shift")
    x.add_argument("login")
    x.add_argument("--name")
    x.add_argument("--email")
    x.add_argument("--role", choices=["admin", "agent"])
    x.add_argument("--availability", choices=["available", "away", "busy", "paused"])
    x.add_argument("--max-open", type=int)
    x.add_argument("--shift")
    x.add_argument("--time-off", action="append", default=[], metavar="FROM..TO",
                   help="add time off, e.g. 2026-12-24..2026-12-31 ('none' clears it)")
    x.add_argument("--json", action="store_true")
    x = a.add_parser("me", help="who am I")
    x.add_argument("--json", action="store_true")
    agent_cmds.add_actions(a, _Parser)

    v = sub.add_parser("view", help="saved views").add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    x = v.add_parser("list", help="list the system and saved views")
    x.add_argument("--json", action="store_true")
    x = v.add_parser("save", help="save a query as a view")
    x.add_argument("name")
    x.add_argument("query")
    x.add_argument("--shared", action="store_true", help="for the whole desk (admins)")
    x.add_argument("--json", action="store_true")
    x = v.add_parser("delete", help="delete a saved view")
    x.add_argument("name")
    x.add_argument("--json", action="store_true")

    x = sub.add_parser("search", help="full-text search, newest first")
    x.add_argument("text", nargs="+")
    x.add_argument("--limit", type=int, default=50)
    x.add_argument("--json", action="store_true")

    d = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    d.add_parser("upgrade", help="apply schema migrations (creates the database if it does not exist)").add_argument(
        "--json", action="store_true")

    x = sub.add_parser("seed", help="fill the database with realistic synthetic tickets")
    x.add_argument("--tickets", type=int, default=1000)
    x.add_argument("--messages-per-ticket", type=int, default=5)
    x.add_argument("--seed", type=int, default=1)
    x.add_argument("--into-existing", action="store_true", help="seed a database that already holds tickets")
    x.add_argument("--json", action="store_true")

    x = sub.add_parser("doctor", help="check config, database, mail and chatbot")
    x.add_argument("--json", action="store_true")

    desk_cmds.add_arguments(sub, _Parser)
    mail_cmds.add_arguments(sub)
    api_cmds.add_arguments(sub, _Parser)
    ai_cmds.add_arguments(sub)

    x = sub.add_parser("sync", help="sync mailboxes and send the outbox (runs until stopped)")
    x.add_argument("--once", action="store_true", help="one pass, then exit (for cron and tests)")
    x.add_argument("--status", action="store_true", help="show mailboxes, warnings, set-aside mail and the outbox")
    x.add_argument("--no-send", action="store_true", help="do not send the outbox")
    x.add_argument("--no-receive", action="store_true", help="do not read mailboxes")
    x.add_argument("--quiet", action="store_true", help="no progress lines")
    x.add_argument("--json", action="store_true", help="with --once or --status: one JSON document on stdout")
    return p


def _ticket_id(text: str) -> int:
    value = text.lstrip("#")
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a ticket id (like 123 or #123)")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if (args.command, getattr(args, "action", None)) == ("ticket", "tag"):
            # "-vip" looks like an option to argparse (and takes the words after it
            # along); here it removes a tag.
            args.tags += [e for e in extra if not e.startswith("--")]
            extra = [e for e in extra if e.startswith("--")]
            if not args.tags and not extra:
                raise UsageError("give tags to add (+tag) or remove (-tag) (see 'helpdesk ticket tag --help')")
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if args.command is None:
            return commands.run_app(args)
        if args.command == "demo":
            return commands.run_demo(args)
        if args.command == "bot-sim":
            return commands.run_bot_sim(args)
        if args.command in api_cmds.COMMANDS:
            return api_cmds.run(args)
        return asyncio.run(commands.dispatch(args))
    except HelpdeskError as exc:
        _fail(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `helpdesk ticket list | head`: the reader left; that is fine.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run() -> None:
    """Console-script entry: run the command, then leave without interpreter teardown.

    By the time :func:`main` returns, the database is closed and the terminal
    restored; finalising the thousand-odd modules SQLAlchemy and
    Textual load would only add ~0.4 s to every command.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say
            pass
    os._exit(code)


def _fail(message: str) -> None:
    # One line for scripts; a query error's caret pointer only for a person at a terminal.
    lines = message.splitlines() or [""]
    print(f"helpdesk: error: {lines[0]}", file=sys.stderr)
    if sys.stderr.isatty():
        for line in lines[1:]:
            print(line, file=sys.stderr)


def dump_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
