"""What each ``helpdesk`` subcommand does: parse → service call → text or JSON."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone

from .. import settings as settings_mod
from . import agent_cmds
from ..bootstrap import Helpdesk, bootstrap
from ..domain import querylang
from ..domain.errors import HelpdeskError, UsageError
from ..domain.model import Agent, SearchHit, Ticket, TicketRow, TimelineEntry
from ..domain.text import clean, one_line
from ..domain.mail.joined import joined_label
from ..domain.query import ViewSpec
from . import mail_cmds


def _load(args) -> settings_mod.Settings:
    return settings_mod.load(args.config, database_url=args.db)


def _load_existing(args) -> settings_mod.Settings:
    """Settings whose database exists: only `db upgrade` and the default path create one.

    A mistyped ``--db``, ``HELPDESK_DB`` or ``[database] url`` would otherwise
    make a new empty database, and a script would read an empty desk and
    report success.
    """
    from ..adapters.store.engine import normalise_url, sqlite_path
    from ..paths import default_database_url

    settings = _load(args)
    path = sqlite_path(normalise_url(settings.database_url))
    # Only a path that could be made is "missing": a file in the way is the store's own error.
    if path is not None and not path.exists() and not path.is_symlink() and _nearest(path).is_dir():
        default = sqlite_path(normalise_url(default_database_url()))
        if default is None or path.resolve() != default.resolve():
            raise HelpdeskError(f"database {path} does not exist; to create it run: helpdesk --db {path} db upgrade")
    return settings


def _nearest(path):
    """The closest ancestor of *path* that exists."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


async def _open(args, *, upgrade: bool = False) -> tuple[Helpdesk, Agent]:
    hd = await bootstrap(_load_existing(args), upgrade=upgrade)
    try:
        me = await hd.agents.identify(act_as=args.act_as or os.environ.get("HELPDESK_AS"))
        # Holds end on time even with no app open: whichever process looks first ends them.
        await hd.tickets.wake_held()
    except BaseException:
        await hd.close()
        raise
    if not getattr(args, "json", False):
        for note in hd.notes:  # a one-time settings import, said once
            print(f"helpdesk: {note}", file=sys.stderr)
    return hd, me


def _read_body(text: str) -> str:
    return sys.stdin.read() if text == "-" else text


def _print(text: str = "") -> None:
    print(text)


def _dump(data) -> None:
    from .main import dump_json

    dump_json(data)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else ""


def ticket_json(t: Ticket) -> dict:
    return {
        "id": t.id, "desk_id": t.desk_id, "type": t.type.value, "channel": t.channel, "subject": t.subject,
        "status": t.status.value, "summary": t.summary, "tags": list(t.tags),
        "requester": {"id": t.requester.id, "name": t.requester.name, "email": t.requester.email,
                      "language": t.requester.language},
        "assignee": t.assignee.login if t.assignee else None,
        "created_at": t.created_at.isoformat() + "Z", "updated_at": t.updated_at.isoformat() + "Z",
        "last_message_at": t.last_message_at.isoformat() + "Z", "last_message_by": t.last_message_by.value,
        "conversation_id": t.conversation_id, "language": t.language, "follow_up_of": t.follow_up_of,
        "version": t.version, "hold_until": t.hold_until.isoformat() + "Z" if t.hold_until else None,
    }


def row_json(r: TicketRow) -> dict:
    return {
        "id": r.id, "status": r.status.value, "type": r.type.value, "channel": r.channel, "subject": r.subject,
        "preview": r.preview, "requester": r.requester, "requester_email": r.requester_email, "assignee": r.assignee,
        "created_at": r.created_at.isoformat() + "Z", "updated_at": r.updated_at.isoformat() + "Z",
        "last_message_by": r.last_message_by.value,
    }


def entry_json(e: TimelineEntry) -> dict:
    data = {"id": e.id, "kind": e.kind.value, "author": e.author, "body": e.body,
            "created_at": e.created_at.isoformat() + "Z", "meta": e.meta}
    if e.kind.value == "message":
        data["joined"] = joined_label(e.meta)  # why this message is on this ticket (mail threading)
    return data


def agent_json(a: Agent) -> dict:
    return {"id": a.id, "login": a.login, "name": a.name, "email": a.email, "role": a.role.value,
            "availability": a.availability.value, "max_open": a.max_open, "shift": a.shift, "active": a.active}


def _cell(text: str, width: int) -> str:
    """*text* cleaned, cut and padded to *width* terminal cells (CJK letters take two)."""
    from rich.cells import set_cell_size

    return set_cell_size(one_line(text, width), width)


def _row_line(r: TicketRow) -> str:
    return (f"#{r.id:<7} {r.status.label:<12} {_cell(r.requester, 22)} "
            f"{_cell(r.subject, 48)} {_cell(r.assignee or '-', 14)} {_when(r.updated_at)}")


