"""``helpdesk doctor``: check the config file, the database, and each desk's mail, chatbot and AI.

The desks checked are the ones this help desk really runs: their settings as
stored in the shared database, joined with this process's own secrets (from
its config file or environment), as ``helpdesk sync`` would use them. Each
desk says where its settings come from; a desk only in the config file is
checked as the file gives it (the first start imports it).

Every check ends as one of ``ok``, ``warn``, ``fail`` or ``skip`` with a line
saying what was found and, when something is wrong, how to fix it. A check
never raises: whatever goes wrong becomes a ``fail`` line. The exit code is 1
when any check failed, else 0. Secrets are never printed.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from .. import __version__
from .. import settings as settings_mod
from ..domain.errors import HelpdeskError

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
PROBE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    section: str  # "config", "database", "agent", "desk support", "ai"
    name: str  # what was checked: "file", "schema", "email", ...
    status: str  # ok | warn | fail | skip
    detail: str


async def doctor(args, load_settings) -> int:
    checks: list[Check] = []
    settings = _check_config(args, load_settings, checks)
    settings = await _check_database(settings, checks)
    told = {c.section for c in checks if c.name == "settings"}
    for desk in settings.desks:
        if f"desk {desk.slug}" not in told:
            checks.append(Check(f"desk {desk.slug}", "settings", WARN if settings.desks_declared else OK,
                                "from the config file (the database's settings could not be read)"
                                if settings.desks_declared else "defaults"))
    await _check_integrations(settings, checks)
    failed = any(c.status == FAIL for c in checks)
    if getattr(args, "json", False):
        from .main import dump_json

        dump_json({"ok": not failed, "version": __version__, "checks": [asdict(c) for c in checks]})
    else:
        for c in checks:
            print(f"{c.status:<5} {c.section} · {c.name}: {c.detail}")
        print("all checks passed" if not failed else "some checks failed", file=sys.stderr)
    return 1 if failed else 0


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, HelpdeskError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ------------------------------------------------------------------- config


def _check_config(args, load_settings, checks: list[Check]) -> settings_mod.Settings:
    path = settings_mod.config_path(getattr(args, "config", None))
    explicit = bool(getattr(args, "config", None) or os.environ.get("HELPDESK_CONFIG"))
    if path.exists():
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            checks.append(Check("config", "file", FAIL, f"cannot read {path}: {exc.strerror}"))
            mode = None
        if mode is not None:
            if mode & stat.S_IWOTH:
                checks.append(Check("config", "permissions", FAIL,
                                    f"{path} is writable by everyone (mode {stat.filemode(mode)}); "
                                    f"fix it with: chmod o-w {path}"))
            else:
                checks.append(Check("config", "permissions", OK, f"{path} mode {stat.filemode(mode)}"))
    elif not explicit:
        checks.append(Check("config", "file", OK, f"no config file at {path}; using the defaults"))
    try:
        settings = load_settings(args)
    except HelpdeskError as exc:
        checks.append(Check("config", "parse", FAIL, _error_text(exc)))
        # Carry on with the defaults so the database still gets checked.
        url = getattr(args, "db", None) or os.environ.get("HELPDESK_DB") or settings_mod.default_database_url()
        return replace(settings_mod.Settings(), database_url=url)
    except Exception as exc:  # noqa: BLE001 - doctor reports, never crashes
        checks.append(Check("config", "parse", FAIL, _error_text(exc)))
        return settings_mod.Settings()
    if settings.source is not None:
        desks = ", ".join(d.slug for d in settings.desks)
        checks.append(Check("config", "parse", OK, f"{settings.source}: {len(settings.desks)} desk(s) ({desks}), "
                                                   f"{len(settings.views)} view(s)"))
    return settings


# ----------------------------------------------------------------- database


async def _check_database(settings: settings_mod.Settings, checks: list[Check]) -> settings_mod.Settings:
    """Check the database; return the settings with the desks as the database holds them (when it can be read)."""
    try:
        from sqlalchemy import func, select, text
        from sqlalchemy.engine import make_url

        from ..adapters.store import engine as engine_mod
        from ..adapters.store.repository import Store
        from ..adapters.store.tables import AGENT, TICKET
        from ..services.agents import os_login
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("database", "open", FAIL, f"the store cannot be loaded: {_error_text(exc)}"))
        return settings
    try:
        url = engine_mod.normalise_url(settings.database_url)
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("database", "url", FAIL, f"not a database URL or path: {_error_text(exc)}"))
        return settings
    path = engine_mod.sqlite_path(url)
    if path is not None:
        if not _check_sqlite_files(path, checks):
            return settings
    store = None
    try:
        store = await Store.open(url, create=False, upgrade=False)
    except HelpdeskError as exc:
        checks.append(Check("database", "open", FAIL, _error_text(exc)))
        return settings
    except Exception as exc:  # noqa: BLE001 - unreachable server, bad credentials, not a database...
        checks.append(Check("database", "open", FAIL, f"cannot open {shown}: {_error_text(exc)}"))
        return settings
    try:
        async with store.engine.connect() as conn:
            revision = await conn.run_sync(engine_mod.current_revision)
            checks.append(Check("database", "schema", OK, f"{shown}: schema current (revision {revision})"))
            if store.dialect == "sqlite":
                rows = [r[0] for r in await conn.execute(text("PRAGMA integrity_check"))]
                if rows == ["ok"]:
                    checks.append(Check("database", "integrity", OK, "PRAGMA integrity_check: ok"))
                else:
                    checks.append(Check("database", "integrity", FAIL,
                                        f"PRAGMA integrity_check: {'; '.join(map(str, rows[:3]))}"
                                        f"{' …' if len(rows) > 3 else ''}"))
                journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
                checks.append(Check("database", "journal", OK if journal == "wal" else WARN,
                                    f"journal mode {journal}"))
            else:
                version = (await conn.execute(text("SHOW server_version"))).scalar()
                checks.append(Check("database", "server", OK, f"PostgreSQL {version}"))
            tickets = (await conn.execute(select(func.count()).select_from(TICKET))).scalar_one()
            agents = (await conn.execute(select(func.count()).select_from(AGENT))).scalar_one()
            checks.append(Check("database", "contents", OK, f"{tickets:,} ticket(s), {agents:,} agent(s)"))
            login = os_login()
            row = (await conn.execute(
                select(AGENT.c.login, AGENT.c.role).where(func.lower(AGENT.c.login) == login.lower()))).first()
            if row is not None:
                checks.append(Check("agent", "identity", OK, f"you are {row.login} ({row.role})"))
            elif agents == 0:
                checks.append(Check("agent", "identity", OK, f"no agents yet; {login} becomes the admin on first use"))
            else:
                checks.append(Check("agent", "identity", WARN,
                                    f"'{login}' is not an agent; an admin can add you with: helpdesk agent add {login}"))
        settings = await _desk_settings(store, settings, checks)
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("database", "query", FAIL, f"{shown}: {_error_text(exc)}"))
    finally:
        try:
            await store.close()
        except Exception:  # noqa: BLE001
            pass
    return settings


async def _desk_settings(store, settings: settings_mod.Settings, checks: list[Check]) -> settings_mod.Settings:
    """One line per desk saying where its settings come from; the settings with the stored desks.

    Nothing is written: a config file's desks that are not stored yet are
    checked as the file gives them (the first start imports them).
    """
    from ..services.desk_settings import DeskSettingsService

    service = DeskSettingsService(store, settings)
    states = await service.states()
    file_desks = {d.slug for d in settings.desks} if settings.desks_declared else set()
    source = str(settings.source) if settings.source else "the config file"
    for state in states:
        section = f"desk {state.slug}"
        if state.version:
            when = f" at {state.updated_at:%Y-%m-%d %H:%M} UTC" if state.updated_at else ""
            who = f"saved by {state.updated_by}{when}" if state.updated_by else f"imported from {state.imported_from}"
            text = f"from the database (version {state.version}, {who})"
            if state.slug in file_desks:
                text += f"; its [[desks]] section in {source} is not used any more"
            checks.append(Check(section, "settings", OK, text))
        elif state.slug in file_desks:
            checks.append(Check(section, "settings", WARN, f"from {source}, not stored in the database yet "
                                                          "(the next start of helpdesk or helpdesk sync imports them)"))
        else:
            checks.append(Check(section, "settings", OK, "defaults (never saved; edit them in Settings or with "
                                                        "helpdesk desk set)"))
    stored = {s.slug for s in states}
    if not stored:  # a database no one has opened yet: the file's (or the default) desks
        for desk in settings.desks:
            checks.append(Check(f"desk {desk.slug}", "settings", OK,
                                f"from {source}; the first start stores them in the database"
                                if settings.desks_declared else "defaults"))
        return settings
    for slug in sorted(file_desks - stored):
        checks.append(Check(f"desk {slug}", "settings", WARN, f"from {source}, not in the database yet "
                                                               "(the next start of helpdesk or helpdesk sync imports it)"))
    effective = await service.effective()
    extra = tuple(d for d in settings.desks if d.slug in file_desks - stored)
    return replace(effective, desks=tuple(d for d in effective.desks if d.slug in stored) + extra)


def _check_sqlite_files(path: Path, checks: list[Check]) -> bool:
    """File and directory modes; False when there is no point opening the file."""
    from ..adapters.store import engine as engine_mod

    directory = path.parent
    if not directory.exists():
        checks.append(Check("database", "file", WARN,
                            f"{path} does not exist yet (nor its directory); the first run creates it"))
        return False
    if not directory.is_dir():
        checks.append(Check("database", "file", FAIL, f"{directory} is not a directory"))
        return False
    if not path.exists():
        checks.append(Check("database", "file", WARN, f"{path} does not exist yet; the first run creates it"))
        return False
    try:
        engine_mod.check_file_modes(path, creating=False)
    except HelpdeskError as exc:
        checks.append(Check("database", "permissions", FAIL, _error_text(exc)))
        return False
    except OSError as exc:
        checks.append(Check("database", "permissions", FAIL, f"cannot check {path}: {exc.strerror or exc}"))
        return False
    file_mode = path.stat().st_mode
    dir_mode = directory.stat().st_mode
    shared = "group-shared" if file_mode & stat.S_IRWXG else "private"
    checks.append(Check("database", "permissions", OK,
                        f"{path} mode {stat.filemode(file_mode)}, directory {stat.filemode(dir_mode)} ({shared})"))
    return True


# ------------------------------------------------------------- integrations


async def _check_integrations(settings: settings_mod.Settings, checks: list[Check]) -> None:
    jobs: list = []
    for desk in settings.desks:
        section = f"desk {desk.slug}"
        if not desk.enabled:
            checks.append(Check(section, "desk", SKIP, "disabled"))
            continue
        jobs.append(_email(section, desk))
        jobs.append(_chatbot(section, desk.chatbot))
    jobs.append(_ai(settings.ai))
    for result in await asyncio.gather(*jobs, return_exceptions=True):
        if isinstance(result, BaseException):
            checks.append(Check("doctor", "internal", FAIL, _error_text(result)))
        else:
            checks.extend(result)


async def _secret_state(secret) -> tuple[str, str]:
    """(status, text) for a secret, never showing its value."""
    if not secret.configured:
        return WARN, "not set"
    try:
        value = await asyncio.to_thread(secret.get)
    except HelpdeskError as exc:
        return FAIL, _error_text(exc)
    except Exception as exc:  # noqa: BLE001
        return FAIL, _error_text(exc)
    if value:
        source = "environment" if secret.env else "command" if secret.command else "config file"
        return OK, f"set (from {source})"
    if secret.env:
        return FAIL, f"environment variable {secret.env} is not set"
    return FAIL, "the command printed nothing"


async def _probe(host: str, port: int) -> tuple[bool, str]:
    """Can a TCP connection be made? No protocol is spoken."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_TIMEOUT)
    except asyncio.TimeoutError:
        return False, f"{host}:{port} did not answer within {PROBE_TIMEOUT:.0f} s"
    except OSError as exc:
        return False, f"{host}:{port} unreachable ({exc.strerror or type(exc).__name__})"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True, f"{host}:{port} reachable"


