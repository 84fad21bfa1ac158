"""Typed settings from TOML, with environment overrides and secrets kept out of files.

Lookup order for the file: ``--config PATH``, ``$HELPDESK_CONFIG``, then
``$XDG_CONFIG_HOME/helpdesk/config.toml``. Every field is documented in
``config.example.toml``. Secrets come from the environment (``*_env``) or a
command (``*_command``, run without a shell so the secret never reaches argv
of another process); a literal secret in a file that the group or the world
can read is refused.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .domain.errors import ConfigError
from .domain import querylang
from .domain.assignment import Method, parse_shift
from .domain.views import SavedView, Visibility
from .paths import default_database_url, directories

SECRET_KEYS = ("password", "api_key", "secret", "token")


@dataclass(frozen=True)
class Secret:
    """A secret's source; :meth:`get` reads it when needed. Its repr never shows it."""

    env: str | None = None
    command: str | None = None
    value: str | None = None
    label: str = "secret"

    def get(self) -> str | None:
        if self.value:
            return self.value
        if self.env:
            return os.environ.get(self.env)
        if self.command:
            try:
                done = subprocess.run(shlex.split(self.command), capture_output=True, text=True, timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(f"{self.label}: the command failed to run ({type(exc).__name__})") from None
            if done.returncode != 0:
                raise ConfigError(f"{self.label}: the command exited with status {done.returncode}")
            return done.stdout.strip() or None
        return None

    @property
    def configured(self) -> bool:
        return bool(self.value or self.env or self.command)

    def __repr__(self) -> str:
        source = "env" if self.env else "command" if self.command else "inline" if self.value else "unset"
        return f"Secret({self.label}, {source})"

    __str__ = __repr__


@dataclass(frozen=True)
class MailAccount:
    host: str = ""
    port: int = 0
    username: str = ""
    password: Secret = field(default_factory=Secret)
    security: str = "tls"  # tls | starttls | none (loopback tests only)


@dataclass(frozen=True)
class EmailSettings:
    address: str = ""
    display_name: str = "auto"  # "auto" = the replying agent's name
    signature: str = ""
    imap: MailAccount = field(default_factory=MailAccount)
    smtp: MailAccount = field(default_factory=MailAccount)
    mailbox: str = "INBOX"
    processed_folder: str = ""  # move here after commit; empty = flag \Seen only
    poll_seconds: int = 60
    # Automatic acknowledgement of a new ticket ("" = none); {ticket_id} and
    # {desk_name} are filled in. Never sent to machine mail, rate-limited per sender.
    acknowledge: str = ""
    # First contact: mail already in the mailbox when the desk first syncs it, or
    # already read, is history: "import" makes it tickets without acknowledgements
    # (only the last history_days days when that is above 0), "skip" leaves it on
    # the server untouched.
    history: str = "import"
    history_days: int = 0


@dataclass(frozen=True)
class ChatbotSettings:
    base_url: str = ""
    api_key: Secret = field(default_factory=Secret)
    poll_seconds: float = 3.0


@dataclass(frozen=True)
class DeskSettings:
    slug: str = "support"
    name: str = "Support"
    enabled: bool = True
    reopen_days: int = 7
    emails: tuple[EmailSettings, ...] = ()
    assignment: str = "manual"  # manual | balanced | round_robin
    shifts: tuple = ()  # domain.assignment.Shift
    next_shift_fallback: bool = False
    translation: bool = False
    team_language: str = "en"
    chatbot: ChatbotSettings = field(default_factory=ChatbotSettings)


@dataclass(frozen=True)
class AISettings:
    """``[ai]``: one OpenAI-compatible endpoint; local only, never in the database."""

    base_url: str = ""
    model: str = ""
    api_key: Secret = field(default_factory=Secret)
    enabled: bool = True  # false turns every AI call off
    connect_timeout: float = 5.0
    first_token_timeout: float = 30.0  # waiting for the first streamed token
    read_timeout: float = 30.0  # between two streamed chunks
    models: dict[str, str] = field(default_factory=dict)  # per action: draft, polish, translate, summarize...
    prompts_dir: str = ""  # a team directory whose <action>.txt files replace the packaged prompts
    max_retry_wait: float = 20.0  # honour a 429's Retry-After up to this many seconds, once

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.base_url)

    def model_for(self, action: str) -> str:
        return self.models.get(action) or self.model


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    desks: tuple[DeskSettings, ...] = (DeskSettings(),)
    ai: AISettings = field(default_factory=AISettings)
    keys: dict[str, str] = field(default_factory=dict)
    theme: str = ""
    bell: bool = False  # ring the terminal bell for a new ticket in my Inbox or a mention
    desktop_notifications: str = "off"  # off | osc9 | osc777 (ui/alerts.py)
    views: tuple[SavedView, ...] = ()
    source: Path | None = None
    # True when the file has a [[desks]] section: imported into the database once
    # (services/desk_settings.py); afterwards only its secrets are read from here.
    desks_declared: bool = False


def config_path(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("HELPDESK_CONFIG"):
        return Path(os.environ["HELPDESK_CONFIG"]).expanduser()
    return directories().config_file


def load(path: str | None = None, *, database_url: str | None = None) -> Settings:
    """Load settings. A missing default file is fine (defaults); a missing explicit one is not."""
    file = config_path(path)
    data: dict = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {file}: {exc.strerror}") from None
        _check_secret_file(file, data)
    elif path or os.environ.get("HELPDESK_CONFIG"):
        raise ConfigError(f"config file {file} does not exist")
    try:
        settings = _build(data, file if file.exists() else None)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"{file}: {exc}") from None
    url = database_url or os.environ.get("HELPDESK_DB")
    if url:
        from dataclasses import replace

        settings = replace(settings, database_url=url)
    return settings


