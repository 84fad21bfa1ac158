"""Desk settings kept in the shared database: read, check, save with a version, export and apply TOML.

The database is the source of every desk's settings (SPEC §5 "Desk
settings"). On the first start with a config file that declares
``[[desks]]``, a desk that has no stored settings yet imports them once; a
desk that never had settings stored uses its config file's (or the default)
values until an admin saves it. Secrets never come from the database: this
process joins the stored accounts with its own config's passwords and API
keys, keyed by address (mail) or desk slug (chatbot).

A save writes a ``settings`` change to the change feed, so every terminal and
``helpdesk sync`` re-reads and applies it.
"""

from __future__ import annotations

import logging
import time
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime

from ..adapters.store.repository import Store, Tx
from ..domain.desk_config import (
    AccountConfig,
    AgentSchedule,
    DeskConfig,
    EmailConfig,
    SettingsInvalid,
    ShiftConfig,
    agent_doc,
    desk_doc,
    diff,
    parse_agents,
    parse_desk,
)
from ..domain.errors import HelpdeskError, NotFound, PermissionDenied, UsageError
from ..domain.model import Agent
from ..domain.toml_out import dumps
from ..settings import ChatbotSettings, DeskSettings, EmailSettings, MailAccount, Secret, Settings

log = logging.getLogger(__name__)

# How long a desk's settings are reused before re-reading (routing of each new ticket reads them).
CACHE_SECONDS = 1.0


class SettingsConflict(HelpdeskError):
    """Another admin saved the desk since it was loaded; *changed* says what they changed."""

    def __init__(self, slug: str, changed: list[str], by: str | None):
        self.changed = changed
        self.by = by
        what = "; ".join(changed[:5]) + (f" (and {len(changed) - 5} more)" if len(changed) > 5 else "")
        super().__init__(f"desk '{slug}' was changed by {by or 'someone else'} meanwhile ({what or 'no field'}); "
                         "nothing saved: reload and try again")


@dataclass(frozen=True, slots=True)
class DeskState:
    """A desk's settings as stored (or as the config file gives them, before the first save)."""

    desk_id: int
    config: DeskConfig
    version: int  # 0: not stored yet
    updated_by: str | None = None
    updated_at: datetime | None = None
    imported_from: str | None = None

    @property
    def slug(self) -> str:
        return self.config.slug


def config_from_local(desk: DeskSettings) -> DeskConfig:
    """A config file's desk → the shared document, its secrets left out (not checked: see :func:`parse_desk`)."""
    def account(a: MailAccount) -> AccountConfig:
        return AccountConfig(a.host, a.port, a.username, a.security)

    return DeskConfig(
        slug=desk.slug, name=desk.name, enabled=desk.enabled, reopen_days=desk.reopen_days,
        assignment=desk.assignment, next_shift_fallback=desk.next_shift_fallback,
        shifts=tuple(ShiftConfig(s.name, s.tz, tuple((day, f"{a:%H:%M}-{b:%H:%M}") for day, (a, b) in s.hours.items()))
                     for s in desk.shifts),
        emails=tuple(
            EmailConfig(e.address.strip().lower(), e.display_name, e.signature, e.acknowledge, e.mailbox,
                        e.processed_folder, e.poll_seconds, account(e.imap), account(e.smtp),
                        e.history, e.history_days)
            for e in desk.emails if e.address
        ),
        translation=desk.translation, team_language=desk.team_language,
        chatbot_url=desk.chatbot.base_url, chatbot_poll_seconds=desk.chatbot.poll_seconds,
    )


def secret_source(secret: Secret) -> str:
    """Where this process would read a secret from; never the secret itself."""
    if secret.env:
        import os

        return f"from ${secret.env}" + ("" if os.environ.get(secret.env) else " (not set)")
    if secret.command:
        return "from a command in your config"
    if secret.value:
        return "from your config file"
    return "not set here"


