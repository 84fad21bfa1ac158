"""The Settings screen: desk switcher, on/off, Assignment, Scheduling (with a week view), Email, Translation, Agents.

Admins edit and save with ``ctrl+s``; agents see the same fields read-only.
A save checks every field first: a bad one is named under its tab and
nothing is saved. When another admin saved the desk meanwhile, the save is
refused and says what they changed. A ``settings`` change from another
terminal reloads the form when nothing is being edited.

Shifts and email addresses are edited as small TOML tables (the same shape
``helpdesk desk export`` writes). Every string shown comes from the database
or another person and is shown as plain text, never markup.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Select, Static, Switch, TabbedContent, TabPane, TextArea

from ...domain.assignment import render_week
from ...domain.desk_config import DeskConfig, SettingsInvalid, desk_doc, parse_desk, parse_range
from ...domain.errors import HelpdeskError
from ...domain.model import Agent
from ...domain.toml_out import dumps
from ..feed import FeedChanged
from ..text import line, plain

if TYPE_CHECKING:
    from ...bootstrap import Helpdesk
    from ...services.desk_settings import DeskState

ALL_DESKS = "*"
TABS = ("desk", "assignment", "scheduling", "email", "translation", "agents")
# Which tab shows an error for a field path (its first part).
TAB_OF = {"enabled": "desk", "name": "desk", "reopen_days": "desk", "slug": "desk", "assignment": "assignment",
          "scheduling": "scheduling", "email": "email", "translation": "translation", "chatbot": "translation"}
METHODS = (("Manual: tickets wait to be claimed", "manual"), ("Balanced: fewest open tickets", "balanced"),
           ("Round robin: least recently assigned", "round_robin"))


def viewer_zone():
    return datetime.now().astimezone().tzinfo


class SettingsScreen(Screen):
    """See the module docstring."""

    BINDINGS = [
        Binding("escape", "back", "Back", show=True),
        Binding("ctrl+s", "save", "Save", show=True, priority=True),
        Binding("ctrl+r", "reload", "Reload", show=True),
    ]
    DEFAULT_CSS = """
    SettingsScreen { layout: vertical; }
    SettingsScreen #switcher { height: 3; }
    SettingsScreen #switcher Label { padding: 1 1; }
    SettingsScreen #desk-select { width: 40; }
    SettingsScreen .field { height: auto; }
    SettingsScreen .field Label { width: 26; padding: 1 1 0 0; }
    SettingsScreen .field Input { width: 40; }
    SettingsScreen .error { color: $error; height: auto; }
    SettingsScreen TextArea { height: 12; }
    SettingsScreen #week { height: auto; }
    SettingsScreen #footer-line { height: 1; dock: bottom; }
    """

    def __init__(self, hd: "Helpdesk", me: Agent, *, now=None, desk: str | None = None) -> None:
        super().__init__()
        self.hd = hd
        self.me = me
        self.now = now or (lambda: datetime.now(timezone.utc).replace(tzinfo=None))
        self.state: "DeskState | None" = None
        self.states: list["DeskState"] = []
        self.first_desk = desk
        self._loading = False
        self._shown: str | None = None  # the desk (or All desks) the form shows

    @property
    def editable(self) -> bool:
        return self.me.is_admin and self.state is not None

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="switcher"):
            yield Label("Desk")
            yield Select([], id="desk-select", allow_blank=True, prompt="choose a desk")
            yield Label("", id="mode")
        with TabbedContent(id="tabs"):
            with TabPane("Help desk", id="desk"):
                with VerticalScroll():
                    yield self._field("Help desk on", Switch(id="enabled"))
                    yield self._field("Name", Input(id="name"))
                    yield self._field("Reopen window (days)", Input(id="reopen_days"))
                    yield Static("", id="err-desk", classes="error")
                    yield Static("", id="all-desks")
            with TabPane("Assignment", id="assignment"):
                with VerticalScroll():
                    yield self._field("Method", Select(METHODS, id="method", allow_blank=False))
                    yield self._field("Next-shift fallback", Switch(id="fallback"))
                    yield Static("Caps per agent are on the Agents tab.", classes="hint")
                    yield Static("", id="err-assignment", classes="error")
            with TabPane("Scheduling", id="scheduling"):
                with VerticalScroll():
                    yield Static("Shifts (name, timezone, hours per weekday HH:MM-HH:MM; end ≤ start runs overnight):")
                    yield TextArea("", id="shifts", language=None)
                    yield Static("", id="err-scheduling", classes="error")
                    yield Static("", id="week")
            with TabPane("Email", id="email"):
                with VerticalScroll():
                    yield Static("Addresses (IMAP/SMTP host, port, username, security, folder, poll interval, "
                                 "display name, signature, acknowledgement). Passwords stay in each process's "
                                 "own config.")
                    yield TextArea("", id="emails", language=None)
                    yield Static("", id="err-email", classes="error")
                    yield Static("", id="secrets")
                    yield Button("Test connection", id="test-mail")
                    yield Static("", id="test-result")
            with TabPane("Translation", id="translation"):
                with VerticalScroll():
                    yield self._field("Translate messages", Switch(id="translation-on"))
                    yield self._field("Team language", Input(id="language"))
                    yield self._field("Chatbot platform URL", Input(id="chatbot_url"))
                    yield Static("", id="err-translation", classes="error")
            with TabPane("Agents", id="agents"):
                with VerticalScroll():
                    yield Static("", id="agent-table")
                    yield self._field("Login", Input(id="agent-login"))
                    yield self._field("Shift (blank: keep; none)", Input(id="agent-shift"))
                    yield self._field("Max open (0 = no cap)", Input(id="agent-cap"))
                    yield self._field("Time off (A..B, …; none)", Input(id="agent-off"))
                    with Horizontal(classes="field"):
                        yield Button("Save agent", id="agent-save")
                        yield Button("Deactivate", id="agent-deactivate", variant="error")
                        yield Button("Activate", id="agent-activate")
                    yield self._field("Add: login", Input(id="new-login"))
                    yield self._field("Add: name", Input(id="new-name"))
                    yield self._field("Add: email", Input(id="new-email"))
                    yield self._field("Add: role (agent/admin)", Input("agent", id="new-role"))
                    yield self._field("Add: max open (0 = no cap)", Input("0", id="new-cap"))
                    yield Button("Add agent", id="agent-add")
                    yield Static("", id="err-agents", classes="error")
        yield Static("", id="footer-line")

    @staticmethod
    def _field(label: str, widget) -> Horizontal:
        return Horizontal(Label(label), widget, classes="field")

    def on_mount(self) -> None:
        self.load()

    # ------------------------------------------------------------ loading

    @work(exclusive=True, group="settings-load", exit_on_error=False)
    async def load(self, slug: str | None = None) -> None:
        self.states = await self.hd.desk_settings.states()
        self.schedules = await self.hd.desk_settings.schedules()
        self.agents = await self.hd.agents.list(include_inactive=True)
        select = self.query_one("#desk-select", Select)
        # Desk names are typed by people: plain text, never markup.
        options = [(line(s.config.name or s.slug, 60), s.slug) for s in self.states]
        if len(self.states) > 1:
            options.append(("All desks", ALL_DESKS))
        self._loading = True
        select.set_options(options)
        scoped = next((s.slug for s in self.states if s.desk_id == self.hd.views.desk_id), None)
        wanted = slug or (self.state.slug if self.state else None) or self.first_desk or scoped or \
            (self.states[0].slug if self.states else None)
        if wanted:
            select.value = wanted
        self._loading = False
        self.show(wanted)

    def show(self, slug: str | None) -> None:
        self._shown = slug
        self.state = next((s for s in self.states if s.slug == slug), None)
        all_desks = self.query_one("#all-desks", Static)
        if slug == ALL_DESKS:
            all_desks.update(Text("\n".join(
                f"{s.slug:<16} {'on ' if s.config.enabled else 'off'} {s.config.assignment:<12} "
                f"{len(s.config.emails)} address(es), {len(s.config.shifts)} shift(s)" for s in self.states)))
        else:
            all_desks.update("")
        config = self.state.config if self.state else DeskConfig(slug="", name="")
        self._loading = True
        self.query_one("#enabled", Switch).value = config.enabled
        self.query_one("#name", Input).value = config.name
        self.query_one("#reopen_days", Input).value = str(config.reopen_days)
        self.query_one("#method", Select).value = config.assignment
        self.query_one("#fallback", Switch).value = config.next_shift_fallback
        self.query_one("#shifts", TextArea).text = _shifts_text(config)
        self.query_one("#emails", TextArea).text = _emails_text(config)
        self.query_one("#translation-on", Switch).value = config.translation
        self.query_one("#language", Input).value = config.team_language
        self.query_one("#chatbot_url", Input).value = config.chatbot_url
        self._loading = False
        self.show_errors({})
        self._readonly(not self.editable)
        self._week(config)
        self._secrets(config)
        self._agents()
        who = "read-only: only an admin can change settings" if not self.me.is_admin else (
            f"version {self.state.version}" if self.state and self.state.version else "not saved yet")
        self.query_one("#mode", Label).update(Text(who))
        self.query_one("#footer-line", Static).update(
            Text("ctrl+s save · ctrl+r reload · escape back" if self.me.is_admin else "ctrl+r reload · escape back"))

    @work(exclusive=True, group="settings-follow", exit_on_error=False)
    async def follow_desk(self) -> None:
        apply = getattr(self.app, "apply_changes", None)
        if apply is not None:
            await apply([])

    def _readonly(self, readonly: bool) -> None:
        for widget in self.query("Input, Switch, TextArea, Button").results():
            if widget.id != "desk-select":
                widget.disabled = readonly
        self.query_one("#method", Select).disabled = readonly

    def _week(self, config: DeskConfig) -> None:
        try:
            shifts = config.shift_map()
        except HelpdeskError:
            shifts = {}
        zone = viewer_zone()
        now = self.now().replace(tzinfo=timezone.utc).astimezone(zone)
        monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        names = set(shifts)
        rows = [(f"{a.login} ({a.shift})", a.shift) for a in self.agents if a.active and a.shift in names]
        rows += [(f"[{name}]", name) for name in sorted(names)
                 if not any(a.active and a.shift == name for a in self.agents)]
        lines = render_week(rows, shifts, monday) if rows else ["No shifts yet: agents are assigned by availability."]
        zone_name = getattr(zone, "key", None) or now.strftime("%Z")
        self.query_one("#week", Static).update(Text(f"Week of {monday:%Y-%m-%d}, your time ({zone_name}); "
                                                    f"each cell is two hours\n" + "\n".join(lines)))

    def _secrets(self, config: DeskConfig) -> None:
        lines = [f"{label}: {source}" for label, source in self.hd.desk_settings.secrets(config).items()]
        self.query_one("#secrets", Static).update(Text("\n".join(lines) or "No address yet."))

    def _agents(self) -> None:
        off = {s.login: s for s in self.schedules}
        lines = [f"{'login':<14} {'name':<22} {'role':<6} {'shift':<12} {'cap':>4}  time off"]
        for a in self.agents:
            s = off.get(a.login)
            ranges = ", ".join(f"{x}..{y}" for x, y in s.time_off) if s else ""
            if not a.active:
                lines.append(f"{a.login[:14]:<14} {a.name[:22]:<22} deactivated (never assigned; Activate brings back)")
                continue
            lines.append(f"{a.login[:14]:<14} {a.name[:22]:<22} {a.role.value:<6} {(a.shift or '-')[:12]:<12} "
                         f"{a.max_open or '-':>4}  {ranges}")
        self.query_one("#agent-table", Static).update(Text("\n".join(lines)))

    # ------------------------------------------------------------ editing

    @on(Select.Changed, "#desk-select")
    def _desk_chosen(self, event: Select.Changed) -> None:
        # Setting the options on a reload posts Changed (blank, then the same desk) after the
        # reload is done: only a real change of desk may redraw the form, or it would empty
        # it, drop the focus and lose what is being typed.
        if self._loading or not isinstance(event.value, str) or event.value == self._shown:
            return
        self.show(event.value)
        if len(self.states) > 1:
            # With several desks, the rail and the views follow the chosen desk ("All desks": every one).
            self.hd.views.desk_id = self.state.desk_id if self.state else None
            self.follow_desk()

    def edited(self) -> bool:
        """Whether the form differs from the settings it was loaded with (an unparsable form counts as edited)."""
        if self.state is None or not self.editable:
            return False
        doc, errors = self.form_doc()
        if errors:
            return True
        try:
            return parse_desk(doc) != self.state.config
        except SettingsInvalid:
            return True

    def form_doc(self) -> tuple[dict, dict[str, str]]:
        """The form as a settings document, and the errors found before the domain's checks (TOML syntax)."""
        assert self.state is not None
        doc = desk_doc(self.state.config)
        errors: dict[str, str] = {}
        doc["enabled"] = self.query_one("#enabled", Switch).value
        doc["name"] = self.query_one("#name", Input).value
        doc["reopen_days"] = self.query_one("#reopen_days", Input).value
        doc["assignment"] = {"method": self.query_one("#method", Select).value,
                             "next_shift_fallback": self.query_one("#fallback", Switch).value}
        for area, key, target in (("#shifts", "shifts", "scheduling"), ("#emails", "email", "email")):
            try:
                parsed = tomllib.loads(self.query_one(area, TextArea).text).get(key, [])
            except tomllib.TOMLDecodeError as exc:
                errors[target if target == "email" else "scheduling.shifts"] = f"not valid TOML: {exc}"
                continue
            if target == "email":
                doc["email"] = parsed
            else:
                doc["scheduling"] = {"shifts": parsed}
        doc["translation"] = {"enabled": self.query_one("#translation-on", Switch).value,
                              "language": self.query_one("#language", Input).value.strip()}
        doc["chatbot"] = dict(doc["chatbot"], base_url=self.query_one("#chatbot_url", Input).value.strip())
        return doc, errors

    def show_errors(self, errors: dict[str, str]) -> None:
        by_tab: dict[str, list[str]] = {tab: [] for tab in TABS}
        for path, message in errors.items():
            tab = TAB_OF.get(path.split(".")[0].split("[")[0], "desk")
            by_tab[tab].append(f"✗ {path}: {message}")
        for tab in TABS:
            self.query_one(f"#err-{tab}", Static).update(Text("\n".join(by_tab[tab])))
        if errors:
            first = next(tab for tab in TABS if by_tab[tab])
            self.query_one("#tabs", TabbedContent).active = first

    def action_save(self) -> None:
        if not self.editable:
            self.notify("Only an admin can change desk settings.", severity="warning")
            return
        self.save()

    @work(exclusive=True, group="settings-save", exit_on_error=False)
    async def save(self) -> None:
        from ...services.desk_settings import SettingsConflict

        doc, errors = self.form_doc()
        if errors:
            self.show_errors(errors)
            self.notify(f"Not saved: {len(errors)} field(s) to fix.", severity="error")
            return
        try:
            saved = await self.hd.desk_settings.save(self.me, doc, expected_version=self.state.version,
                                                     base=self.state.config)
        except SettingsInvalid as exc:
            self.show_errors(exc.errors)
            self.notify(f"Not saved: {len(exc.errors)} field(s) to fix.", severity="error")
            return
        except SettingsConflict as exc:
            self.notify(plain(str(exc)), severity="error", title="Changed meanwhile", timeout=12)
            self.conflict = exc.changed
            return
        except HelpdeskError as exc:
            self.notify(plain(str(exc)), severity="error")
            return
        self.notify(f"Saved desk '{saved.slug}' (version {saved.version}).", timeout=3)
        await self._reload_after_save(saved.slug)

    async def _reload_after_save(self, slug: str) -> None:
        self.states = await self.hd.desk_settings.states()
        self.show(slug)

    # ------------------------------------------------------------ email

    @on(Button.Pressed, "#test-mail")
    def _test_mail(self) -> None:
        self.test_mail()

    @work(exclusive=True, group="settings-test-mail", exit_on_error=False)
    async def test_mail(self) -> None:
        """Log in to every saved address of the desk with this process's passwords."""
        result = self.query_one("#test-result", Static)
        if self.state is None or not self.state.config.emails:
            result.update(Text("No saved address to test."))
            return
        result.update(Text("Testing…"))
        lines = []
        for email in self.state.config.emails:
            for what, ok, detail in await self.hd.test_mail_connection(email.address):
                lines.append(f"{'✓' if ok else '✗'} {email.address} {what}: {detail}")
        result.update(Text("\n".join(lines)))

    # ------------------------------------------------------------ agents

    @on(Button.Pressed, "#agent-save")
    def _agent_save(self) -> None:
        self.save_agent()

    @work(exclusive=True, group="settings-agent", exit_on_error=False)
    async def save_agent(self) -> None:
        login = self.query_one("#agent-login", Input).value.strip()
        shift_text = self.query_one("#agent-shift", Input).value.strip()
        # Blank keeps the agent's shift; "none" takes them off every shift.
        shift = None if not shift_text else "" if shift_text.lower() in ("none", "-") else shift_text
        cap_text = self.query_one("#agent-cap", Input).value.strip()
        off_text = self.query_one("#agent-off", Input).value.strip()
        errors: dict[str, str] = {}
        cap = None
        if cap_text:
            try:
                cap = int(cap_text)
            except ValueError:
                errors["max_open"] = f"must be a whole number, not {cap_text!r}"
            else:
                if cap < 0:
                    errors["max_open"] = "max open tickets is 0 (no cap) or more"
        ranges = None
        if off_text.lower() in ("none", "-"):
            ranges = []
        elif off_text:
            ranges = []
            for part in off_text.split(","):
                try:
                    ranges.append(parse_range(part))
                except HelpdeskError as exc:
                    errors["time_off"] = str(exc)
        if not errors:
            try:
                await self.hd.desk_settings.set_schedule(self.me, login, shift=shift, max_open=cap, time_off=ranges)
            except SettingsInvalid as exc:
                errors = exc.errors
            except HelpdeskError as exc:
                errors = {"login": str(exc)}
        self.query_one("#err-agents", Static).update(Text("\n".join(f"✗ {k}: {v}" for k, v in errors.items())))
        if not errors:
            self.notify(f"Saved {login}.", timeout=2)
            await self._refresh_agents()

    @on(Button.Pressed, "#agent-deactivate")
    def _agent_deactivate(self) -> None:
        from ..dialogs import ConfirmDialog

        login = self.query_one("#agent-login", Input).value.strip()
        if not login:
            self.query_one("#err-agents", Static).update(Text("✗ login: type the login to deactivate"))
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.deactivate_agent(login)

        self.app.push_screen(ConfirmDialog(Text(f"Deactivate {login}? Their tickets stay; they get no new ones."),
                                           confirm="Deactivate", cancel="Keep"), answered)

    @work(exclusive=True, group="settings-agent", exit_on_error=False)
    async def deactivate_agent(self, login: str) -> None:
        try:
            await self.hd.agents.deactivate(self.me, login)
        except HelpdeskError as exc:
            self.query_one("#err-agents", Static).update(Text(f"✗ {plain(str(exc))}"))
            return
        self.query_one("#err-agents", Static).update("")
        self.notify(f"Deactivated {login}.", timeout=2)
        await self._refresh_agents()

    @on(Button.Pressed, "#agent-activate")
    def _agent_activate(self) -> None:
        login = self.query_one("#agent-login", Input).value.strip()
        if not login:
            self.query_one("#err-agents", Static).update(Text("✗ login: type the login to activate"))
            return
        self.activate_agent(login)

    @work(exclusive=True, group="settings-agent", exit_on_error=False)
    async def activate_agent(self, login: str) -> None:
        try:
            await self.hd.agents.activate(self.me, login)
        except HelpdeskError as exc:
            self.query_one("#err-agents", Static).update(Text(f"✗ {plain(str(exc))}"))
            return
        self.query_one("#err-agents", Static).update("")
        self.notify(f"Activated {login}.", timeout=2)
        await self._refresh_agents()

    @on(Button.Pressed, "#agent-add")
    def _agent_add(self) -> None:
        self.add_agent()

    @work(exclusive=True, group="settings-agent", exit_on_error=False)
    async def add_agent(self) -> None:
        values = {k: self.query_one(f"#new-{k}", Input).value.strip() for k in ("login", "name", "email", "role", "cap")}
        cap_text = values["cap"] or "0"
        if not cap_text.isdigit():  # checked before anything is written: a bad cap adds nobody
            self.query_one("#err-agents", Static).update(Text(
                f"✗ max_open: max open tickets is 0 (no cap) or more, not {cap_text[:20]!r}"))
            return
        try:
            await self.hd.agents.add(self.me, values["login"], name=values["name"], email=values["email"],
                                     role=values["role"] or "agent")
            if int(cap_text):
                await self.hd.desk_settings.set_schedule(self.me, values["login"], max_open=int(cap_text))
        except HelpdeskError as exc:
            self.query_one("#err-agents", Static).update(Text(f"✗ {plain(str(exc))}"))
            return
        self.query_one("#err-agents", Static).update("")
        self.notify(f"Added {values['login']}.", timeout=2)
        await self._refresh_agents()

    async def _refresh_agents(self) -> None:
        self.schedules = await self.hd.desk_settings.schedules()
        self.agents = await self.hd.agents.list(include_inactive=True)
        self._agents()
        if self.state:
            self._week(self.state.config)

    # ------------------------------------------------------------ live

    def on_feed_changed(self, event: FeedChanged) -> None:
        # A form being edited is left alone; its save will say what changed meanwhile.
        if any(c.kind in ("settings", "agent") for c in event.changes) and not self.edited():
            self.load(self.state.slug if self.state else None)

    def action_reload(self) -> None:
        """Read the settings again (after another admin's save), dropping unsaved edits."""
        self.load(self.state.slug if self.state else None)

    def action_back(self) -> None:
        self.app.pop_screen()


def _shifts_text(config: DeskConfig) -> str:
    if not config.shifts:
        return '# [[shifts]]\n# name = "day"\n# timezone = "Europe/Lisbon"\n# hours = { mon = "09:00-17:00" }\n'
    return dumps({"shifts": [{"name": s.name, "timezone": s.timezone, "hours": dict(s.hours)}
                             for s in config.shifts]})


def _emails_text(config: DeskConfig) -> str:
    if not config.emails:
        return ('# [[email]]\n# address = "support@example.com"\n'
                '# imap = { host = "imap.example.com", port = 993, username = "support@example.com" }\n'
                '# smtp = { host = "smtp.example.com", port = 465, username = "support@example.com" }\n')
    return dumps({"email": desk_doc(config)["email"]})