def _show_ticket(t: Ticket, entries: list[TimelineEntry]) -> None:
    _print(f"#{t.id}  {one_line(t.subject)}")
    _print(f"status: {t.status.label}   assignee: {t.assignee.name if t.assignee else '-'}   "
           f"type: {t.type.value}   channel: {t.channel}")
    _print(f"requester: {one_line(t.requester.display)} <{t.requester.email or '-'}>   "
           f"created: {_when(t.created_at)}   tags: {', '.join(t.tags) or '-'}")
    if t.summary:  # the stored summary (escalation or on demand), as the details panel shows it
        _print(f"summary: {clean(t.summary)}")
    for e in entries:
        if e.kind.value == "event":
            _print(f"  · {_when(e.created_at)} {one_line(e.body)}")
        else:
            label = {"message": "customer", "reply": "reply", "note": "NOTE (internal)"}[e.kind.value]
            _print(f"\n── {label} · {one_line(e.author)} · {_when(e.created_at)}")
            joined = joined_label(e.meta) if e.kind.value == "message" else None
            if joined:
                _print(f"   (joined: {joined})")
            _print(clean(e.body))
            original = e.meta.get("original") if e.kind.value == "reply" and isinstance(e.meta, dict) else None
            if isinstance(original, dict) and original.get("text"):  # sent translated: the agent's own text too
                _print(f"   (sent as an AI translation; the agent wrote: {one_line(str(original['text']), 500)})")


async def dispatch(args: argparse.Namespace) -> int:
    if args.command == "db":
        hd = await bootstrap(_load(args), upgrade=True)
        _dump({"database": hd.store.prepared}) if args.json else _print(f"database {hd.store.prepared}")
        await hd.close()
        return 0
    if args.command == "seed":
        from ..adapters.store.seed import seed

        if args.tickets < 0 or args.messages_per_ticket < 1:
            raise UsageError("--tickets must be ≥ 0 and --messages-per-ticket ≥ 1")
        hd, me = await _open(args)
        try:
            # Synthetic tickets in a real inbox cannot be told apart afterwards.
            held = await hd.views.count(ViewSpec(), me)
            if held and not args.into_existing:
                raise UsageError(
                    f"this database already holds {held:,} tickets; seed writes synthetic ones into it. "
                    f"Seed a new database (helpdesk --db /tmp/seeded.db db upgrade, then --db /tmp/seeded.db seed) "
                    f"or pass --into-existing")
            report = await seed(hd.store, tickets=args.tickets, messages_per_ticket=args.messages_per_ticket,
                                seed=args.seed, progress=None if args.json else lambda text: print(text, file=sys.stderr))
        finally:
            await hd.close()
        _dump({"seeded": report}) if args.json else _print(report)
        return 0
    if args.command == "doctor":
        from .doctor import doctor

        return await doctor(args, _load)
    if args.command == "ai":
        from .ai_cmds import dispatch as ai_dispatch

        return await ai_dispatch(args, _open)
    if args.command == "sync":
        from .sync import sync

        return await sync(args, _load_existing)
    hd, me = await _open(args)
    try:
        from . import desk_cmds

        if args.command in desk_cmds.COMMANDS:
            return await desk_cmds.dispatch(hd, me, args)
        handler = HANDLERS[(args.command, getattr(args, "action", None))]
        return await handler(hd, me, args) or 0
    finally:
        await hd.close()


async def ticket_list(hd: Helpdesk, me: Agent, args) -> int:
    if not 1 <= args.limit <= 10_000:
        raise UsageError("--limit is 1 to 10000")
    name, spec = await hd.views.resolve(args.view, me)
    if args.query:
        query = await hd.views.parse(args.query)
        combined = spec.and_(query)
        if combined.statuses() == frozenset() and query.statuses():
            # e.g. --view all (active tickets) --query status:closed: say so, never an empty success
            held = ", ".join(sorted(spec.statuses() or ()))
            raise UsageError(f"the view '{name}' holds only tickets with status {held}, so "
                             f"'{args.query}' matches none of them; use --view solved or --view for another view")
        spec = combined
    page = await hd.views.page(spec, me, limit=args.limit)
    if args.json:
        _dump([row_json(r) for r in page.rows])
    else:
        for r in page.rows:
            _print(_row_line(r))
        if not page.rows:
            print(f"no tickets in {name}", file=sys.stderr)
    return 0


async def ticket_show(hd: Helpdesk, me: Agent, args) -> int:
    ticket = await hd.tickets.get(args.id)
    entries = await hd.tickets.timeline(args.id)
    if args.json:
        _dump({**ticket_json(ticket), **await hd.threads.links(args.id),
               "timeline": [entry_json(e) for e in entries]})
    else:
        _show_ticket(ticket, entries)
    return 0


