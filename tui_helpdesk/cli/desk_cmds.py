"""``helpdesk desk``, ``helpdesk shift`` and ``helpdesk assign``: desk settings from the command line.

``desk export`` writes the shared settings as TOML and ``desk apply FILE``
reads them back (showing the diff and asking; ``--yes`` for scripts), so a
team can keep its settings in git. ``assign --explain TICKET`` says who would
get a ticket now and why each other agent would not.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from ..domain.desk_config import SettingsInvalid, desk_doc, parse_range
from ..domain.errors import HelpdeskError, UsageError

COMMANDS = ("desk", "shift", "assign")


def add_arguments(sub, parser_class) -> None:
    """Register the commands on the top-level subparsers."""
    d = sub.add_parser("desk", help="desk settings: list, show, set, export, apply").add_subparsers(
        dest="action", required=True, parser_class=parser_class, metavar="ACTION")
    x = d.add_parser("list", help="list the desks")
    x.add_argument("--json", action="store_true")
    x = d.add_parser("show", help="show a desk's settings (and where this process has its secrets)")
    x.add_argument("desk", nargs="?")
    x.add_argument("--json", action="store_true")
    x = d.add_parser("set", help="change settings: FIELD=VALUE, e.g. assignment.method=balanced (admins)")
    x.add_argument("desk")
    x.add_argument("changes", nargs="+", metavar="FIELD=VALUE")
    x.add_argument("--json", action="store_true")
    x = d.add_parser("add", help="add a desk (admins)")
    x.add_argument("desk")
    x.add_argument("--name", default="")
    x.add_argument("--json", action="store_true")
    x = d.add_parser("export", help="write the desks' settings as TOML (stdout, or --output FILE)")
    x.add_argument("desk", nargs="?")
    x.add_argument("--output", "-o", metavar="FILE")
    x.add_argument("--json", action="store_true")
    x = d.add_parser("apply", help="apply a file written by desk export (shows the diff and asks)")
    x.add_argument("file", help="TOML file, or - for stdin")
    x.add_argument("--yes", action="store_true", help="do not ask")
    x.add_argument("--dry-run", action="store_true", help="show the diff only")
    x.add_argument("--json", action="store_true")

    s = sub.add_parser("shift", help="scheduling shifts: add, set, delete").add_subparsers(
        dest="action", required=True, parser_class=parser_class, metavar="ACTION")
    for name, text in (("add", "add a shift"), ("set", "change a shift's zone or hours")):
        x = s.add_parser(name, help=text)
        x.add_argument("name")
        x.add_argument("--desk")
        x.add_argument("--timezone", "--tz", dest="timezone")
        x.add_argument("--hours", action="append", default=[], metavar="DAY=HH:MM-HH:MM",
                       help="e.g. mon=09:00-17:00; mon-fri=09:00-17:00; sat=off removes a day")
        x.add_argument("--json", action="store_true")
    x = s.add_parser("delete", help="delete a shift (nobody may still be on it)")
    x.add_argument("name")
    x.add_argument("--desk")
    x.add_argument("--json", action="store_true")

    x = sub.add_parser("assign", help="explain or run automatic assignment")
    x.add_argument("--explain", metavar="TICKET", type=_ticket, help="who would get TICKET now, and why not the others")
    x.add_argument("--hand-out", action="store_true", help="give waiting unassigned tickets to whoever can take them")
    x.add_argument("--json", action="store_true")


def _ticket(text: str) -> int:
    value = text.lstrip("#")
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a ticket id (like 123 or #123)")
    return int(value)


def _dump(data) -> None:
    from .main import dump_json

    dump_json(data)


def _invalid(exc: SettingsInvalid) -> UsageError:
    return UsageError("; ".join(f"{k}: {v}" for k, v in exc.errors.items()))


async def dispatch(hd, me, args) -> int:
    try:
        return await HANDLERS[(args.command, getattr(args, "action", None))](hd, me, args) or 0
    except SettingsInvalid as exc:
        raise _invalid(exc) from None


# ------------------------------------------------------------------ desk


def _state_json(hd, state) -> dict:
    return {"id": state.desk_id, "version": state.version, "stored": state.version > 0,
            "updated_by": state.updated_by, "updated_at": state.updated_at.isoformat() + "Z" if state.updated_at else None,
            "settings": desk_doc(state.config), "secrets": hd.desk_settings.secrets(state.config)}


async def desk_list(hd, me, args) -> int:
    states = await hd.desk_settings.states()
    if args.json:
        _dump([{"id": s.desk_id, "slug": s.slug, "name": s.config.name, "enabled": s.config.enabled,
                "assignment": s.config.assignment, "version": s.version} for s in states])
        return 0
    for s in states:
        print(f"{s.slug:<16} {s.config.name[:30]:<30} {'on' if s.config.enabled else 'off':<4} "
              f"{s.config.assignment:<12} {len(s.config.emails)} address(es)")
    return 0


async def desk_show(hd, me, args) -> int:
    state = await hd.desk_settings.get(args.desk)
    if args.json:
        _dump(_state_json(hd, state))
        return 0
    from ..domain.toml_out import dumps

    print(dumps(desk_doc(state.config)).rstrip())
    print()
    where = f"version {state.version}, saved by {state.updated_by or 'import'}" if state.version else \
        "not saved in the database yet (from the config file or defaults)"
    print(f"# {where}")
    for label, source in hd.desk_settings.secrets(state.config).items():
        print(f"# {label}: {source}")
    return 0


def _value(text: str):
    """A TOML value when it reads as one (true, 12, "x", ["a"]), else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


