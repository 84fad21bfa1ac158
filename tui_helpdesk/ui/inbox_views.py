"""The inbox's views: which one is shown, loading it into the table, counting, following the feed.

:class:`InboxViews` is the part of :class:`~.inbox.InboxScreen` that loads the
current view (rail item, filter, session sort and columns) into the ticket
table in a worker, holds the screen's frames while it does (so a view switch
paints once), refreshes counts and rows after changes, and keeps the status
bar's position current.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from textual import work
from textual.widgets import Static
from textual.worker import WorkerState, get_current_worker

from ..domain.errors import HelpdeskError
from ..domain.query import DEFAULT_COLUMNS, Field, ViewSpec
from ..services.views import RailItem
from . import heap
from .empty import empty_text
from .text import plain
from .widgets.table_window import PAGE_SIZE

# A view switch holds the screen's frames until the new rows are in the table,
# so the rail, the status bar and the rows change in one frame. A painted
# in-between frame (only the rail's highlight moved) costs a render and, as
# Textual's frame timer re-aligns after a long idle, pushes the frame with the
# rows a whole timer period or two later. A slow view paints after this long.
HOLD_LIMIT = 0.1


def _has_text(spec: ViewSpec) -> bool:
    return any(c.field is Field.TEXT for c in spec.conditions)


class InboxViews:
    """Loading and refreshing the inbox's current view (a mixin of :class:`~.inbox.InboxScreen`)."""

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
            if conversations.display != showing:
                self.refresh_bindings()  # the table's own keys come and go with it
            conversations.display = showing
        table.display = not showing
        if showing:
            conversations.refresh_data()
        if in_tables:
            conversations.focus_table() if showing else table.focus()
        if spec is None:
            from ..domain.views import Page

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
        self._update_empty()  # a desk's first ticket ends the new-desk words

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

    # ----------------------------------------------------------- the status

    def _update_position(self) -> None:
        table = self.table
        self.status.position = table.position()
        self.status.selected = len(table.selected)
        self._update_empty()

    def _update_empty(self) -> None:
        """An empty list says where its tickets would come from (a new desk: how to get any)."""
        table = self.table
        box = self.query_one("#empty-state", Static)
        empty = self.loaded and table.display and table.row_count == 0
        if empty:
            item = self.current_item()
            every = self.rail.item("all")
            new_desk = (every is not None and every.count == 0 and not self.chatbot
                        and not any(desk.emails for desk in self.hd.settings.desks))
            box.update(empty_text(self.view_key, item.name if item else self.view_key, self.filter_query,
                                  new_desk=new_desk))
        if box.display != empty:
            box.display = empty
            table.set_class(empty, "-empty")