async def ticket_create(hd: Helpdesk, me: Agent, args) -> int:
    ticket = await hd.tickets.create(
        subject=args.subject, body=_read_body(args.body), requester_email=args.requester,
        requester_name=args.name, channel=args.channel, desk=args.desk, actor=me, tags=args.tag,
    )
    _dump(ticket_json(ticket)) if args.json else _print(f"created #{ticket.id}")
    return 0


async def ticket_reply(hd: Helpdesk, me: Agent, args) -> int:
    cc = None if args.cc is None else [a for a in args.cc if a.strip()]
    result = await hd.tickets.reply(args.id, _read_body(args.body), actor=me, cc=cc)
    return await _report_reply(hd, result, f"replied on #{args.id}", args.json)


async def ticket_start(hd: Helpdesk, me: Agent, args) -> int:
    result = await hd.tickets.start_email(to=args.to, name=args.name, cc=args.cc, subject=args.subject,
                                          body=_read_body(args.body), actor=me, desk=args.desk)
    return await _report_reply(hd, result, f"started #{result.ticket.id} to {result.ticket.requester.email}", args.json)


async def _report_reply(hd: Helpdesk, result, done: str, as_json: bool) -> int:
    from ..services.delivery import DeliveryService

    delivery = await DeliveryService(hd).of_reply(result.ticket, result.entry)
    if as_json:
        _dump({**ticket_json(result.ticket), "entry": entry_json(result.entry), "delivery": delivery_json(delivery)})
    else:
        said = f"; reply {delivery.state}" if delivery is not None and not delivery.problem else ""
        _print(f"{done}; status {result.ticket.status.label}{said}")
    if delivery is not None and delivery.problem:
        # The message is on the ticket, but the customer did not get it: a script must not read success.
        why = f": {delivery.reason}" if delivery.reason else ""
        print(f"helpdesk: error: reply on #{result.ticket.id} {delivery.state}{why}", file=sys.stderr)
        return 1
    return 0


def delivery_json(delivery) -> dict:
    """A reply's delivery for --json; a ticket with no channel to the customer has state "none"."""
    if delivery is None:
        return {"state": "none", "reason": "this ticket has no channel to the customer", "channel": None}
    return {"state": delivery.state, "reason": delivery.reason, "channel": delivery.channel}


async def ticket_note(hd: Helpdesk, me: Agent, args) -> int:
    result = await hd.tickets.note(args.id, _read_body(args.body), actor=me)
    if result.notice:
        print(f"helpdesk: warning: {result.notice}", file=sys.stderr)
    _dump({**ticket_json(result.ticket), "entry": entry_json(result.entry)}) if args.json else \
        _print(f"noted on #{args.id}")
    return 0


async def ticket_status(hd: Helpdesk, me: Agent, args) -> int:
    until = None
    if args.until:
        from ..domain.clock import naive_utc
        from ..domain.hold import parse_until

        until = naive_utc(parse_until(args.until, datetime.now().astimezone()))  # in this machine's time zone
    ticket = await hd.tickets.set_status(args.id, args.status, actor=me, reason=args.reason, hold_until=until)
    if args.json:
        _dump(ticket_json(ticket))
    elif ticket.hold_until:
        local = ticket.hold_until.replace(tzinfo=timezone.utc).astimezone()
        _print(f"#{ticket.id} is {ticket.status.label} until {local:%a %d %b %Y %H:%M %Z}")
    else:
        _print(f"#{ticket.id} is {ticket.status.label}")
    return 0


async def ticket_assign(hd: Helpdesk, me: Agent, args) -> int:
    login = None if args.agent.lower() in ("none", "-", "nobody") else (me.login if args.agent == "me" else args.agent)
    ticket = await hd.tickets.assign(args.id, login, actor=me)
    _dump(ticket_json(ticket)) if args.json else \
        _print(f"#{ticket.id} assigned to {ticket.assignee.login}" if ticket.assignee else f"#{ticket.id} unassigned")
    return 0


async def ticket_tag(hd: Helpdesk, me: Agent, args) -> int:
    add = [t[1:] if t.startswith("+") else t for t in args.tags if not t.startswith("-")]
    remove = [t[1:] for t in args.tags if t.startswith("-")]
    ticket = await hd.tickets.change_tags(args.id, add=add, remove=remove, actor=me)
    _dump(ticket_json(ticket)) if args.json else _print(f"#{ticket.id} tags: {', '.join(ticket.tags) or '-'}")
    return 0


async def agent_list(hd: Helpdesk, me: Agent, args) -> int:
    agents = await hd.agents.list(include_inactive=True)
    if args.json:
        _dump([agent_json(a) for a in agents])
    else:
        for a in agents:
            state = a.availability.value if a.active else "deactivated"
            _print(f"{a.login:<16} {_cell(a.name, 24)} {a.role.value:<6} {state:<11} {a.email}")
    return 0