def _walk_secrets(data, prefix=""):
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}{key}"
            if any(key == s or key.endswith("_" + s) for s in SECRET_KEYS) and isinstance(value, str) and value:
                yield name
            else:
                yield from _walk_secrets(value, name + ".")
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _walk_secrets(item, f"{prefix}{i}.")


def _check_secret_file(file: Path, data: dict) -> None:
    secrets = list(_walk_secrets(data))
    if not secrets:
        return
    mode = file.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH):
        raise ConfigError(
            f"{file} holds a secret ({secrets[0]}) but others can read it (mode {stat.filemode(mode)}); "
            f"run: chmod 600 {file}  — or use {secrets[0].rsplit('.', 1)[-1]}_env / _command instead"
        )


def _secret(section: dict, key: str, label: str) -> Secret:
    return Secret(
        env=section.get(f"{key}_env"), command=section.get(f"{key}_command"), value=section.get(key), label=label
    )


def _account(section: dict, label: str) -> MailAccount:
    return MailAccount(
        host=section.get("host", ""), port=int(section.get("port", 0)), username=section.get("username", ""),
        password=_secret(section, "password", label), security=section.get("security", "tls"),
    )


def _choice(section: dict, key: str, allowed: tuple[str, ...]) -> str:
    value = str(section.get(key, allowed[0]))
    if value not in allowed:
        raise ValueError(f"{key} = {value!r}: expected one of {', '.join(allowed)}")
    return value


def _history(e: dict) -> dict:
    """``history`` and ``history_days`` of one ``[[desks.email]]``, checked."""
    history = str(e.get("history", "import"))
    if history not in ("import", "skip"):
        raise ConfigError(f"[[desks.email]] {e.get('address', '')}: history must be \"import\" or \"skip\", not {history!r}")
    try:
        days = int(e.get("history_days", 0))
    except (TypeError, ValueError):
        days = -1
    if days < 0:
        raise ConfigError(f"[[desks.email]] {e.get('address', '')}: history_days must be a whole number ≥ 0 "
                          f"(0 imports all of it)")
    return {"history": history, "history_days": days}


def _ai(ai: dict) -> AISettings:
    models = ai.get("models", {})
    if not isinstance(models, dict) or not all(isinstance(v, str) for v in models.values()):
        raise ValueError("[ai.models] maps an action (draft, polish, translate, summarize) to a model name")
    return AISettings(
        base_url=ai.get("base_url", ""), model=ai.get("model", ""), api_key=_secret(ai, "api_key", "ai api key"),
        enabled=bool(ai.get("enabled", True)), connect_timeout=float(ai.get("connect_timeout", 5.0)),
        first_token_timeout=float(ai.get("first_token_timeout", 30.0)),
        read_timeout=float(ai.get("read_timeout", 30.0)), models=dict(models),
        prompts_dir=str(ai.get("prompts_dir", "")), max_retry_wait=float(ai.get("max_retry_wait", 20.0)),
    )


def _build(data: dict, source: Path | None) -> Settings:
    db = data.get("database", {})
    desks = []
    for d in data.get("desks", []) or [{}]:
        emails = tuple(
            EmailSettings(
                address=e.get("address", ""), display_name=e.get("display_name", "auto"),
                signature=e.get("signature", d.get("signature", "")),
                imap=_account(e.get("imap", {}), f"{e.get('address', '')} imap password"),
                smtp=_account(e.get("smtp", {}), f"{e.get('address', '')} smtp password"),
                mailbox=e.get("mailbox", "INBOX"), processed_folder=e.get("processed_folder", ""),
                poll_seconds=int(e.get("poll_seconds", 60)), acknowledge=str(e.get("acknowledge", "")),
                **_history(e),
            )
            for e in d.get("email", [])
        )
        assignment = d.get("assignment", {})
        translation = d.get("translation", {})
        chatbot = d.get("chatbot", {})
        desks.append(DeskSettings(
            slug=d.get("slug", "support"), name=d.get("name", "Support"), enabled=bool(d.get("enabled", True)),
            reopen_days=int(d.get("reopen_days", 7)), emails=emails,
            assignment=assignment.get("method", "manual"),
            next_shift_fallback=bool(assignment.get("next_shift_fallback", False)),
            shifts=tuple(
                parse_shift(sh["name"], sh.get("timezone", "UTC"), sh.get("hours", {}))
                for sh in d.get("scheduling", {}).get("shifts", [])
            ),
            translation=bool(translation.get("enabled", False)), team_language=translation.get("language", "en"),
            chatbot=ChatbotSettings(
                base_url=chatbot.get("base_url", ""), api_key=_secret(chatbot, "api_key", "chatbot api key"),
                poll_seconds=float(chatbot.get("poll_seconds", 3.0)),
            ),
        ))
    for desk in desks:
        Method(desk.assignment)  # a clear error for a typo, not a silent manual desk
    ai = data.get("ai", {})
    views = []
    for v in data.get("views", []):
        name = v["name"]
        try:
            spec = querylang.parse(v.get("query", ""))
        except Exception as exc:  # noqa: BLE001 - reported with the view's name
            raise ValueError(f"view {name!r}: {exc}") from None
        views.append(SavedView(None, name, spec, Visibility.SHARED, None, from_config=True))
    return Settings(
        database_url=db.get("url") or default_database_url(),
        desks=tuple(desks),
        ai=_ai(ai),
        keys=dict(data.get("keys", {})),
        theme=data.get("ui", {}).get("theme", ""),
        bell=bool(data.get("ui", {}).get("bell", False)),
        desktop_notifications=_choice(data.get("ui", {}), "desktop_notifications", ("off", "osc9", "osc777")),
        views=tuple(views),
        source=source,
        desks_declared=bool(data.get("desks")),
    )