class DeskSettingsService:
    """The one door to desk settings; see the module docstring."""

    def __init__(self, store: Store, local: Settings):
        self.store = store
        self.local = local
        self._local_desks = {d.slug: d for d in local.desks}
        self._local_emails = {e.address.strip().lower(): e for d in local.desks for e in d.emails if e.address}
        self._cache: dict[int, tuple[float, DeskConfig]] = {}

    # ------------------------------------------------------------ reading

    def _fallback(self, slug: str, name: str) -> DeskConfig:
        local = self._local_desks.get(slug)
        return config_from_local(local) if local is not None else DeskConfig(slug=slug, name=name)

    async def states(self, tx: Tx | None = None) -> list[DeskState]:
        """Every desk's settings, in desk order."""
        if tx is None:
            async with self.store.read() as rtx:
                return await self.states(rtx)
        rows = await tx.desk_settings_rows()
        out = []
        for desk in await tx.list_desks():
            row = rows.get(desk.id)
            if row is None:
                out.append(DeskState(desk.id, self._fallback(desk.slug, desk.name), 0))
                continue
            try:
                config = parse_desk(row.data)
            except SettingsInvalid as exc:  # written by a newer or broken writer: say so, keep going
                log.warning("desk %s: stored settings are not valid (%s); using defaults", desk.slug, exc)
                config = DeskConfig(slug=desk.slug, name=desk.name)
            out.append(DeskState(desk.id, config, row.version, row.updated_by, row.updated_at, row.imported_from))
        return out

    async def get(self, key: str | int | None = None, tx: Tx | None = None) -> DeskState:
        if tx is None:
            async with self.store.read() as rtx:
                return await self.get(key, rtx)
        desk = await tx.get_desk(key)
        row = await tx.desk_settings_row(desk.id)
        if row is None:
            return DeskState(desk.id, self._fallback(desk.slug, desk.name), 0)
        return DeskState(desk.id, parse_desk(row.data), row.version, row.updated_by, row.updated_at,
                         row.imported_from)

    async def config(self, desk_id: int, tx: Tx | None = None, *, fresh: bool = False) -> DeskConfig:
        """A desk's settings, reused for up to a second unless *fresh* (routing asks per ticket)."""
        hit = self._cache.get(desk_id)
        if hit and not fresh and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        config = (await self.get(desk_id, tx)).config
        self._cache[desk_id] = (time.monotonic(), config)
        return config

    async def automatic_desks(self) -> set[int]:
        """Ids of the desks that route tickets automatically (on, method not manual); reused for a second."""
        hit = getattr(self, "_automatic", None)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        ids = {s.desk_id for s in await self.states() if s.config.enabled and s.config.assignment != "manual"}
        self._automatic = (time.monotonic(), ids)
        return ids

    async def translation(self, desk_id: int) -> tuple[bool, str]:
        """(translation on, team language) of a desk: the one lookup translation uses."""
        config = await self.config(desk_id)
        return config.translation, config.team_language

    # ------------------------------------------------------------ runtime settings with local secrets

    def runtime(self, config: DeskConfig) -> DeskSettings:
        """The stored settings joined with this process's secrets (keyed by address and desk)."""
        local_desk = self._local_desks.get(config.slug)
        emails = []
        for e in config.emails:
            mine = self._local_emails.get(e.address)
            emails.append(EmailSettings(
                address=e.address, display_name=e.display_name, signature=e.signature, acknowledge=e.acknowledge,
                mailbox=e.mailbox, processed_folder=e.processed_folder, poll_seconds=e.poll_seconds,
                history=e.history, history_days=e.history_days,
                imap=MailAccount(e.imap.host, e.imap.port, e.imap.username,
                                 mine.imap.password if mine else Secret(label=f"{e.address} imap password"),
                                 e.imap.security),
                smtp=MailAccount(e.smtp.host, e.smtp.port, e.smtp.username,
                                 mine.smtp.password if mine else Secret(label=f"{e.address} smtp password"),
                                 e.smtp.security),
            ))
        chatbot = ChatbotSettings(
            base_url=config.chatbot_url, poll_seconds=config.chatbot_poll_seconds,
            api_key=local_desk.chatbot.api_key if local_desk else Secret(label="chatbot api key"),
        )
        return DeskSettings(
            slug=config.slug, name=config.name, enabled=config.enabled, reopen_days=config.reopen_days,
            emails=tuple(emails), assignment=config.assignment, shifts=tuple(s.shift() for s in config.shifts),
            next_shift_fallback=config.next_shift_fallback, translation=config.translation,
            team_language=config.team_language, chatbot=chatbot,
        )

    async def effective(self) -> Settings:
        """This process's settings with every desk's shared settings from the database."""
        desks = []
        for state in await self.states():
            local = self._local_desks.get(state.slug)
            # Not stored yet: the config file's desk as it is, secrets and all.
            desks.append(local if state.version == 0 and local is not None else self.runtime(state.config))
        return replace(self.local, desks=tuple(desks) or self.local.desks)

    def secrets(self, config: DeskConfig) -> dict[str, str]:
        """Where this process has each secret of the desk: {"sales@x imap password": "from $VAR", ...}."""
        out = {}
        local_desk = self._local_desks.get(config.slug)
        for e in config.emails:
            mine = self._local_emails.get(e.address)
            out[f"{e.address} imap password"] = secret_source(mine.imap.password) if mine else "not set here"
            out[f"{e.address} smtp password"] = secret_source(mine.smtp.password) if mine else "not set here"
        if config.chatbot_url:
            out["chatbot api key"] = secret_source(local_desk.chatbot.api_key) if local_desk else "not set here"
        return out

    # ------------------------------------------------------------ import once

    async def import_once(self) -> list[str]:
        """Store the config file's ``[[desks]]`` for desks with no stored settings; what was imported."""
        if not self.local.desks_declared:
            return []
        notes = []
        source = str(self.local.source) if self.local.source else "config"
        async with self.store.read() as tx:
            rows = await tx.desk_settings_rows()
            stored = {d.slug for d in await tx.list_desks() if d.id in rows}
        if all(d.slug in stored for d in self.local.desks):
            return []  # the usual start: imported long ago, no write transaction
        async with self.store.write() as tx:
            rows = await tx.desk_settings_rows()
            for local in self.local.desks:
                desk = await tx.ensure_desk(local.slug, local.name, local.reopen_days)
                if desk.id in rows:
                    continue
                try:
                    config = parse_desk(desk_doc(config_from_local(local)))
                except SettingsInvalid as exc:
                    notes.append(f"desk '{local.slug}': settings in {source} not imported: {exc}")
                    continue
                await tx.write_desk_settings(desk.id, desk_doc(config), expected_version=0, actor=None,
                                             imported_from=source)
                await tx.record_change(None, "settings", None)
                notes.append(f"desk '{local.slug}': settings imported from {source} into the database; "
                             "from now on the database is their source (edit them in the app or with helpdesk desk)")
        for note in notes:
            log.info("%s", note)  # the CLI and the app say it to the user
        return notes

    # ------------------------------------------------------------ saving

    async def save(self, actor: Agent, config_or_doc: DeskConfig | dict, *, expected_version: int | None,
                   base: DeskConfig | None = None) -> DeskState:
        """Check every field, then save if nobody saved since *expected_version*.

        Bad fields raise :class:`SettingsInvalid` (nothing saved); a lost race
        raises :class:`SettingsConflict` listing what changed since *base*.
        """
        if not actor.is_admin:
            raise PermissionDenied("only an admin can change desk settings")
        doc = desk_doc(config_or_doc) if isinstance(config_or_doc, DeskConfig) else config_or_doc
        config = parse_desk(doc)
        async with self.store.write() as tx:
            states = {s.slug: s for s in await self.states(tx)}
            current = states.get(config.slug)
            if current is None:
                raise NotFound(f"no desk '{config.slug}' (create it with: helpdesk desk add {config.slug})")
            errors = self._cross_checks(config, states)
            shift_names = {s.name for s in config.shifts}
            stranded = [a.login for a in await tx.list_agents()
                        if a.shift and a.shift in {s.name for s in current.config.shifts} - shift_names
                        and not any(a.shift in {x.name for x in st.config.shifts}
                                    for slug, st in states.items() if slug != config.slug)]
            if stranded:
                errors["scheduling.shifts"] = (f"{', '.join(stranded)} still on a removed shift; "
                                               "move them to another shift first")
            if errors:
                raise SettingsInvalid(errors)
            version = await tx.write_desk_settings(
                current.desk_id, desk_doc(config),
                expected_version=current.version if expected_version is None else expected_version,
                actor=actor.name)
            if version is None:
                raise SettingsConflict(config.slug, diff(desk_doc(base or current.config), desk_doc(current.config)),
                                       current.updated_by)
            await tx.update_desk_row(current.desk_id, name=config.name, enabled=config.enabled,
                                     reopen_days=config.reopen_days)
            await tx.record_change(None, "settings", actor.id)
        self._cache.pop(current.desk_id, None)
        self._automatic = None
        return await self.get(current.desk_id)

    @staticmethod
    def _cross_checks(config: DeskConfig, states: dict[str, DeskState]) -> dict[str, str]:
        errors = {}
        for i, e in enumerate(config.emails):
            for slug, other in states.items():
                if slug != config.slug and any(x.address == e.address for x in other.config.emails):
                    errors[f"email[{i}].address"] = f"{e.address} already belongs to desk '{slug}'"
        return errors

    async def add_desk(self, actor: Agent, slug: str, name: str) -> DeskState:
        if not actor.is_admin:
            raise PermissionDenied("only an admin can add desks")
        config = parse_desk({"slug": slug, "name": name or slug})
        async with self.store.write() as tx:
            if any(d.slug == config.slug for d in await tx.list_desks()):
                raise UsageError(f"desk '{config.slug}' already exists")
            desk_id = await tx.add_desk(config.slug, config.name)
            await tx.write_desk_settings(desk_id, desk_doc(config), expected_version=0, actor=actor.name)
            await tx.record_change(None, "settings", actor.id)
        return await self.get(config.slug)

    # ------------------------------------------------------------ agents' schedules

    async def schedules(self, tx: Tx | None = None) -> list[AgentSchedule]:
        if tx is None:
            async with self.store.read() as rtx:
                return await self.schedules(rtx)
        off = await tx.time_off()
        return [AgentSchedule(a.login, a.shift, a.max_open, tuple(tuple(r) for r in off.get(a.id, [])))
                for a in await tx.list_agents()]

    async def set_schedule(self, actor: Agent, login: str, *, shift: str | None = None,
                           max_open: int | None = None, time_off: list[tuple] | None = None) -> AgentSchedule:
        """Change an agent's shift ('' clears it), cap or time off (replacing the list); admins only."""
        if not actor.is_admin:
            raise PermissionDenied("only an admin can change shifts, caps and time off")
        errors = {}
        if max_open is not None and max_open < 0:
            errors["max_open"] = "max open tickets is 0 (no cap) or more"
        for start, end in time_off or []:
            if end < start:
                errors["time_off"] = f"{start}..{end} ends before it starts"
        async with self.store.write() as tx:
            agent = await tx.find_agent(login)
            if agent is None:
                raise NotFound(f"no agent '{login}'")
            if shift:
                known = sorted({s.name for st in await self.states(tx) for s in st.config.shifts})
                if shift not in known:
                    errors["shift"] = (f"unknown shift {shift!r} "
                                       f"({'shifts: ' + ', '.join(known) if known else 'no shifts are configured'})")
            if errors:
                raise SettingsInvalid(errors)
            changes: dict = {}
            if shift is not None:
                changes["shift"] = shift or None
            if max_open is not None:
                changes["max_open"] = max_open
            if changes:
                await tx.update_agent(agent.id, **changes)
            if time_off is not None:
                await tx.replace_time_off(agent.id, sorted(time_off))
            await tx.record_change(None, "settings", actor.id)
        return next(s for s in await self.schedules() if s.login == agent.login)

    # ------------------------------------------------------------ shifts

    async def put_shift(self, actor: Agent, desk: str | int | None, name: str, timezone: str | None,
                        hours: dict[str, str] | None, *, create: bool) -> DeskState:
        state = await self.get(desk)
        shifts = [s for s in state.config.shifts]
        existing = next((s for s in shifts if s.name == name), None)
        if create and existing:
            raise UsageError(f"desk '{state.slug}' already has a shift named {name!r} (change it with: shift set)")
        if not create and existing is None:
            raise NotFound(f"desk '{state.slug}' has no shift named {name!r}")
        merged = dict(existing.hours) if existing else {}
        for day, span in (hours or {}).items():
            if span in ("", "off", "-"):
                merged.pop(day, None)
            else:
                merged[day] = span
        new = ShiftConfig(name, timezone or (existing.timezone if existing else "UTC"), tuple(merged.items()))
        shifts = [new if s.name == name else s for s in shifts] if existing else shifts + [new]
        doc = desk_doc(replace(state.config, shifts=()))
        doc["scheduling"]["shifts"] = [{"name": s.name, "timezone": s.timezone, "hours": dict(s.hours)} for s in shifts]
        return await self.save(actor, doc, expected_version=state.version, base=state.config)

    async def delete_shift(self, actor: Agent, desk: str | int | None, name: str) -> DeskState:
        state = await self.get(desk)
        if not any(s.name == name for s in state.config.shifts):
            raise NotFound(f"desk '{state.slug}' has no shift named {name!r}")
        config = replace(state.config, shifts=tuple(s for s in state.config.shifts if s.name != name))
        return await self.save(actor, config, expected_version=state.version, base=state.config)

    # ------------------------------------------------------------ export / apply

    async def export(self, slug: str | None = None) -> str:
        states = await self.states()
        if slug:
            states = [s for s in states if s.slug == slug.lower()]
            if not states:
                raise NotFound(f"no desk '{slug}'")
        doc = {"desks": [desk_doc(s.config) for s in states],
               "agents": [agent_doc(a) for a in await self.schedules()]}
        return ("# Desk settings, written by `helpdesk desk export`; read back with `helpdesk desk apply FILE`.\n"
                "# No secrets here: passwords and API keys stay in each process's own config.\n\n" + dumps(doc))

    async def plan(self, text: str) -> tuple[list[tuple[DeskState | None, DeskConfig, list[str]]],
                                             list[tuple[AgentSchedule, list[str]]]]:
        """Parse an exported file and say what applying it would change (nothing is written)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"not valid TOML: {exc}") from None
        states = {s.slug: s for s in await self.states()}
        desks = []
        errors: dict[str, str] = {}
        for i, doc in enumerate(data.get("desks", []) or []):
            try:
                config = parse_desk(doc)
            except SettingsInvalid as exc:
                errors.update({f"desks[{i}].{k}": v for k, v in exc.errors.items()})
                continue
            current = states.get(config.slug)
            changes = diff(desk_doc(current.config) if current else {}, desk_doc(config))
            desks.append((current, config, changes))
        shift_names = {s.name for _, c, _ in desks for s in c.shifts} | {
            s.name for slug, st in states.items() if slug not in {c.slug for _, c, _ in desks} for s in st.config.shifts}
        agents = []
        try:
            schedules = parse_agents(data.get("agents", []) or [], shift_names)
        except SettingsInvalid as exc:
            errors.update(exc.errors)
            schedules = []
        current_agents = {a.login.lower(): a for a in await self.schedules()}
        for schedule in schedules:
            now = current_agents.get(schedule.login.lower())
            if now is None:
                errors[f"agents.{schedule.login}"] = f"no agent '{schedule.login}' (add them first: helpdesk agent add)"
                continue
            changes = diff(agent_doc(now), agent_doc(replace(schedule, login=now.login)))
            agents.append((replace(schedule, login=now.login), [f"agents[{now.login}].{c}" for c in changes]))
        if errors:
            raise SettingsInvalid(errors)
        return desks, agents

    async def apply(self, actor: Agent, text: str) -> list[str]:
        """Apply an exported file; returns the changes made."""
        desks, agents = await self.plan(text)
        made = []
        for current, config, changes in desks:
            if not changes:
                continue
            if current is None:
                await self.add_desk(actor, config.slug, config.name)
                current = await self.get(config.slug)
            await self.save(actor, config, expected_version=current.version, base=current.config)
            made += [f"desks[{config.slug}].{c}" for c in changes]
        for schedule, changes in agents:
            if changes:
                await self.set_schedule(actor, schedule.login, shift=schedule.shift or "", max_open=schedule.max_open,
                                        time_off=list(schedule.time_off))
                made += changes
        return made