async def desk_set(hd, me, args) -> int:
    state = await hd.desk_settings.get(args.desk)
    doc = desk_doc(state.config)
    for change in args.changes:
        key, eq, raw = change.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"'{change}' is not FIELD=VALUE (e.g. assignment.method=balanced)")
        parts = key.strip().split(".")
        node = doc
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise UsageError(f"unknown field {key!r} (see: helpdesk desk show {state.slug})")
            node = node[part]
        if parts[-1] not in node or isinstance(node[parts[-1]], (dict, list)) and not raw.strip().startswith("["):
            raise UsageError(f"unknown field {key!r} (see: helpdesk desk show {state.slug}; "
                             "emails and shifts: desk export / apply, shift add)")
        node[parts[-1]] = _value(raw)
    saved = await hd.desk_settings.save(me, doc, expected_version=state.version, base=state.config)
    if args.json:
        _dump(_state_json(hd, saved))
    else:
        from ..domain.desk_config import diff

        for line in diff(desk_doc(state.config), desk_doc(saved.config)) or ["nothing changed"]:
            print(line)
    return 0


async def desk_add(hd, me, args) -> int:
    state = await hd.desk_settings.add_desk(me, args.desk, args.name)
    _dump(_state_json(hd, state)) if args.json else print(f"added desk {state.slug}")
    return 0


async def desk_export(hd, me, args) -> int:
    text = await hd.desk_settings.export(args.desk)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        if args.json:
            _dump({"written": args.output})
        return 0
    if args.json:
        _dump({"toml": text})
    else:
        sys.stdout.write(text)
    return 0


async def desk_apply(hd, me, args) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise HelpdeskError(f"cannot read {args.file}: {exc.strerror}") from None
    desks, agents = await hd.desk_settings.plan(text)
    changes = [f"desks[{c.slug}].{line}" for _, c, lines in desks for line in lines] + \
              [line for _, lines in agents for line in lines]
    if args.json and (args.dry_run or not changes):
        _dump({"changes": changes, "applied": False})
        return 0
    if not args.json:
        for line in changes or ["nothing to change"]:
            print(line)
    if not changes or args.dry_run:
        return 0
    if not args.yes:
        if args.json or not sys.stdin.isatty() or args.file == "-":
            raise UsageError("apply asks before changing settings; pass --yes to apply without asking")
        answer = input(f"apply {len(changes)} change(s)? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing applied")
            return 1
    made = await hd.desk_settings.apply(me, text)
    _dump({"changes": made, "applied": True}) if args.json else print(f"applied {len(made)} change(s)")
    return 0