async def agent_add(hd: Helpdesk, me: Agent, args) -> int:
    agent = await hd.agents.add(me, args.login, name=args.name, email=args.email, role=args.role)
    _dump(agent_json(agent)) if args.json else _print(f"added agent {agent.login}")
    return 0


async def agent_set(hd: Helpdesk, me: Agent, args) -> int:
    if args.shift:  # '' clears the agent's shift
        known = sorted({shift.name for desk in hd.settings.desks for shift in desk.shifts})
        if args.shift not in known:
            raise UsageError(f"unknown shift {args.shift!r} "
                             f"({'shifts: ' + ', '.join(known) if known else 'no shifts are configured'}; '' clears it)")
    agent = await hd.agents.set(me, args.login, name=args.name, email=args.email, role=args.role,
                                availability=args.availability, max_open=args.max_open, shift=args.shift)
    if args.time_off:
        from .desk_cmds import agent_time_off

        await agent_time_off(hd, me, agent.login, args.time_off)
    _dump(agent_json(agent)) if args.json else _print(f"updated agent {agent.login}")
    return 0


async def agent_me(hd: Helpdesk, me: Agent, args) -> int:
    _dump(agent_json(me)) if args.json else _print(f"{me.login} ({me.name}, {me.role.value}, {me.availability.value})")
    return 0


async def view_list(hd: Helpdesk, me: Agent, args) -> int:
    rail = await hd.views.rail(me)
    if args.json:
        _dump([{"key": i.key, "name": i.name, "kind": i.kind, "count": i.count,
                "query": querylang.format_spec(i.spec) if i.spec else None} for i in rail])
    else:
        for i in rail:
            count = "-" if i.count is None else str(i.count)
            query = querylang.format_spec(i.spec) if i.spec and i.kind != "system" else ""
            _print(f"{i.name:<24} {count:>8}  {i.kind:<8} {query}")
    return 0


async def view_save(hd: Helpdesk, me: Agent, args) -> int:
    view = await hd.views.save(me, args.name, args.query, shared=args.shared)
    _dump({"id": view.id, "name": view.name, "visibility": view.visibility.value,
           "query": querylang.format_spec(view.spec)}) if args.json else _print(f"saved view {view.name!r}")
    return 0


async def view_delete(hd: Helpdesk, me: Agent, args) -> int:
    view = await hd.views.delete(me, args.name)
    _dump({"deleted": view.name}) if args.json else _print(f"deleted view {view.name!r}")
    return 0


async def search(hd: Helpdesk, me: Agent, args) -> int:
    if not 1 <= args.limit <= 1000:
        raise UsageError("--limit is 1 to 1000")
    hits: list[SearchHit] = await hd.tickets.search(" ".join(args.text), limit=args.limit)
    if args.json:
        _dump([{"ticket_id": h.ticket_id, "subject": h.subject, "status": h.status.value,
                "snippet": h.snippet, "at": h.at.isoformat() + "Z"} for h in hits])
    else:
        for h in hits:
            _print(f"#{h.ticket_id:<7} {h.status.label:<12} {_cell(h.subject, 50)} {one_line(h.snippet, 60)}")
    return 0


HANDLERS = {
    ("ticket", "list"): ticket_list, ("ticket", "show"): ticket_show, ("ticket", "create"): ticket_create,
    ("ticket", "reply"): ticket_reply, ("ticket", "start"): ticket_start, ("ticket", "note"): ticket_note, ("ticket", "status"): ticket_status,
    ("ticket", "assign"): ticket_assign, ("ticket", "tag"): ticket_tag,
    ("agent", "list"): agent_list, ("agent", "add"): agent_add, ("agent", "set"): agent_set, ("agent", "me"): agent_me,
    ("view", "list"): view_list, ("view", "save"): view_save, ("view", "delete"): view_delete,
    ("search", None): search,
}
HANDLERS.update(mail_cmds.HANDLERS)
HANDLERS.update(agent_cmds.HANDLERS)


def _need_terminal() -> None:
    # Without a terminal (cron, a pipe, stdin from /dev/null) the app would
    # write escape codes into a log and spin waiting for keys nobody can press.
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the app needs a terminal; from scripts and cron use a command, "
                         "e.g. 'helpdesk ticket list' (see 'helpdesk --help')")


def run_app(args) -> int:
    _need_terminal()
    try:
        from ..ui.app import run
    except ImportError as exc:  # pragma: no cover - the UI ships with the package
        raise HelpdeskError(f"the terminal app is not available: {exc}") from None
    return run(_load_existing(args), act_as=args.act_as or os.environ.get("HELPDESK_AS"))


def run_demo(args) -> int:
    _need_terminal()
    from .demo import run_demo as demo

    return demo(args)


def run_bot_sim(args) -> int:
    from .botsim import run

    return run(args)
