"""The inbox's ticket actions: open, reply, take, close, status, tags, assign, on one ticket or a selection.

:class:`InboxActions` is the part of :class:`~.inbox.InboxScreen` that acts on
the ticket under the cursor or on the selected tickets (in bulk, through the
ticket service, in workers) and keeps the selection.
"""

from __future__ import annotations

from rich.text import Text
from textual import work

from ..domain.errors import HelpdeskError
from ..domain.model import Status
from . import undo
from .dialogs import AgentPicker, AssigneeChoice, HoldChoice, HoldDialog, StatusPicker, TagDialog
from .text import line, plain
from .widgets.entry_text import local


class InboxActions:
    """Actions on tickets from the inbox (a mixin of :class:`~.inbox.InboxScreen`)."""

    # -------------------------------------------------------------- tickets

    def open_ticket_soon(self, ticket_id: int, mode: str | None = None) -> None:
        self.run_worker(self.open_ticket(ticket_id, mode), group="open", exclusive=True, exit_on_error=False)

    async def open_ticket(self, ticket_id: int, mode: str | None = None) -> None:
        """Push the ticket screen; *mode* 'reply' or 'note' opens its composer."""
        try:
            from .ticket.screen import TicketScreen
        except ImportError:
            self.notify(f"Ticket #{ticket_id}: the ticket screen is not available in this build.",
                        severity="warning")
            return
        try:
            await self.hd.tickets.get(ticket_id)
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error")
            return
        screen = TicketScreen(self.hd, self.me, ticket_id)
        await self.app.push_screen(screen)
        action = getattr(screen, f"action_{mode}", None) if mode else None
        if action is not None:
            screen.call_after_refresh(action)

    def neighbour(self, ticket_id: int, delta: int) -> int | None:
        """The ticket *delta* rows from *ticket_id* in this view, with the cursor moved onto it.

        A ticket that has left the view (closed, or replied to and now On
        customer) leaves the cursor on the row that took its place: that row is
        the next one, and the one above it the previous.
        """
        table = self.table
        ids = [r.id for r in table.rows]
        if not ids:
            return None
        if ticket_id in ids:
            index = ids.index(ticket_id) + delta
        else:
            index = table.cursor_row if delta > 0 else table.cursor_row - 1
        if not 0 <= index < len(ids):
            return None
        table.move_cursor(index)  # also fetches the next page when this is the last loaded row
        return ids[index]

    def action_new_ticket(self) -> None:
        from .new_ticket import NewTicketDialog

        def created(ticket_id: int | None) -> None:
            if ticket_id is not None:
                self.refresh_view()
                self.open_ticket_soon(ticket_id)
        self.app.push_screen(NewTicketDialog(self.hd, self.me), created)

    def action_set_aside(self) -> None:
        from .set_aside import SetAsideScreen

        self.app.push_screen(SetAsideScreen(self.hd, self.me))

    def _target(self) -> list[int]:
        if self.showing_conversations:
            tid = self.conversations.ticket_or_say()
            return [tid] if tid is not None else []
        ids = self.table.target_ids()
        if not ids:
            self.notify("No ticket here.", severity="warning", timeout=2)
        return ids

    def _one(self) -> int | None:
        if self.showing_conversations:
            return self.conversations.ticket_or_say()
        tid = self.table.current_id()
        if tid is None:
            self.notify("No ticket here.", severity="warning", timeout=2)
        return tid

    def action_reply(self) -> None:
        if (tid := self._one()) is not None:
            self.open_ticket_soon(tid, "reply")

    def action_note(self) -> None:
        if (tid := self._one()) is not None:
            self.open_ticket_soon(tid, "note")

    def _what(self, ids: list[int]) -> str:
        return f"#{ids[0]}" if len(ids) == 1 else f"{len(ids)} tickets"

    def action_take(self) -> None:
        if ids := self._target():
            self.bulk(ids, f"Took {self._what(ids)}", assignee=self.me.login)

    def action_close_ticket(self) -> None:
        if ids := self._target():
            self.bulk(ids, f"Closed {self._what(ids)}", status=Status.CLOSED)

    def action_status(self) -> None:
        ids = self._target()
        if not ids:
            return

        def held(hold: HoldChoice | None) -> None:
            if hold is not None:
                self.bulk(ids, f"{self._what(ids)}: On hold", status=Status.ON_HOLD, reason=hold.reason,
                          hold_until=hold.until)

        def done(status: Status | None) -> None:
            if status is Status.ON_HOLD:
                self.app.push_screen(HoldDialog(f"{self._what(ids)} on hold", local(self.hd.store.clock())), held)
            elif status is not None:
                self.bulk(ids, f"{self._what(ids)}: {status.label}", status=status)
        self.app.push_screen(StatusPicker(f"Status of {self._what(ids)}"), done)

    def action_tag(self) -> None:
        if ids := self._target():
            self._tag(ids)

    @work(group="tags", exit_on_error=False)
    async def _tag(self, ids: list[int]) -> None:
        known = await self.hd.tickets.known_tags()
        current = (await self.hd.tickets.get(ids[0])).tags if len(ids) == 1 else ()
        change = await self.app.push_screen_wait(TagDialog(f"Tags of {self._what(ids)}", current=current, known=known))
        if change is not None:
            self.bulk(ids, f"Tags changed on {self._what(ids)}", add_tags=change.add, remove_tags=change.remove)

    def action_assign(self) -> None:
        ids = self._target()
        if ids:
            self._pick_agent(ids)

    @work(group="agents", exit_on_error=False)
    async def _pick_agent(self, ids: list[int]) -> None:
        try:
            agents = await self.hd.agents.list()
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error")
            return

        def done(choice: AssigneeChoice | None) -> None:
            if choice is None:
                return
            if choice.login is None:
                self.bulk(ids, f"Unassigned {self._what(ids)}", assignee=None)
            else:
                self.bulk(ids, Text(f"Assigned {self._what(ids)} to ", end="") + line(choice.login),
                          assignee=choice.login)
        self.app.push_screen(AgentPicker(f"Assign {self._what(ids)}", agents, self.me), done)

    @work(group="bulk", exit_on_error=False)
    async def bulk(self, ids: list[int], done: str | Text, **change) -> None:
        try:
            before = await self.hd.tickets.snapshot(ids)
            await self.hd.tickets.bulk(ids, actor=self.me, **change)
            after = await self.hd.tickets.snapshot(ids)
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error", title="Not done")
        else:
            undo.offer(self.app, done.plain if isinstance(done, Text) else done, before, after)
            self.table.clear_selection()
        self.refresh_view()

    def action_undo(self) -> None:
        self._undo()

    @work(group="bulk", exit_on_error=False)
    async def _undo(self) -> None:
        try:
            await undo.undo_last(self.app, self.hd, self.me)
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error", title="Undo")
        self.refresh_view()

    # ------------------------------------------------------------ selection

    def action_toggle_select(self) -> None:
        self.table.toggle_selected()
        if self.table.window.rows:
            self.table.action_cursor_down()

    def action_select_all(self) -> None:
        self.table.select_all()

    def action_unselect(self) -> None:
        if self.table.selected:
            self.table.clear_selection()