# ------------------------------------------------------------------ shift

WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _hours(specs: list[str]) -> dict[str, str]:
    hours: dict[str, str] = {}
    for spec in specs:
        days, eq, span = spec.partition("=")
        if not eq:
            raise UsageError(f"--hours takes DAY=HH:MM-HH:MM (e.g. mon-fri=09:00-17:00), not {spec!r}")
        days = days.strip().lower()
        if "-" in days:
            first, _, last = days.partition("-")
            if first[:3] not in WEEK or last[:3] not in WEEK:
                raise UsageError(f"unknown weekdays {days!r} (mon..sun)")
            i, j = WEEK.index(first[:3]), WEEK.index(last[:3])
            selected = WEEK[i:j + 1] if i <= j else WEEK[i:] + WEEK[:j + 1]
        else:
            selected = (days,)
        for day in selected:
            hours[day] = span.strip()
    return hours


async def shift_add(hd, me, args) -> int:
    return await _shift_put(hd, me, args, create=True)


async def shift_set(hd, me, args) -> int:
    return await _shift_put(hd, me, args, create=False)


async def _shift_put(hd, me, args, *, create: bool) -> int:
    state = await hd.desk_settings.put_shift(me, args.desk, args.name, args.timezone, _hours(args.hours),
                                             create=create)
    shift = next(s for s in state.config.shifts if s.name == args.name)
    if args.json:
        _dump({"desk": state.slug, "name": shift.name, "timezone": shift.timezone, "hours": dict(shift.hours)})
    else:
        hours = ", ".join(f"{d} {h}" for d, h in shift.hours) or "no hours yet"
        print(f"shift {shift.name} ({shift.timezone}) on desk {state.slug}: {hours}")
    return 0


async def shift_delete(hd, me, args) -> int:
    state = await hd.desk_settings.delete_shift(me, args.desk, args.name)
    _dump({"desk": state.slug, "deleted": args.name}) if args.json else print(f"deleted shift {args.name}")
    return 0


# ------------------------------------------------------------------ assign


async def assign(hd, me, args) -> int:
    if args.explain is None and not args.hand_out:
        raise UsageError("give --explain TICKET or --hand-out")
    if args.hand_out:
        count = await hd.assignment.hand_out()
        if not args.explain:
            _dump({"assigned": count}) if args.json else print(f"assigned {count} waiting ticket(s)")
            return 0
    explanation = await hd.assignment.explain(args.explain)
    if args.json:
        _dump({"ticket": explanation.ticket_id, "method": explanation.method,
               "agent_id": explanation.decision.agent_id, "reason": explanation.decision.reason,
               "agents": [{"login": login, "name": name, "eligible": why is None, "why_not": why}
                          for login, name, why in explanation.agents]})
    else:
        for line in explanation.lines():
            print(line)
    return 0


# ------------------------------------------------------------------ agent set --time-off


async def agent_time_off(hd, me, login: str, specs: list[str]) -> None:
    """``--time-off A..B`` adds a range; ``--time-off none`` clears them all."""
    current = next((s for s in await hd.desk_settings.schedules() if s.login.lower() == login.lower()), None)
    if current is None:
        raise UsageError(f"no agent '{login}'")
    ranges = set(current.time_off)
    for spec in specs:
        if spec.strip().lower() in ("none", ""):
            ranges.clear()
        else:
            ranges.add(parse_range(spec))
    await hd.desk_settings.set_schedule(me, current.login, time_off=sorted(ranges))


HANDLERS = {
    ("desk", "list"): desk_list, ("desk", "show"): desk_show, ("desk", "set"): desk_set, ("desk", "add"): desk_add,
    ("desk", "export"): desk_export, ("desk", "apply"): desk_apply,
    ("shift", "add"): shift_add, ("shift", "set"): shift_set, ("shift", "delete"): shift_delete,
    ("assign", None): assign,
}