def _url_endpoint(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def _email(section: str, desk) -> list[Check]:
    if not desk.emails:
        return [Check(section, "email", SKIP, "not configured")]
    out: list[Check] = []
    for account in desk.emails:
        label = f"email {account.address or '(no address)'}"
        out.append(await _imap(section, f"{label} imap", account))
        out.append(await _smtp(section, f"{label} smtp", account.smtp))
    return out


async def _imap(section: str, name: str, account) -> Check:
    server = account.imap
    if not server.host:
        return Check(section, name, SKIP, "not configured")
    status, secret = await _secret_state(server.password)
    if status != OK:
        return Check(section, name, FAIL, f"password {secret}")
    try:
        from ..adapters.mail.imap import ImapConnection
    except Exception:  # noqa: BLE001 - no mail adapter in this build: reachability only
        port = server.port or (993 if server.security == "tls" else 143)
        reachable, text = await _probe(server.host, port)
        return Check(section, name, OK if reachable else FAIL, f"{text}; login skipped" if reachable else text)

    def login() -> bool:
        conn = ImapConnection(server, timeout=PROBE_TIMEOUT * 2, connect_timeout=PROBE_TIMEOUT, label="imap")
        try:
            conn.open()
            return bool(conn.client.folder_exists(account.mailbox))
        finally:
            conn.close()

    try:
        exists = await asyncio.to_thread(login)
    except Exception as exc:  # noqa: BLE001 - refused login, unreachable, TLS...
        return Check(section, name, FAIL, _error_text(exc))
    where = f"{server.host}:{server.port or 'default port'}"
    if not exists:
        return Check(section, name, FAIL, f"logged in at {where}, but there is no mailbox {account.mailbox!r}")
    return Check(section, name, OK, f"logged in as {server.username!r} at {where}; mailbox {account.mailbox!r} "
                                    f"found; password {secret}")


async def _smtp(section: str, name: str, server) -> Check:
    if not server.host:
        return Check(section, name, SKIP, "not configured")
    secret = "not needed (no username)"
    if server.username:
        status, secret = await _secret_state(server.password)
        if status != OK:
            return Check(section, name, FAIL, f"password {secret}")
    try:
        from ..adapters.mail.smtp import SmtpSender

        sender = SmtpSender(server, timeout=PROBE_TIMEOUT)
        connect = sender._connect
    except Exception:  # noqa: BLE001 - no SMTP adapter in this build: reachability only
        port = server.port or {"tls": 465, "starttls": 587}.get(server.security, 25)
        reachable, text = await _probe(server.host, port)
        return Check(section, name, OK if reachable else FAIL, f"{text}; login skipped" if reachable else text)
    try:
        await asyncio.wait_for(connect(), PROBE_TIMEOUT * 2)
    except asyncio.TimeoutError:
        return Check(section, name, FAIL, f"{server.host}:{server.port or 'default port'} did not answer in time")
    except Exception as exc:  # noqa: BLE001
        return Check(section, name, FAIL, _error_text(exc))
    finally:
        try:
            await sender.close()
        except Exception:  # noqa: BLE001
            pass
    who = f"logged in as {server.username!r}" if server.username else "connected"
    return Check(section, name, OK, f"{who} at {server.host}:{server.port or 'default port'}; password {secret}")


async def _chatbot(section: str, chatbot) -> list[Check]:
    if not chatbot.base_url:
        return [Check(section, "chatbot", SKIP, "not configured")]
    endpoint = _url_endpoint(chatbot.base_url)
    if endpoint is None:
        return [Check(section, "chatbot", FAIL, f"base_url {chatbot.base_url!r} is not an http(s) URL")]
    status, secret = await _secret_state(chatbot.api_key)
    if status != OK:
        return [Check(section, "chatbot", FAIL, f"api key {secret}")]
    try:
        from ..adapters.chatbot import ChatbotClient, RetryPolicy
    except Exception:  # noqa: BLE001 - the client is not there: a plain reachability probe
        reachable, text = await _probe(*endpoint)
        return [Check(section, "chatbot", OK if reachable else FAIL,
                      f"{text}; health check skipped" if reachable else text)]
    try:
        key = await asyncio.to_thread(chatbot.api_key.get)
        async with ChatbotClient(chatbot.base_url, key or "", timeout=PROBE_TIMEOUT,
                                 retry=RetryPolicy(attempts=1)) as client:
            health = await client.health()
    except HelpdeskError as exc:
        return [Check(section, "chatbot", FAIL, f"{chatbot.base_url}: {_error_text(exc)}")]
    except Exception as exc:  # noqa: BLE001
        return [Check(section, "chatbot", FAIL, f"{chatbot.base_url}: {_error_text(exc)}")]
    version = f" {health.version}" if getattr(health, "version", None) else ""
    return [Check(section, "chatbot", OK, f"{chatbot.base_url} answers ({health.status}{version}); api key {secret}")]


async def _ai(ai) -> list[Check]:
    if not ai.base_url:
        return [Check("ai", "endpoint", SKIP, "not configured (AI compose and translation are off)")]
    endpoint = _url_endpoint(ai.base_url)
    if endpoint is None:
        return [Check("ai", "endpoint", FAIL, f"base_url {ai.base_url!r} is not an http(s) URL")]
    out: list[Check] = []
    if not ai.model:
        out.append(Check("ai", "model", FAIL, "base_url is set but model is not"))
    status, secret = await _secret_state(ai.api_key)
    # A local model may need no key: an unset key is only a warning.
    out.append(Check("ai", "api key", status, secret))
    reachable, text = await _probe(*endpoint)
    if not reachable:
        out.append(Check("ai", "endpoint", FAIL, text))
        return out
    if not ai.enabled:
        out.append(Check("ai", "endpoint", SKIP, f"{text}; AI is turned off ([ai] enabled = false)"))
        return out
    out.append(Check("ai", "endpoint", OK, text))
    if ai.model:
        out.append(await _ai_request(ai))
    return out


async def _ai_request(ai) -> Check:
    """A tiny chat completion (the ``ping`` prompt, a few tokens): key, model and streaming all work."""
    from ..adapters.ai.client import OpenAIAssistant
    from ..domain.ai import AIError
    from ..services.ai.prompts import Prompts

    assistant = OpenAIAssistant(ai)
    usage: dict = {}
    try:
        messages = [{"role": "system", "content": Prompts(ai.prompts_dir).system("ping")},
                    {"role": "user", "content": "ping"}]
        answer = "".join([c async for c in assistant.stream(messages, max_tokens=5, usage=usage)])
    except (AIError, HelpdeskError) as exc:
        return Check("ai", "request", FAIL, str(exc))
    finally:
        await assistant.aclose()
    return Check("ai", "request", OK, f"model {ai.model} answered {len(answer)} characters in {usage.get('ms', 0)} ms")
