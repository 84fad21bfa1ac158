"""The inbox screen: the view rail, the ticket table, the filter bar and the status bar.

Data comes from the services in workers; the app's change-feed watcher calls
:meth:`InboxScreen.apply_changes` so counts and rows follow other terminals.
The screen is composed of three parts beside it: loading and refreshing the
views (``inbox_views``), filters, saved views, columns and sort
(``inbox_filters``), and the actions on tickets (``inbox_actions``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.worker import Worker

from ..domain.model import Agent
from ..domain.query import Sort, SortKey, ViewSpec
from ..services.views import RailItem
from ..bootstrap import chatbot_configured
from . import keymap
from .keys import INBOX_KEYS
from .filters import FilterBar
from .inbox_actions import InboxActions
from .inbox_filters import InboxFilters
from .inbox_views import InboxViews
from .widgets.rail import ViewRail
from .widgets.keybar import KeyBar
from .widgets.statusbar import StatusBar
from .widgets.table import TicketTable
from .widgets.table_rows import COLUMN_SORT

if TYPE_CHECKING:
    from ..bootstrap import Helpdesk
    from .conversations import ConversationsView

class InboxScreen(InboxViews, InboxFilters, InboxActions, Screen):
    """The rail, the table and the bars; views, filters and ticket actions come from the mixins beside it.

    Message handlers stay here: Textual finds ``@on`` handlers only on the
    widget's own classes, not on plain mixins.
    """

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

    NARROW = 100  # columns: below this the rail is slimmer (app.tcss ".-narrow")

    def compose(self) -> ComposeResult:
        # Decided before the first layout: set on the first resize instead, the first
        # frame at 80 columns was drawn wide and then redrawn (a visible jump).
        self.set_class(self.app.size.width < self.NARROW, "-narrow")
        with Horizontal(id="main"):
            yield ViewRail(id="rail")
            with Vertical(id="content"):
                bar = FilterBar(id="filter-bar")
                bar.display = False
                yield bar
                yield TicketTable(id="tickets", now=self.now)
                empty = Static("", id="empty-state")
                empty.display = False
                yield empty
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

    @property
    def showing_conversations(self) -> bool:
        """The Conversations view is up (its list, not the ticket table, has the rows)."""
        if self.view_key != "conversations":
            return False
        try:
            conversations = self.conversations
        except NoMatches:  # asked before the screen is composed
            return False
        return conversations is not None and conversations.display

    # Keys of the ticket table: they have nothing to act on in the Conversations list,
    # so there they are neither shown nor run (a filter typed there would stick to the next view).
    TABLE_ONLY = frozenset({"filter", "filter_builder", "clear_filter", "save_view", "edit_view", "delete_view",
                            "columns", "sort_next", "sort_reverse", "toggle_select", "select_all", "unselect"})

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in self.TABLE_ONLY and self.showing_conversations:
            return False
        return True

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
        self.set_class(event.size.width < self.NARROW, "-narrow")

    # --------------------------------------------------------------- events

    def on_unmount(self) -> None:
        self._release_frames()

    @on(OptionList.OptionHighlighted, "#rail")
    def _rail_moved(self, event: OptionList.OptionHighlighted) -> None:
        key = event.option.id
        if key and key != self.view_key and self.loaded:
            self._switch(key)

    @on(OptionList.OptionSelected, "#rail")
    def _rail_chosen(self, event: OptionList.OptionSelected) -> None:
        self.table.focus()

    def on_screen_suspend(self) -> None:
        self._left = True

    def on_screen_resume(self) -> None:
        # Back from a ticket or a dialog: what changed meanwhile. (The first resume,
        # right after start, would only count the rail a second time.)
        if self.loaded and self._left:
            self._left = False
            self.refresh_view()

    @on(TicketTable.WindowChanged)
    def _window_changed(self, event: TicketTable.WindowChanged) -> None:
        self._update_position()

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

    @on(TicketTable.RowSelected)
    def _row_selected(self, event: TicketTable.RowSelected) -> None:
        event.stop()
        self.open_ticket_soon(event.ticket_id)
