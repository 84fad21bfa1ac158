"""``helpdesk api …`` and ``helpdesk webhook …``: serve the public API, manage its tokens and webhooks.

``api serve`` imports FastAPI and uvicorn only when it runs. Token and
webhook management is for admins; a new token or signing secret is printed
once and never again (only its hash, or the secret for signing, is kept).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from ..domain.errors import HelpdeskError, UsageError
from ..domain.text import one_line

COMMANDS = ("api", "webhook")


def add_arguments(sub, parser_class) -> None:
    a = sub.add_parser("api", help="the public HTTP API: serve it, manage its tokens").add_subparsers(
        dest="action", required=True, parser_class=parser_class, metavar="ACTION")
    x = a.add_parser("serve", help="serve the public HTTP API (and send webhooks)")
    x.add_argument("--host", default="127.0.0.1")
    x.add_argument("--port", type=int, default=8080)
    x.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL scales across them)")
    x.add_argument("--rate-limit", type=int, default=600, metavar="N", help="requests per minute per token (600)")
    x.add_argument("--no-webhooks", action="store_true", help="do not send webhooks from this server")
    x.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    t = a.add_parser("token", help="API tokens (admins)").add_subparsers(
        dest="token_action", required=True, parser_class=parser_class, metavar="ACTION")
    x = t.add_parser("create", help="make a token for a desk; it is shown once")
    x.add_argument("name", help="what uses it, e.g. 'web form'")
    x.add_argument("--scope", default="write", help="read, or write (which includes read); default write")
    x.add_argument("--desk", help="desk slug (default: the first desk)")
    x.add_argument("--json", action="store_true")
    x = t.add_parser("list", help="list tokens (never their values)")
    x.add_argument("--json", action="store_true")
    x = t.add_parser("revoke", help="revoke a token by id")
    x.add_argument("id", type=int)
    x.add_argument("--json", action="store_true")

    w = sub.add_parser("webhook", help="webhook subscriptions and deliveries (admins)").add_subparsers(
        dest="action", required=True, parser_class=parser_class, metavar="ACTION")
    x = w.add_parser("add", help="subscribe a URL to ticket events; prints the signing secret once")
    x.add_argument("url")
    x.add_argument("--events", default="all",
                   help="comma list of created, status_changed, assignee_changed, customer_message, agent_reply; "
                        "or all (default)")
    x.add_argument("--desk", help="desk slug (default: the first desk)")
    x.add_argument("--description", default="")
    x.add_argument("--json", action="store_true")
    x = w.add_parser("list", help="list subscriptions, their state and failures")
    x.add_argument("--json", action="store_true")
    for name, text in (("remove", "remove a subscription (pending deliveries are dropped)"),
                       ("pause", "pause a subscription (deliveries wait)"),
                       ("resume", "resume a paused subscription (waiting deliveries go out)"),
                       ("rotate-secret", "a new signing secret; the old one also signs for 24 hours"),
                       ("test", "send a webhook.ping to the subscription now and say how it went")):
        x = w.add_parser(name, help=text)
        x.add_argument("id", type=int)
        x.add_argument("--json", action="store_true")
    x = w.add_parser("deliveries", help="recent deliveries; with a delivery id, its attempts")
    x.add_argument("delivery", nargs="?", help="a delivery (id or whd_… delivery id): show its attempts")
    x.add_argument("--subscription", type=int)
    x.add_argument("--status", choices=["pending", "sent", "failed"])
    x.add_argument("--limit", type=int, default=50)
    x.add_argument("--json", action="store_true")
    x = w.add_parser("redeliver", help="send a delivery again (a new delivery id, the same body)")
    x.add_argument("delivery", help="id or whd_… delivery id")
    x.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.command == "api" and args.action == "serve":
        return serve(args)
    return asyncio.run(_dispatch(args))


# ------------------------------------------------------------------ serve

def serve(args) -> int:
    from . import commands

    if not 1 <= args.port <= 65535:
        raise UsageError("--port is 1 to 65535")
    if not 1 <= args.workers <= 64:
        raise UsageError("--workers is 1 to 64")
    if args.rate_limit < 1:
        raise UsageError("--rate-limit is at least 1")
    settings = commands._load_existing(args)
    asyncio.run(_check_database(settings))  # one clear line now, not a failed worker start later
    import uvicorn

    from ..api.app import OPTIONS_ENV, ApiOptions, create_app

    options = ApiOptions(rate_limit=args.rate_limit, send_webhooks=not args.no_webhooks)
    # The access log only where it is shown: formatting a line per request costs even when filtered out.
    common = dict(host=args.host, port=args.port, log_level=args.log_level, server_header=False,
                  proxy_headers=False, access_log=args.log_level in ("trace", "debug", "info"))
    if args.workers > 1:
        # Worker processes build their own app from the environment (never from argv: no secrets in ps).
        os.environ["HELPDESK_DB"] = settings.database_url
        if args.config:
            os.environ["HELPDESK_CONFIG"] = args.config
        os.environ[OPTIONS_ENV] = options.to_env()
        uvicorn.run("tui_helpdesk.api.app:app_from_env", factory=True, workers=args.workers, **common)
    else:
        uvicorn.run(create_app(settings, options=options), **common)
    return 0


async def _check_database(settings) -> None:
    from ..bootstrap import bootstrap

    hd = await bootstrap(settings, create=False)
    await hd.close()


# --------------------------------------------------------------- managing

async def _dispatch(args) -> int:
    from . import commands

    hd, me = await commands._open(args)
    try:
        if args.command == "api":
            return await _token(hd, me, args)
        return await _webhook(hd, me, args)
    finally:
        await hd.close()


def _iso(at) -> str | None:
    return at.isoformat(timespec="seconds") + "Z" if at else None


def _dump(data) -> None:
    from .main import dump_json

    dump_json(data)


def token_json(t) -> dict:
    return {"id": t.id, "desk_id": t.desk_id, "name": t.name, "prefix": t.prefix, "scopes": list(t.scopes),
            "created_at": _iso(t.created_at), "revoked_at": _iso(t.revoked_at)}


async def _token(hd, me, args) -> int:
    access = hd.api_access
    if args.token_action == "create":
        record, token = await access.create_token(me, args.name, scopes=args.scope, desk=args.desk)
        _shown_once(args, {**token_json(record), "token": token}, token,
                    f"token {record.id} ({one_line(record.name)}, {','.join(record.scopes)}) made; it is shown "
                    f"only now: store it in your integration's secrets")
    elif args.token_action == "list":
        tokens = await access.tokens(me)
        if args.json:
            _dump([token_json(t) for t in tokens])
        for t in [] if args.json else tokens:
            state = f"revoked {_iso(t.revoked_at)}" if t.revoked_at else "active"
            print(f"{t.id:<5} hd_{t.prefix}_…  {','.join(t.scopes):<11} {state:<28} {one_line(t.name, 60)}")
    else:
        record = await access.revoke_token(me, args.id)
        _dump(token_json(record)) if args.json else print(f"revoked token {record.id} ({one_line(record.name)})")
    return 0


def sub_json(s) -> dict:
    return {"id": s.id, "desk_id": s.desk_id, "url": s.url, "events": list(s.events), "description": s.description,
            "state": s.state, "paused_reason": s.paused_reason, "failures": s.failures,
            "created_at": _iso(s.created_at)}


def delivery_json(d) -> dict:
    return {"id": d.id, "delivery_id": d.uid, "subscription_id": d.subscription_id, "event": d.event,
            "ticket_id": d.ticket_id, "status": d.status, "attempts": d.attempts,
            "next_attempt_at": _iso(d.next_attempt_at) if d.status == "pending" else None,
            "last_status": d.last_status, "last_error": d.last_error, "created_at": _iso(d.created_at),
            "sent_at": _iso(d.sent_at), "redelivery_of": d.redelivery_of}


def _shown_once(args, data: dict, secret: str, what: str) -> None:
    """A token or signing secret, shown this once: alone on stdout (for scripts), what it is on stderr."""
    if args.json:
        _dump(data)
    else:
        print(secret)
        print(f"helpdesk: {what}", file=sys.stderr)


async def _webhook(hd, me, args) -> int:
    hooks = hd.webhooks
    action = args.action
    if action == "add":
        sub, secret = await hooks.add(me, args.url, args.events, desk=args.desk, description=args.description)
        _shown_once(args, {**sub_json(sub), "secret": secret}, secret,
                    f"webhook {sub.id} → {sub.url} ({', '.join(sub.events)}); the signing secret is shown only now")
    elif action == "list":
        subs = await hooks.list(me)
        if args.json:
            _dump([sub_json(s) for s in subs])
        for s in [] if args.json else subs:
            state = s.state if s.state == "active" else f"PAUSED ({one_line(s.paused_reason or '', 60)})"
            print(f"{s.id:<5} {state:<30} failures {s.failures:<3} {s.url}  [{', '.join(s.events)}]")
    elif action == "remove":
        sub = await hooks.remove(me, args.id)
        _dump(sub_json(sub)) if args.json else print(f"removed webhook {sub.id} ({sub.url})")
    elif action in ("pause", "resume"):
        sub = await hooks.set_paused(me, args.id, action == "pause")
        _dump(sub_json(sub)) if args.json else print(f"webhook {sub.id} is {sub.state}")
    elif action == "rotate-secret":
        sub, secret = await hooks.rotate_secret(me, args.id)
        _shown_once(args, {**sub_json(sub), "secret": secret}, secret,
                    f"webhook {sub.id} has a new signing secret, shown only now; the old one also signs for 24 hours")
    elif action == "test":
        d = await hooks.ping(me, args.id)
        if args.json:
            _dump(delivery_json(d))
        elif d.status == "sent":
            print(f"webhook {args.id}: ping delivered (HTTP {d.last_status}), delivery {d.uid}")
        if d.status != "sent":
            why = one_line(d.last_error or "not sent yet (paused, or another process sends webhooks)", 300)
            print(f"helpdesk: error: webhook {args.id}: ping not delivered: {why}", file=sys.stderr)
            return 1
    elif action == "deliveries":
        if not 1 <= args.limit <= 10_000:
            raise UsageError("--limit is 1 to 10000")
        if args.delivery:
            d, attempts = await hooks.delivery(me, args.delivery)
            if args.json:
                _dump({**delivery_json(d), "attempts": [
                    {"number": a.number, "at": _iso(a.at), "status": a.status_code, "error": a.error,
                     "duration_ms": a.duration_ms} for a in attempts]})
                return 0
            print(f"{d.uid} {d.event} ticket #{d.ticket_id} {d.status} after {d.attempts} attempt(s)")
            for a in attempts:
                print(f"  #{a.number} {_iso(a.at)} {a.status_code or '-'} {a.duration_ms} ms "
                      f"{one_line(a.error or '', 160)}")
            return 0
        items = await hooks.deliveries(me, sub_id=args.subscription, status=args.status, limit=args.limit)
        if args.json:
            _dump([delivery_json(d) for d in items])
        for d in [] if args.json else items:
            print(f"{d.id:<7} {d.uid}  {d.event:<24} #{d.ticket_id or '-':<7} {d.status:<8} "
                  f"{d.attempts} attempt(s) {d.last_status or '-'} {one_line(d.last_error or '', 60)}")
    elif action == "redeliver":
        d = await hooks.redeliver(me, args.delivery)
        _dump(delivery_json(d)) if args.json else print(f"queued {d.uid} (a redelivery of {args.delivery})")
    else:  # pragma: no cover - argparse allows no other
        raise HelpdeskError(f"unknown webhook action {action}")
    return 0
