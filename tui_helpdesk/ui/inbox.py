"""The inbox screen: the view rail, the ticket table, the filter bar and the status bar.

Data comes from the services in workers; the app's change-feed watcher calls
:meth:`InboxScreen.apply_changes` so counts and rows follow other terminals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import OptionList
from textual.worker import Worker, WorkerState, get_current_worker

from ..domain import querylang
from ..domain.errors import HelpdeskError, QueryError
from ..domain.model import Agent, Status
from ..domain.query import DEFAULT_COLUMNS, Field, Sort, SortKey, ViewSpec
from ..services.views import RailItem
from ..bootstrap import chatbot_configured
from . import heap, keymap
from .keys import INBOX_KEYS
from .filters import ColumnsDialog, FilterBar, FilterBuilder, SaveViewDialog, ViewForm
from .dialogs import AgentPicker, AssigneeChoice, ConfirmDialog, StatusPicker, TagDialog
from .text import line, plain
from .widgets.rail import ViewRail
from .widgets.statusbar import KeyBar, StatusBar
from .widgets.table import TicketTable
from .widgets.table_rows import COLUMN_SORT
from .widgets.table_window import PAGE_SIZE

if TYPE_CHECKING:
    from ..bootstrap import Helpdesk
    from .conversations import ConversationsView

# A view switch holds the screen's frames until the new rows are in the table,
# so the rail, the status bar and the rows change in one frame. A painted
# in-between frame (only the rail's highlight moved) costs a render and, as
# Textual's frame timer re-aligns after a long idle, pushes the frame with the
# rows a whole timer period or two later. A slow view paints after this long.
HOLD_LIMIT = 0.1

SORT_CYCLE = (SortKey.UPDATED, SortKey.CREATED, SortKey.ID, SortKey.STATUS, SortKey.REQUESTER,
              SortKey.ASSIGNEE, SortKey.SUBJECT)


def _has_text(spec: ViewSpec) -> bool:
    return any(c.field is Field.TEXT for c in spec.conditions)


class InboxScreen(Screen):
    BINDINGS = keymap.bindings(INBOX_KEYS)

    def __init__(self, hd: "Helpdesk", me: Agent, *, now: Callable | None = None,
                 rail: list[RailItem] | None = None, first_page: "asyncio.Future | None" = None) -> None:
        super().__init__()
        self._first_rail = rail
        self._first_page = first_page
        self.hd = hd
        self.me = me
        self.now = now
        self.view_key = "inbox"
        self.filter_query = ""
        self.filter_spec: ViewSpec | None = None
        # Per-view session choices for system views (saved views store theirs).
        self.sort_override: dict[str, Sort] = {}
        self.columns_override: dict[str, tuple[str, ...]] = {}
        self.loaded = False  # first page of the first view shown
        self._held = None  # the app's batch_update() while a view switch holds frames
        self._hold_timer = None
        self._hold_token = 0
        self._after_hold: list[Callable[[], None]] = []  # run after the first frame once the hold ends
        self._view_loader: Worker | None = None  # the load_view worker running, if any
        self._left = False  # another screen was on top since the last refresh
        # Without a chatbot the Conversations view (and the HTTP client) is never loaded.
        self.chatbot = chatbot_configured(hd.settings)

    def on_worker_state_changed(self, event) -> None:
        report = getattr(self.app, "report_worker", None)
        if report is not None:
            report(event)

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield ViewRail(id="rail")
            with Vertical(id="content"):
                bar = FilterBar(id="filter-bar")
                bar.display = False
                yield bar
                yield TicketTable(id="tickets", now=self.now)
                if self.chatbot:
                    from .conversations import ConversationsView

                    conversations = ConversationsView(self.hd, self.me, now=self.now, id="conversations")
                    conversations.display = False
                    yield conversations
        yield StatusBar(id="status")
        yield KeyBar(id="keys")

    @property
    def rail(self) -> ViewRail:
        return self.query_one(ViewRail)

    @property
    def table(self) -> TicketTable:
        return self.query_one(TicketTable)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def conversations(self) -> "ConversationsView | None":
        """The Conversations view; None when no desk has a chatbot platform."""
        if not self.chatbot:
            return None
        from .conversations import ConversationsView

        return self.query_one(ConversationsView)

    def on_mount(self) -> None:
        self.status.me_name = self.me.name
        self.status.me_login = self.me.login
        self.status.availability = self.me.availability.value
        self.table.focus()
        self._hold_frames()  # the first frame is the inbox with its rows, not an empty table before them
        self.initial_load()
        # "5m ago" ages: re-render the times once a minute.
        self.set_interval(60, self.table.refresh_rows)
        if self.chatbot:
            self.hd.conversations.start()  # the chatbot poller; one process per desk works, by lease

    def on_resize(self, event) -> None:
        self.set_class(event.size.width < 100, "-narrow")

    # ------------------------------------------------------------ the views

    def current_item(self) -> RailItem | None:
        return self.rail.item(self.view_key)

    def effective_spec(self, item: RailItem | None = None) -> ViewSpec | None:
        item = item or self.current_item()
        if item is None or item.spec is None:
            return None
        spec = item.spec
        if self.filter_spec is not None:
            spec = spec.and_(self.filter_spec)
        if self.view_key in self.sort_override:
            spec = replace(spec, sort=self.sort_override[self.view_key])
        if self.view_key in self.columns_override:
            spec = replace(spec, columns=self.columns_override[self.view_key])
        return spec

    def _fetch(self, spec: ViewSpec) -> Callable[[tuple | None, bool, int], Awaitable]:
        async def fetch(after, reverse, limit):
            return await self.hd.views.page(spec, self.me, limit=limit, after=after, reverse=reverse)
        return fetch

    @work(exclusive=True, group="view", exit_on_error=False)
    async def initial_load(self) -> None:
        token = self._hold_token
        try:
            items = self._first_rail or await self.hd.views.rail(self.me)
            self._first_rail = None
            self.rail.set_items(items, current=self.view_key)
            await self._show(keep_cursor=False)
            self.loaded = True
        finally:
            self._release_frames(token)
        self.call_after_refresh(heap.settle)  # the first frame is out: the start-up heap can settle

    def select_view(self, key: str) -> None:
        """Switch to the view *key* (from the rail, the palette, or ``[``/``]``)."""
        if key != self.view_key:
            self._switch(key)
        self.rail.select_key(key)

    def _switch(self, key: str) -> None:
        """Load view *key* now, or, when a view is loading, right after it.

        Held-down j/k in the rail or ``]`` then runs one query at a time, each
        for the newest view wanted, instead of a query per view passed.
        """
        self._hold_frames()
        self.view_key = key
        loader = self._view_loader
        if loader is not None and loader.state is WorkerState.RUNNING and not loader.is_cancelled:
            return
        self.load_view()

    def _hold_frames(self) -> None:
        """Paint nothing until the view being loaded is in the table (at most HOLD_LIMIT).

        A newer switch takes over the hold (the older load no longer ends it);
        the time limit counts from the first.
        """
        self._hold_token += 1
        if self._held is not None or not self.is_current:
            return
        self._held = self.app.batch_update()
        self._held.__enter__()
        self._hold_timer = self.set_timer(HOLD_LIMIT, self._release_frames, name="view-hold")

    def _release_frames(self, token: int | None = None) -> None:
        """End the hold: by the load that holds it (*token*), or by the time limit / unmount (None)."""
        if self._held is None or (token is not None and token != self._hold_token):
            return
        held, self._held = self._held, None
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        held.__exit__(None, None, None)
        self.check_idle()
        for then in self._after_hold:
            self.call_after_refresh(then)
        self._after_hold.clear()

    def on_unmount(self) -> None:
        self._release_frames()

    @work(exclusive=True, group="view", exit_on_error=False)
    async def load_view(self, keep_cursor: bool = False) -> None:
        worker = self._view_loader = get_current_worker()
        try:
            while True:
                key, token = self.view_key, self._hold_token
                try:
                    await self._show(keep_cursor=keep_cursor, shown=lambda t=token: self._release_frames(t))
                finally:
                    self._release_frames(token)
                if self.view_key == key:
                    break
                keep_cursor = False  # another view was chosen meanwhile: load it too
        finally:
            if self._view_loader is worker:
                self._view_loader = None

    async def _show(self, keep_cursor: bool, shown: Callable[[], None] | None = None) -> None:
        """Load the current view into the table; *shown* runs once its rows are in.

        When another view is chosen while this one's rows are read, they are
        dropped (the caller loads that view next).
        """
        key = self.view_key
        item = self.current_item()
        self.status.view = item.name if item else self.view_key
        table = self.table
        spec = self.effective_spec(item)
        conversations = self.conversations
        showing = (self.view_key == "conversations" and conversations is not None
                   and self.hd.conversations.configured)
        in_tables = table.has_focus or (conversations is not None and conversations.table.has_focus)
        if conversations is not None:
            conversations.display = showing
        table.display = not showing
        if showing:
            conversations.refresh_data()
        if in_tables:
            conversations.focus_table() if showing else table.focus()
        if spec is None:
            from ..adapters.store.repository import Page

            async def nothing(after, reverse, limit):
                return Page([], None)

            table.reset(nothing, Page([], None), total=0)
            self.status.position = "not connected to a chatbot" if item and item.count is None else ""
            if not showing:
                self.notify("Conversations appear here when a chatbot platform is configured for the desk.",
                            title="Conversations", timeout=4)
            return
        try:
            first, self._first_page = self._first_page, None
            if first is not None and self.view_key == "inbox" and spec == item.spec:
                count, page = item.count, await first
            elif self.filter_spec is None and item is not None and item.count is not None and item.key != "mentions":
                # The rail counted this view moments ago (and the feed keeps it current).
                count, page = item.count, await self.hd.views.page(spec, self.me, limit=PAGE_SIZE)
            elif _has_text(spec):
                # Counting every match of a common word is slow: rows first, the count after.
                count, page = None, await self.hd.views.page(spec, self.me, limit=PAGE_SIZE)
            else:
                count, page = await self.hd.views.count_and_page(spec, self.me, limit=PAGE_SIZE)
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error", title="View")
            return
        if self.view_key != key:
            return
        table.reset(self._fetch(spec), page, total=count, columns=spec.columns or DEFAULT_COLUMNS,
                    keep_cursor=keep_cursor, sort=(spec.sort.key, spec.sort.descending))
        if count is None:
            self._update_position()
            if shown is not None:
                shown()  # the rows now; the count of a text search follows
            try:
                table.total = await self.hd.views.count(spec, self.me)
            except HelpdeskError:
                pass
        if self.filter_query:
            self.status.view = f"{item.name if item else self.view_key} (filtered)"
        self._update_position()

    @on(OptionList.OptionHighlighted, "#rail")
    def _rail_moved(self, event: OptionList.OptionHighlighted) -> None:
        key = event.option.id
        if key and key != self.view_key and self.loaded:
            self._switch(key)

    @on(OptionList.OptionSelected, "#rail")
    def _rail_chosen(self, event: OptionList.OptionSelected) -> None:
        self.table.focus()

    def _neighbour_view(self, delta: int) -> None:
        keys = [i.key for i in self.rail.items]
        if not keys:
            return
        index = keys.index(self.view_key) if self.view_key in keys else 0
        self.select_view(keys[(index + delta) % len(keys)])

    def action_next_view(self) -> None:
        self._neighbour_view(1)

    def action_prev_view(self) -> None:
        self._neighbour_view(-1)

    def action_focus_rail(self) -> None:
        self.rail.focus()

    def action_focus_table(self) -> None:
        conversations = self.conversations
        conversations.focus_table() if conversations is not None and conversations.display else self.table.focus()

    # --------------------------------------------------- live refresh (feed)

    def apply_rail(self, items: list[RailItem]) -> None:
        self.rail.set_items(items, current=self.view_key)
        if self.current_item() is None and items:
            # The view was deleted in another terminal: fall back to the Inbox.
            self.view_key = items[0].key
            self.rail.select_key(self.view_key)
            self.load_view()

    @work(exclusive=True, group="refresh", exit_on_error=False)
    async def refresh_view(self) -> None:
        """Counts and the visible window again, keeping the cursor where it is."""
        items = await self.hd.views.rail(self.me)
        self.apply_rail(items)
        await self.reload_window()

    async def reload_window(self) -> None:
        spec = self.effective_spec()
        table = self.table
        if spec is None or table.fetch is None:
            return
        total = await self.hd.views.count(spec, self.me)
        after, reverse, limit = table.reload_request()
        page = await self.hd.views.page(spec, self.me, limit=limit, after=after, reverse=reverse)
        if self.effective_spec() == spec:
            table.apply_reload(page, total)
            self._update_position()

    def action_refresh(self) -> None:
        self.refresh_view()

    def on_screen_suspend(self) -> None:
        self._left = True

    def on_screen_resume(self) -> None:
        # Back from a ticket or a dialog: what changed meanwhile. (The first resume,
        # right after start, would only count the rail a second time.)
        if self.loaded and self._left:
            self._left = False
            self.refresh_view()

    # ----------------------------------------------------------- the status

    @on(TicketTable.WindowChanged)
    def _window_changed(self, event: TicketTable.WindowChanged) -> None:
        self._update_position()

    def _update_position(self) -> None:
        table = self.table
        self.status.position = table.position()
        self.status.selected = len(table.selected)

    # --------------------------------------------------------------- filter

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(self.filter_query)

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        self.set_filter(event.query, event.spec)
        self.table.focus()
        if self._held is not None:
            self._after_hold.append(event.bar.fold)  # the results first, then the bar folds
        else:
            event.bar.fold()

    @on(FilterBar.Cancelled)
    def _filter_cancelled(self, event: FilterBar.Cancelled) -> None:
        bar = self.query_one(FilterBar)
        bar.display = bool(self.filter_query)
        if self.filter_query:
            bar.input.value = self.filter_query
        self.table.focus()

    def set_filter(self, query: str, spec: ViewSpec | None = None) -> None:
        query = query.strip()
        if query and spec is None:
            try:
                spec = querylang.parse(query)
            except QueryError as exc:
                self.notify(plain(exc.reason), severity="error", title="Filter")
                return
        self.filter_query = query
        self.filter_spec = spec if query else None
        self._hold_frames()  # the bar, the status and the rows change in one frame
        bar = self.query_one(FilterBar)
        bar.display = bool(query)
        if query:
            bar.input.value = query
        self.load_view()

    def action_clear_filter(self) -> None:
        if self.filter_query:
            self.set_filter("")

    def action_filter_builder(self) -> None:
        def done(query: str | None) -> None:
            if query is not None:
                self.set_filter(query)
        self.app.push_screen(FilterBuilder(self.filter_query), done)

    # ---------------------------------------------------------------- views

    def _current_query(self) -> str:
        spec = self.effective_spec()
        return querylang.format_spec(spec) if spec is not None else ""

    def action_save_view(self) -> None:
        spec = self.effective_spec()
        if spec is None:
            self.notify("This view cannot be saved.", severity="warning")
            return
        dialog = SaveViewDialog(query=self._current_query(), can_share=self.me.is_admin)

        def done(form: ViewForm | None) -> None:
            if form is not None:
                self._save_view(form, spec.columns)
        self.app.push_screen(dialog, done)

    @work(group="views", exit_on_error=False)
    async def _save_view(self, form: ViewForm, columns: tuple[str, ...]) -> None:
        try:
            spec = replace(querylang.parse(form.query), columns=columns)
            view = await self.hd.views.save(self.me, form.name, spec, shared=form.shared)
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error", title="Save view")
            return
        self.notify(Text("Saved view ", end="") + line(view.name), title="Views")
        self.filter_query, self.filter_spec = "", None
        self.query_one(FilterBar).display = False
        items = await self.hd.views.rail(self.me)
        self.rail.set_items(items)
        self.select_view(view.key)

    def _editable_item(self) -> RailItem | None:
        item = self.current_item()
        if item is None or item.kind == "system":
            self.notify("System views cannot be edited or deleted; save a filter as a new view instead.",
                        severity="warning")
            return None
        if item.kind == "config":
            self.notify("This view is declared in the config file; edit it there.", severity="warning")
            return None
        return item

    def action_edit_view(self) -> None:
        item = self._editable_item()
        if item is None:
            return
        dialog = SaveViewDialog(query=querylang.format_spec(item.spec), name=item.name, title="Edit view",
                                editing=True)

        def done(form: ViewForm | None) -> None:
            if form is not None:
                self._update_view(item.key, form)
        self.app.push_screen(dialog, done)

    @work(group="views", exit_on_error=False)
    async def _update_view(self, key: str, form: ViewForm, columns: tuple[str, ...] | None = None) -> None:
        try:
            item = self.rail.item(key)
            spec = querylang.parse(form.query) if form.query is not None else item.spec
            spec = replace(spec, columns=columns or item.spec.columns)
            await self.hd.views.update(self.me, key, name=form.name, spec=spec)
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error", title="Edit view")
            return
        self.notify("View updated.", title="Views")
        items = await self.hd.views.rail(self.me)
        self.rail.set_items(items)
        self.load_view(keep_cursor=True)

    def action_delete_view(self) -> None:
        item = self._editable_item()
        if item is None:
            return
        question = Text("Delete the view ", end="") + line(item.name, style="bold") + Text("?", end="")

        def done(yes: bool | None) -> None:
            if yes:
                self._delete_view(item.key)
        self.app.push_screen(ConfirmDialog(question, warning=True), done)

    @work(group="views", exit_on_error=False)
    async def _delete_view(self, key: str) -> None:
        try:
            view = await self.hd.views.delete(self.me, key)
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error", title="Delete view")
            return
        self.notify(Text("Deleted view ", end="") + line(view.name), title="Views")
        items = await self.hd.views.rail(self.me)
        self.rail.set_items(items)
        self.select_view("inbox")

    def action_columns(self) -> None:
        spec = self.effective_spec()
        if spec is None:
            return

        def done(columns: tuple[str, ...] | None) -> None:
            if not columns:
                return
            item = self.current_item()
            if item is not None and item.kind in ("personal", "shared"):
                self._update_view(item.key, ViewForm(item.name, querylang.format_spec(item.spec), False), columns)
            else:
                self.columns_override[self.view_key] = columns
                self.load_view(keep_cursor=True)
        self.app.push_screen(ColumnsDialog(spec.columns), done)

    def _set_sort(self, sort: Sort) -> None:
        self.sort_override[self.view_key] = sort
        self.load_view(keep_cursor=False)

    def action_sort_next(self) -> None:
        spec = self.effective_spec()
        if spec is None:
            return
        index = SORT_CYCLE.index(spec.sort.key) if spec.sort.key in SORT_CYCLE else -1
        key = SORT_CYCLE[(index + 1) % len(SORT_CYCLE)]
        self._set_sort(Sort(key, key in (SortKey.UPDATED, SortKey.CREATED, SortKey.ID)))
        self.notify(f"Sorted by {key.value}", timeout=1.5)

    def action_sort_reverse(self) -> None:
        spec = self.effective_spec()
        if spec is not None:
            self._set_sort(Sort(spec.sort.key, not spec.sort.descending))

    @on(TicketTable.HeaderSelected)
    def _header(self, event: TicketTable.HeaderSelected) -> None:
        key = COLUMN_SORT.get(event.column)
        spec = self.effective_spec()
        if key is None or spec is None:
            return
        if spec.sort.key is key:
            self._set_sort(Sort(key, not spec.sort.descending))
        else:
            self._set_sort(Sort(key, key in (SortKey.UPDATED, SortKey.CREATED, SortKey.ID)))

    # -------------------------------------------------------------- tickets

    @on(TicketTable.RowSelected)
    def _row_selected(self, event: TicketTable.RowSelected) -> None:
        event.stop()
        self.open_ticket_soon(event.ticket_id)

    def open_ticket_soon(self, ticket_id: int, mode: str | None = None) -> None:
        self.run_worker(self.open_ticket(ticket_id, mode), group="open", exclusive=True, exit_on_error=False)

    async def open_ticket(self, ticket_id: int, mode: str | None = None) -> None:
        """Push the ticket screen; *mode* 'reply' or 'note' opens its composer."""
        try:
            from .ticket import TicketScreen
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

    def _target(self) -> list[int]:
        ids = self.table.target_ids()
        if not ids:
            self.notify("No ticket here.", severity="warning", timeout=2)
        return ids

    def _one(self) -> int | None:
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

        def done(status: Status | None) -> None:
            if status is not None:
                self.bulk(ids, f"{self._what(ids)}: {status.label}", status=status)
        self.app.push_screen(StatusPicker(f"Status of {self._what(ids)}"), done)

    def action_tag(self) -> None:
        ids = self._target()
        if not ids:
            return

        def done(tags: list[str] | None) -> None:
            if tags:
                self.bulk(ids, f"Tagged {self._what(ids)}", add_tags=tags)
        self.app.push_screen(TagDialog(f"Add tags to {self._what(ids)}"), done)

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
            await self.hd.tickets.bulk(ids, actor=self.me, **change)
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error", title="Not done")
        else:
            self.notify(done if isinstance(done, Text) else Text(done, end=""), timeout=3)
            self.table.clear_selection()
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
