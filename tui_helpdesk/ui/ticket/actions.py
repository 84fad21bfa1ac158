"""What the agent does to a ticket from its screen, and every dialog the screen opens.

:class:`TicketActions` is mixed into :class:`~tui_helpdesk.ui.ticket.screen.TicketScreen`:
status, assignment (take, assign), closing, handing a live chat back to the
chatbot, saving or opening attachments, resending a reply that was not
delivered, inserting a canned reply, and the question a reply's collision
asks. The ticket dialogs are imported here and nowhere else in the package.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work

from ...domain.delivery import Delivery
from ...domain.errors import ConfigError, HelpdeskError
from ...domain.model import Status, TicketType
from ...services.composer import load_canned
from ..keys import RESEND
from ..widgets.attachments import (AttachmentPicker, SavePathDialog, attachments_of, default_save_path, open_attachment,
                                   opener, save_attachment)
from ..widgets.entry_text import safe_line
from .. import undo
from ..dialogs import (AgentPicker, AssigneeChoice, CannedPicker, CollisionDialog, ConfirmDialog, HoldDialog,
                       StatusPicker, TagDialog)
from ..widgets.entry_text import local


class TicketActions:
    """The ticket screen's actions on the ticket (mixed into the ticket screen)."""

    # ---------------------------------------------------------- status, assignee

    def action_status(self) -> None:
        if self.ticket:
            self._pick_status()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _pick_status(self) -> None:
        status = await self.app.push_screen_wait(StatusPicker(current=self.ticket.status))
        if status is Status.ON_HOLD:  # On hold again moves its "until"
            hold = await self.app.push_screen_wait(HoldDialog(f"#{self.ticket_id} on hold", local(self.hd.store.clock())))
            if hold is not None:
                await self._change_status(status, reason=hold.reason, until=hold.until)
        elif status is not None and status is not self.ticket.status:
            await self._change_status(status)

    async def _change_status(self, status: Status, *, reason: str | None = None, until=None) -> None:
        ticket = self.ticket
        try:
            before = await self.hd.tickets.snapshot([self.ticket_id])
            after = await self.hd.tickets.set_status(self.ticket_id, status, actor=self.me, reason=reason,
                                                     hold_until=until, expected_version=ticket.version)
            changed = await self.hd.tickets.snapshot([self.ticket_id])
        except HelpdeskError as exc:
            self._say(str(exc), "error")
            await self._refresh_quietly()
            return
        self._show_ticket(after)
        await self._refresh_quietly()
        back = f" until {local(after.hold_until):%a %d %b %H:%M}" if after.hold_until else ""
        undo.offer(self.app, f"#{after.id} is {after.status.label}{back}", before, changed)

    def action_undo(self) -> None:
        self._undo()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _undo(self) -> None:
        try:
            await undo.undo_last(self.app, self.hd, self.me)
        except HelpdeskError as exc:
            self._say(str(exc), "error")
        await self._refresh_quietly()

    def action_close_ticket(self) -> None:
        if self.ticket and self.ticket.status is not Status.CLOSED:
            self._close_ticket()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _close_ticket(self) -> None:
        await self._change_status(Status.CLOSED)

    def action_assign(self) -> None:
        if self.ticket:
            self._pick_assignee()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _pick_assignee(self) -> None:
        try:
            self._agents = await self.hd.agents.list()
        except Exception:  # noqa: BLE001 - the list from opening will do
            pass
        choice = await self.app.push_screen_wait(AgentPicker("Assign to", self._agents, self.me,
                                                               current=self.ticket.assignee, offer_take=True))
        if choice is not None:
            await self._assign(choice)

    def action_tag(self) -> None:
        if self.ticket:
            self._edit_tags()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _edit_tags(self) -> None:
        try:
            known = await self.hd.tickets.known_tags()
        except HelpdeskError:
            known = []
        change = await self.app.push_screen_wait(TagDialog(f"Tags of #{self.ticket_id}", current=self.ticket.tags,
                                                           known=known))
        if change is None:
            return
        try:
            after = await self.hd.tickets.change_tags(self.ticket_id, add=change.add, remove=change.remove,
                                                      actor=self.me)
        except HelpdeskError as exc:
            self._say(str(exc), "error")
            return
        self._show_ticket(after)
        await self._refresh_quietly()
        self._say(f"Tags: {', '.join(after.tags) or 'none'}")

    def action_take(self) -> None:
        if self.ticket:
            self._take()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _take(self) -> None:
        await self._assign(AssigneeChoice(self.me.login))

    async def _assign(self, choice: AssigneeChoice) -> None:
        current = self.ticket.assignee.login if self.ticket.assignee else None
        if (choice.login or None) == current:
            return
        try:
            after = await self.hd.tickets.assign(self.ticket_id, choice.login, actor=self.me,
                                                 expected_version=self.ticket.version)
        except HelpdeskError as exc:
            self._say(str(exc), "error")
            await self._refresh_quietly()
            return
        self._show_ticket(after)
        await self._refresh_quietly()
        self._say(f"Assigned to {after.assignee.name}" if after.assignee else "Unassigned")

    # ------------------------------------------------------- the chatbot

    def action_allow_ai(self) -> None:
        ticket = self.ticket
        if ticket is None:
            return
        if ticket.type is not TicketType.LIVE_CHAT or not ticket.conversation_id:
            self._say("Only live-chat tickets can be handed back to the chatbot", "warning")
            return
        if ticket.ai_replies_allowed and not ticket.status.is_active:
            self._say("AI replies are already allowed on this chat")
            return
        self._allow_ai()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _allow_ai(self) -> None:
        ticket = self.ticket
        body = Text("The chatbot answers ", end="")
        body.append_text(safe_line(ticket.requester.display, 80, style="bold"))
        body.append(" in this chat again, and ")
        body.append(f"#{ticket.id}", style="bold")
        body.append(" is closed." if ticket.status.is_active else " stays closed.")
        if self.composer.text.strip():
            body.append("\nYour unsent draft stays on the ticket.", style="italic")
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog("Allow AI replies?", body, "Allow AI replies", cancel="Keep it here"))
        if not confirmed:
            return
        from ..handback import allow_ai_replies  # the chatbot side is loaded on first use

        try:
            await allow_ai_replies(self.app, self.hd, self.me, self.ticket_id)
        except Exception as exc:  # noqa: BLE001 - a database error must not kill the screen
            self._say(f"Nothing changed: {type(exc).__name__}: {exc}", "error")
        await self._refresh_quietly()
        self._load_channel()

    # ------------------------------------------------------- attachments

    def action_attachments(self) -> None:
        entry = self.timeline.current_entry
        items = attachments_of(entry)
        if not items:
            self._say("No attachments on this entry (j/k move between entries)")
            return
        self._attachments(items)

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _attachments(self, items) -> None:
        choice = await self.app.push_screen_wait(AttachmentPicker(items, can_open=opener() is not None))
        if choice is None:
            return
        item = choice.attachment
        if item.sha256 is None:
            self._say(f"{item.name}: its content was not kept", "warning")
            return
        if choice.action == "open":
            try:
                path = await asyncio.to_thread(open_attachment, self.hd.mail.attachments, item)
            except (OSError, ValueError) as exc:
                reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
                self._say(f"Cannot open {item.name}: {reason}", "error")
                return
            self._say(f"Opened {item.name} (a copy in {path.parent})")
            if item.risky:
                self._say(f"{item.name} could be a program: check it before trusting it", "warning")
            return
        await self._save_attachment(item)

    async def _save_attachment(self, item) -> None:
        target = await self.app.push_screen_wait(SavePathDialog(item, default_save_path(item.name)))
        if target is None:
            return
        store = self.hd.mail.attachments
        try:
            try:
                saved = await asyncio.to_thread(save_attachment, store, item.sha256, target, item.name)
            except FileExistsError:
                shown = target / item.name if target.is_dir() else target
                body = Text("There is already a file at ", end="")
                body.append_text(safe_line(str(shown), 300, style="bold"))
                body.append(". Replace it with the attachment?")
                if not await self.app.push_screen_wait(
                        ConfirmDialog("Replace the file?", body, "Replace", cancel="Keep it", warning=True)):
                    self._say("Not saved: the existing file is unchanged")
                    return
                saved = await asyncio.to_thread(save_attachment, store, item.sha256, target, item.name,
                                                overwrite=True)
        except (OSError, ValueError) as exc:
            reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
            self._say(f"Not saved: {reason}", "error")
            return
        self._say(f"Saved {item.name} to {saved}")

    # ----------------------------------------------------------- delivery

    def action_resend(self) -> None:
        entry = self.timeline.current_entry
        delivery = self.timeline.delivery.get(entry.id) if entry else None
        if delivery is not None and delivery.resendable:
            self._resend(entry.id, delivery)
            return
        failed = [b.entry.id for b in self.timeline.blocks
                  if (d := self.timeline.delivery.get(b.entry.id)) is not None and d.resendable]
        if failed:
            self.timeline.select(self.timeline.index_of(failed[-1]))
            self._say(f"The cursor is on the newest reply that was not delivered: {self.keys_of(RESEND)} resends it")
        elif delivery is not None and delivery.problem:
            self._say("This reply cannot be resent from here: " + (delivery.reason or delivery.state), "warning")
        else:
            self._say("No reply to resend: only failed or unknown deliveries can be sent again")

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _resend(self, entry_id: int, delivery: Delivery) -> None:
        body = Text("Send this reply again to ", end="")
        body.append_text(safe_line(", ".join(delivery.recipients) or "the customer", 200, style="bold"))
        body.append("?")
        if delivery.reason:
            body.append("\nLast attempt: ", style="dim")
            body.append_text(safe_line(delivery.reason, 300, style="italic"))
        if delivery.state == "unknown":
            body.append("\nIt may have arrived already: the customer could get it twice.", style="bold")
        if not await self.app.push_screen_wait(
                ConfirmDialog("Resend the reply?", body, "Resend", warning=delivery.state == "unknown")):
            return
        try:
            await self.hd.outbox.resend(delivery.outbox_id, actor=self.me)
        except HelpdeskError as exc:
            self._say(f"Not resent: {exc}", "error")
            return
        except Exception as exc:  # noqa: BLE001
            self._say(f"Not resent: {type(exc).__name__}: {exc}", "error")
            return
        self._say("The reply is queued to be sent again")
        await self._refresh_quietly()
        self._load_channel()

    # ------------------------------------------------------ canned replies

    def action_canned(self) -> None:
        if self.ticket:
            self._pick_canned()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _pick_canned(self) -> None:
        if not self._canned_loaded:  # read when first wanted: opening a ticket does not parse the config
            try:
                self.composer_service.canned = await asyncio.to_thread(
                    load_canned, getattr(self.hd.settings, "source", None))
                self._canned_loaded = True
            except ConfigError as exc:
                self._say(f"canned replies: {exc}", "warning")
                return
        canned = self.composer_service.canned_for(self.ticket, self.me)
        if not canned:
            self._say("No canned replies configured ([[canned]] in the config file)")
            return
        body = await self.app.push_screen_wait(CannedPicker(canned))
        if body is None:
            return
        composer = self.composer
        if not composer.display:
            composer.open("reply")
        else:
            composer.input.focus()
        composer.insert(body)

    # ------------------------------------------------------------ collisions

    async def _ask_collision(self, found) -> bool:
        """Someone wrote on the ticket since the draft began: send anyway?"""
        return await self.app.push_screen_wait(CollisionDialog(found))
