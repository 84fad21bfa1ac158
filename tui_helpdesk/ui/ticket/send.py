"""Writing on the ticket screen: the draft kept in the database, sending, collisions, ``$EDITOR``.

:class:`TicketSending` is mixed into :class:`~tui_helpdesk.ui.ticket.screen.TicketScreen`
and answers the :class:`~tui_helpdesk.ui.widgets.composer.Composer`'s
messages. A draft is saved a moment after the last keystroke (and when the
screen goes away); typing is told to the others through the presence the live
update sends. A reply is checked for collisions first (someone wrote on the
ticket since the draft began): the agent is asked, through the screen's
dialogs, whether to send anyway.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import SuspendNotSupported

from ...domain.errors import CannotDeliver, HelpdeskError
from ...domain.model import TicketType
from ...domain.text import clean
from ..dialogs import ConfirmDialog
from ..widgets.composer import Composer

DRAFT_DEBOUNCE = 0.6
TYPING_SECONDS = 4.0  # "typing" lasts this long after the last keystroke


class TicketSending:
    """Drafts, sending and the external editor (mixed into the ticket screen)."""

    # ---------------------------------------------------------------- drafts

    def on_composer_edited(self, message: Composer.Edited) -> None:
        composer = self.composer
        if composer.original and not composer.text.strip():
            composer.show_original(None)  # emptied: what is written next is not that translation
        state = (composer.mode, composer.text)
        if state == self._saved:
            return
        if not self._saved[1].strip() and not composer.base_entry_id:
            # The draft begins now: collisions are counted from what is on screen.
            composer.base_entry_id = self.timeline.last_id
        if not composer.text.strip():
            composer.base_entry_id = 0
        if composer.text != self._saved[1]:
            self._typing_until = time.monotonic() + TYPING_SECONDS
            if not self._sent_typing:
                self._next_presence = 0.0
                self._follow()  # the first keystroke is told now, not at the next tick
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_DEBOUNCE, self._save_draft)

    def on_composer_hidden(self, message: Composer.Hidden) -> None:
        # Stopped typing (esc): the others see it go now, not when the typing window runs out.
        self._typing_until = 0.0
        if self._sent_typing:
            self._next_presence = 0.0
            self._follow()

    def _cancel_draft_timer(self) -> None:
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None

    @work(group="ticket-draft", exit_on_error=False)
    async def _save_draft(self) -> None:
        try:
            await self._write_draft()
        except Exception as exc:  # noqa: BLE001
            self._say(f"draft not saved: {exc}", "warning")

    async def _write_draft(self) -> None:
        async with self._write_lock:
            composer = self.composer
            if composer.sending:
                return
            state = (composer.mode, composer.text)
            if state == self._saved:
                return
            await self.composer_service.save_draft(self.me, self.ticket_id, state[0], state[1], composer.base_entry_id)
            self._saved = state

    async def _final_save(self) -> None:
        self._cancel_draft_timer()
        if self.loaded:
            try:
                await self._write_draft()
            finally:
                await self.composer_service.leave(self.me)

    # --------------------------------------------------------------- sending

    def on_composer_send(self, message: Composer.Send) -> None:
        if not message.body.strip():
            self._say("Nothing to send yet", "warning")
            return
        self._send(message.mode, message.body)

    @work(exclusive=True, group="ticket-send", exit_on_error=False)
    async def _send(self, mode: str, body: str) -> None:
        composer, hd = self.composer, self.hd
        composer.sending = True
        composer.input.read_only = True  # what is sent is what the agent sees
        refused: CannotDeliver | None = None
        try:
            if mode == "reply":
                found = await self.composer_service.collisions(self.me, self.ticket_id, composer.base_entry_id)
                if found:
                    await self._refresh_live()
                    go_on = await self._ask_collision(found)
                    composer.base_entry_id = max(e.id for e in found)
                    if not go_on:
                        # Keep the draft, counting from what the agent has now seen.
                        async with self._write_lock:
                            await self.composer_service.save_draft(
                                self.me, self.ticket_id, composer.mode, composer.text, composer.base_entry_id)
                            self._saved = (composer.mode, composer.text)
                        composer.sending = False
                        composer.input.read_only = False
                        composer.open()
                        self._say("Not sent: read the new messages, then send again")
                        return
            async with self._write_lock:
                self._cancel_draft_timer()
                if mode == "reply":
                    cc = composer.cc_choice()
                    original = composer.original
                    language = await self._reply_language() if original else None
                    result = await hd.tickets.reply(self.ticket_id, body, actor=self.me,
                                                    seen_entry_id=composer.base_entry_id, cc=cc,
                                                    original=original, original_language=language)
                    if cc is not None:
                        composer.set_recipients(composer.to, cc)
                else:
                    result = await hd.tickets.note(self.ticket_id, body, actor=self.me)
                # The service deleted the draft in the same transaction.
                self._saved = (mode, "")
                composer.load("", mode, 0)
        except CannotDeliver as exc:
            refused = exc
        except HelpdeskError as exc:
            self._say(f"not sent: {exc}", "error")
            return
        except Exception as exc:  # noqa: BLE001
            self._say(f"not sent: {type(exc).__name__}: {exc}", "error")
            return
        finally:
            composer.sending = False
            composer.input.read_only = False
        if refused is not None:
            await self._refused(refused, body)
            return
        composer.display = False
        self.timeline.focus()
        self._typing_until = 0.0
        try:
            await self._refresh_live()
        except Exception:  # noqa: BLE001 - the change feed will catch up
            pass
        ticket = result.ticket
        if mode == "reply":
            try:
                delivery = await self.deliveries.of_reply(ticket, result.entry)
            except Exception:  # noqa: BLE001 - the timeline shows it once it can be read
                said, severity = "Reply added", "information"
            else:
                said, severity = reply_toast(delivery)
            self._say(f"{said} · status {ticket.status.label}", severity)
        else:
            self._say("Note added")
        if result.notice:
            self._say(result.notice, "warning")

    async def _reply_language(self) -> str | None:
        """The customer's language a translated reply went out in (remembered by the AI service)."""
        try:
            return await self.hd.ai.customer_language(self.ticket) if self.ticket is not None else None
        except Exception:  # noqa: BLE001 - the original is kept without it
            return None

    async def _refused(self, refused: CannotDeliver, body: str) -> None:
        """The ticket's channel cannot carry the reply: nothing was written; offer to keep it as a note."""
        self._say(f"Reply not sent: {refused.reason}", "error")
        question = ConfirmDialog("Save it as an internal note instead?",
                                 Text(f"The reply cannot reach the customer: {refused.reason}."),
                                 "Save as note", cancel="Keep editing")
        if not await self.app.push_screen_wait(question):
            self.composer.open()
            return
        composer = self.composer
        try:
            async with self._write_lock:
                self._cancel_draft_timer()
                await self.hd.tickets.note(self.ticket_id, body, actor=self.me)
                self._saved = ("reply", "")
                composer.load("", "reply", 0)
        except HelpdeskError as exc:
            self._say(f"not saved: {exc}", "error")
            composer.open()
            return
        composer.display = False
        self.timeline.focus()
        try:
            await self._refresh_live()
        except Exception:  # noqa: BLE001 - the change feed will catch up
            pass
        self._say("Saved as an internal note")

    # ---------------------------------------------------------------- editor

    def on_composer_wants(self, message: Composer.Wants) -> None:
        if message.what == "canned":
            self.action_canned()
        elif message.what == "editor":
            self.action_editor()
        elif message.what == "recipients" and self.ticket is not None and self.ticket.type is TicketType.EMAIL:
            self._load_recipients()

    def action_editor(self) -> None:
        if not self.loaded:
            return
        composer = self.composer
        if not composer.display:
            composer.open()
        text = edit_in_editor(self.app, composer.text, f"ticket-{self.ticket_id}")
        if isinstance(text, str):
            composer.replace_text(text)
            composer.open()
        elif text is not None:
            self._say(text.message, "warning")


