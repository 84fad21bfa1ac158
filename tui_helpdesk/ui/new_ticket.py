"""A new ticket from the app: an email to a customer (To, Cc), or an internal ticket.

``N`` in the inbox (and "New ticket" in the palette) opens it. ctrl+g
switches between email and internal, ctrl+s creates, Esc backs out. A
refusal (a bad address, a desk that cannot send email) is shown in the
dialog and nothing typed is lost; on success the dialog returns the new
ticket's id and the inbox opens it.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from ..domain.errors import HelpdeskError
from ..domain.model import Agent, Status, TicketType
from ..domain.text import one_line
from .dialogs import CSS_FILE
from .text import address_list

INTERNAL_DOMAIN = "internal.invalid"  # RFC 2606: never a real mailbox


class NewTicketDialog(ModalScreen[int | None]):
    """Returns the new ticket's id, or None when the agent backed out."""

    CSS_PATH = CSS_FILE
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="new-ticket.cancel"),
        Binding("ctrl+s", "create", "Create", id="new-ticket.create", priority=True),
        Binding("ctrl+g", "toggle_kind", "Email / internal", id="new-ticket.kind", priority=True),
    ]

    def __init__(self, hd, me: Agent) -> None:
        super().__init__(classes="modal-dialog")
        self.hd = hd
        self.me = me
        self.kind = "email"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box new-ticket"):
            yield Static("", id="new-title", classes="dialog-title")
            yield Input(placeholder="To: customer@example.com", id="new-to", classes="dialog-input")
            yield Input(placeholder="Their name (optional)", id="new-name", classes="dialog-input")
            yield Input(placeholder="Cc (optional): addresses, separated by commas", id="new-cc",
                        classes="dialog-input")
            yield Input(placeholder="Subject", id="new-subject", classes="dialog-input")
            yield TextArea(id="new-body", soft_wrap=True, tab_behavior="focus", classes="new-body")
            yield Static("", id="new-error", classes="dialog-body")
            yield Static(Text("ctrl+s create · ctrl+g email / internal · tab next field · esc cancel", style="dim"),
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#new-error").display = False
        self._show_kind()
        self.query_one("#new-to").focus()

    def _show_kind(self) -> None:
        email = self.kind == "email"
        title = Text("New ticket: ", style="bold", end="")
        title.append("an email to a customer" if email else "internal (only agents see it; it is yours)",
                     style="bold reverse")
        self.query_one("#new-title", Static).update(title)
        for field in ("#new-to", "#new-name", "#new-cc"):
            self.query_one(field).display = email
        if not email and self.focused is not None and not self.focused.display:
            self.query_one("#new-subject").focus()

    def action_toggle_kind(self) -> None:
        self.kind = "internal" if self.kind == "email" else "email"
        self._show_kind()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def action_create(self) -> None:
        self._create()

    @work(exclusive=True, group="new-ticket", exit_on_error=False)
    async def _create(self) -> None:
        value = lambda name: self.query_one(f"#new-{name}", Input).value  # noqa: E731
        subject = value("subject")
        body = self.query_one("#new-body", TextArea).text
        try:
            if self.kind == "email":
                result = await self.hd.tickets.start_email(
                    to=value("to"), name=value("name"), cc=address_list(value("cc")), subject=subject,
                    body=body, actor=self.me)
                ticket_id = result.ticket.id
            else:
                ticket = await self.hd.tickets.create(
                    subject=subject, body=body, requester_email=self.me.email or f"{self.me.login}@{INTERNAL_DOMAIN}",
                    requester_name=self.me.name, channel="internal", type=TicketType.API, actor=self.me,
                    assignee=self.me, status=Status.ON_YOU)
                ticket_id = ticket.id
        except HelpdeskError as exc:
            box = self.query_one("#new-error", Static)
            box.update(Text(one_line(str(exc), 300), style="bold red", end=""))
            box.display = True
            return
        self.dismiss(ticket_id)
