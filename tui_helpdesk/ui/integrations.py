"""API tokens and webhooks, for admins: the settings screen of the public API.

Opened from the command palette ("API tokens and webhooks"). It lists the
desk's tokens (never their values) and webhook subscriptions with their state
— a subscription paused after repeated failures says so — and makes a new
token or subscription, showing its token or signing secret once, revokes a
token, removes a subscription and pauses or resumes one. URLs and names are
shown as plain text.
"""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.command import Hit, Hits, Provider
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ..domain.errors import HelpdeskError
from ..domain.text import one_line
from . import keymap
from .dialogs import CSS_FILE, ConfirmDialog
from .keys import INTEGRATION_KEYS
from .text import line


class IntegrationsScreen(ModalScreen[None]):
    CSS_PATH = CSS_FILE
    BINDINGS = keymap.bindings(INTEGRATION_KEYS)

    def __init__(self, hd, me) -> None:
        super().__init__(classes="modal-dialog")
        self.hd = hd
        self.me = me
        self.rows: list[tuple[str, object]] = []  # ("token" | "webhook", record), as listed
        self.asking: str | None = None  # "token" | "webhook" while the input is open
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box", id="integrations"):
            yield Static(Text("API tokens and webhooks", style="bold", end=""), classes="dialog-title")
            yield OptionList(id="items", classes="dialog-options")
            yield Input(id="ask", classes="dialog-input")
            yield Static("", id="shown", classes="dialog-body")
            yield Static(Text("t new token · w new webhook · r revoke/remove · p pause/resume · esc close",
                              style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#ask", Input).display = False
        self.query_one("#items", OptionList).focus()
        self.reload()

    # ------------------------------------------------------------- listing

    @work(group="integrations", exclusive=True, exit_on_error=False)
    async def reload(self) -> None:
        try:
            tokens = await self.hd.api_access.tokens(self.me)
            hooks = await self.hd.webhooks.list(self.me)
        except HelpdeskError as exc:
            self._say(Text(str(exc), style="bold red"))
            self.loaded = True
            return
        options = self.query_one("#items", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        self.rows = []
        for t in tokens:
            state = Text(" revoked", style="dim") if t.revoked_at else Text(" active", style="green")
            label = line(f"token {t.id}  hd_{t.prefix}_…  {','.join(t.scopes):<10} {one_line(t.name, 40)}") + state
            self.rows.append(("token", t))
            options.add_option(Option(label))
        for h in hooks:
            if h.state == "paused":
                state = Text(f"  PAUSED: {one_line(h.paused_reason or '', 50)}", style="bold yellow")
            else:
                state = Text(f"  active, {h.failures} failure(s) in a row", style="green" if not h.failures else "yellow")
            label = line(f"webhook {h.id}  {one_line(h.url, 60)}  [{', '.join(e.split('.')[-1] for e in h.events)}]")
            self.rows.append(("webhook", h))
            options.add_option(Option(label + state))
        if not self.rows:
            options.add_option(Option(Text("No API tokens or webhooks yet.", style="dim"), disabled=True))
        if highlighted is not None and self.rows:
            options.highlighted = min(highlighted, len(self.rows) - 1)
        self.loaded = True

    def _say(self, text: Text | str) -> None:
        self.query_one("#shown", Static).update(text)

    def _selected(self) -> tuple[str, object] | None:
        index = self.query_one("#items", OptionList).highlighted
        return self.rows[index] if index is not None and 0 <= index < len(self.rows) else None

    # ------------------------------------------------------------- actions

    def _ask(self, what: str, placeholder: str) -> None:
        ask = self.query_one("#ask", Input)
        self.asking = what
        ask.value = ""
        ask.placeholder = placeholder
        ask.display = True
        ask.focus()

    def action_new_token(self) -> None:
        self._ask("token", "what will use the token? e.g. web form (enter makes it)")

    def action_new_webhook(self) -> None:
        self._ask("webhook", "https://… URL to send ticket events to (enter subscribes it to all)")

    def action_close(self) -> None:
        if self.asking:
            self.asking = None
            self.query_one("#ask", Input).display = False
            self.query_one("#items", OptionList).focus()
            return
        self.dismiss(None)

    @on(Input.Submitted, "#ask")
    def _submitted(self, event: Input.Submitted) -> None:
        what, self.asking = self.asking, None
        event.input.display = False
        self.query_one("#items", OptionList).focus()
        if what and event.value.strip():
            self._create(what, event.value.strip())

    @work(group="integrations-write", exit_on_error=False)
    async def _create(self, what: str, value: str) -> None:
        try:
            if what == "token":
                record, secret = await self.hd.api_access.create_token(self.me, value)
                said = f"Token {record.id} — shown only now, copy it: "
            else:
                record, secret = await self.hd.webhooks.add(self.me, value)
                said = f"Webhook {record.id} signing secret — shown only now, copy it: "
        except HelpdeskError as exc:
            self._say(Text(one_line(str(exc)), style="bold red"))
            return
        self._say(Text(said, style="bold") + Text(secret, end=""))
        self.reload()

    def action_revoke(self) -> None:
        row = self._selected()
        if row is None:
            return
        kind, record = row
        if kind == "token":
            if record.revoked_at:
                return
            title = line(f"Revoke token {record.id} ({one_line(record.name, 40)})? Integrations using it stop working.")
        else:
            title = line(f"Remove webhook {record.id} ({one_line(record.url, 50)})? Its pending deliveries are dropped.")
        self.app.push_screen(ConfirmDialog(title, confirm="Revoke" if kind == "token" else "Remove", warning=True),
                             partial(self._revoke_confirmed, kind, record.id))

    def _revoke_confirmed(self, kind: str, ident: int, yes: bool | None) -> None:
        if yes:
            self._change(kind, ident, "revoke")

    def action_toggle_pause(self) -> None:
        row = self._selected()
        if row is not None and row[0] == "webhook":
            self._change("webhook", row[1].id, "resume" if row[1].state == "paused" else "pause")

    @work(group="integrations-write", exit_on_error=False)
    async def _change(self, kind: str, ident: int, what: str) -> None:
        try:
            if kind == "token":
                await self.hd.api_access.revoke_token(self.me, ident)
                self._say(f"Token {ident} revoked.")
            elif what == "revoke":
                await self.hd.webhooks.remove(self.me, ident)
                self._say(f"Webhook {ident} removed.")
            else:
                sub = await self.hd.webhooks.set_paused(self.me, ident, what == "pause")
                self._say(f"Webhook {ident} is {sub.state}.")
        except HelpdeskError as exc:
            self._say(Text(one_line(str(exc)), style="bold red"))
            return
        self.reload()


class IntegrationsProvider(Provider):
    """The palette's way in: "API tokens and webhooks" (found by typing, e.g. "api" or "webhook")."""

    async def search(self, query: str) -> Hits:
        app = self.app
        hd, me = getattr(app, "hd", None), getattr(app, "me", None)
        if hd is None or me is None:
            return
        label = "API tokens and webhooks"
        matcher = self.matcher(query)
        score = max(matcher.match(label), matcher.match("webhooks api tokens integrations"))
        if score:
            yield Hit(score, Text(label, end=""), partial(app.push_screen, IntegrationsScreen(hd, me)), text=label,
                      help="Settings of the public API (admins)")