def reply_toast(delivery) -> tuple[str, str]:
    """What the toast says of a reply's delivery, as it is, and its severity."""
    if delivery is None:
        return "Reply added (this ticket has no channel to the customer)", "information"
    if delivery.pending:
        return "Reply queued", "information"
    if delivery.state == "sent":
        return "Reply sent", "information"
    if delivery.state == "unknown":
        return f"Reply delivery unknown: {delivery.reason or 'the server did not confirm it'}", "warning"
    return f"Reply not sent: {delivery.reason or delivery.state}", "error"


class EditorProblem:
    def __init__(self, message: str):
        self.message = message


def editor_command() -> list[str]:
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(command)


def edit_in_editor(app, text: str, label: str) -> str | EditorProblem | None:
    """Let the agent edit *text* in ``$VISUAL``/``$EDITOR`` while the app is suspended.

    The text goes through a private temporary file (mode 0600, removed after).
    Returns the new text, or an :class:`EditorProblem` saying why not.
    """
    fd, name = tempfile.mkstemp(prefix=f"helpdesk-{label}-", suffix=".txt")
    path = Path(name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            with app.suspend():
                code = subprocess.call([*editor_command(), str(path)])
        except SuspendNotSupported:
            return EditorProblem("this terminal cannot hand over to an editor")
        except OSError as exc:
            return EditorProblem(f"cannot run the editor: {exc.strerror or exc}")
        if code != 0:
            return EditorProblem(f"the editor exited with status {code}; the text is unchanged")
        new = path.read_text(encoding="utf-8", errors="replace")
    finally:
        try:
            path.unlink()
        except OSError:
            pass
    return clean(new).rstrip("\n")
