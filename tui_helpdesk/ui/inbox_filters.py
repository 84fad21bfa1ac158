"""The inbox's filter and saved views: the query bar, the builder, save / edit / delete, columns and sort.

:class:`InboxFilters` is the part of :class:`~.inbox.InboxScreen` that narrows
the current view (a filter query), keeps it as a saved view, and changes its
columns and sort; the dialogs themselves are in ``ui/filters.py``.
"""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual import work

from ..domain import querylang
from ..domain.errors import HelpdeskError, QueryError
from ..domain.query import ME, NOBODY, Field, Sort, SortKey, ViewSpec
from ..services.views import RailItem
from .dialogs import ConfirmDialog
from .filters import FilterBar, FilterBuilder
from .view_dialogs import ColumnsDialog, SaveViewDialog, ViewForm
from .text import line, plain

SORT_CYCLE = (SortKey.UPDATED, SortKey.CREATED, SortKey.ID, SortKey.STATUS, SortKey.REQUESTER,
              SortKey.ASSIGNEE, SortKey.SUBJECT)


class InboxFilters:
    """Filtering, saved views, columns and sort of the inbox (a mixin of :class:`~.inbox.InboxScreen`)."""

    # --------------------------------------------------------------- filter

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(self.filter_query)

    def set_filter(self, query: str, spec: ViewSpec | None = None) -> None:
        query = query.strip()
        if query and spec is None:
            try:
                spec = querylang.parse(query)
            except QueryError as exc:
                self.notify(plain(exc.reason), severity="error", title="Filter")
                return
        if query and any(c.field is Field.ASSIGNEE and set(c.values) - {ME, NOBODY} for c in spec.conditions):
            # Only a query naming agents waits for the team to be read.
            self._check_agents_then_filter(query, spec)
            return
        self._apply_filter(query, spec)

    @work(group="filter", exclusive=True, exit_on_error=False)
    async def _check_agents_then_filter(self, query: str, spec: ViewSpec) -> None:
        try:
            await self.hd.views.check_agents(spec, query)
        except QueryError as exc:
            self.query_one(FilterBar).refuse(query, exc)
            return
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error", title="Filter")
            return
        self._apply_filter(query, spec)

    def _apply_filter(self, query: str, spec: ViewSpec | None) -> None:
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
        return querylang.format_spec(spec.simplified()) if spec is not None else ""

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
