"""The left rail: system views, then saved views, each with a live count.

Moving the highlight repaints the two options it leaves and reaches, not the
whole rail: a view switch's frame then costs the new rows, not the rail again.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...services.views import RailItem
from .. import keymap
from ..keys import RAIL_KEYS
from ..text import line

KIND_MARK = {"system": "", "personal": "", "shared": "⇄ ", "config": "⚙ "}


class ViewRail(OptionList):
    """An OptionList whose option ids are view keys ("inbox", "saved:3", "config:Billing")."""

    BINDINGS = keymap.bindings(RAIL_KEYS)

    highlighted: reactive[int | None] = reactive(None, repaint=False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.items: list[RailItem] = []

    def _prompt(self, item: RailItem) -> Text:
        width = max(10, (self.scrollable_content_region.width or 22) - 2)
        count = "" if item.count is None else f"{item.count:,}"
        name = Text(KIND_MARK.get(item.kind, ""), style="dim", end="")
        name.append_text(line(item.name, max(4, width - len(count) - 1 - len(name.plain))))
        pad = max(1, width - len(name.plain) - len(count))
        name.append(" " * pad)
        name.append(count, style="bold" if item.key in ("inbox", "mentions") and item.count else "dim")
        return name

    def _watch_highlighted(self, old: int | None, new: int | None) -> None:
        self._refresh_option(old)
        self._refresh_option(new)

    def _refresh_option(self, index: int | None) -> None:
        if index is None or not self.is_mounted:
            return
        try:
            y, height = self._index_to_line[index], self._heights[index]
        except KeyError:  # not laid out yet: the first full paint shows it
            return
        self.refresh_lines(y, height)

    def set_items(self, items: list[RailItem], current: str | None = None) -> None:
        """Show *items*; counts update in place when the list of views is the same."""
        same = [i.key for i in items] == [i.key for i in self.items]
        names_same = same and [i.name for i in items] == [i.name for i in self.items]
        self.items = list(items)
        if names_same:
            for item in items:
                self.replace_option_prompt(item.key, self._prompt(item))
            return
        highlighted = current or (self.highlighted_option.id if self.highlighted_option else None)
        options: list[Option | None] = []
        saved_started = False
        for item in items:
            if item.kind != "system" and not saved_started:
                options.append(None)
                saved_started = True
            options.append(Option(self._prompt(item), id=item.key))
        self.set_options(options)
        if highlighted:
            self.select_key(highlighted)

    def select_key(self, key: str) -> None:
        try:
            self.highlighted = self.get_option_index(key)
        except Exception:  # noqa: BLE001 - the view is gone (deleted elsewhere)
            if self.option_count:
                self.highlighted = 0

    def item(self, key: str) -> RailItem | None:
        return next((i for i in self.items if i.key == key), None)

    def on_resize(self) -> None:
        if self.items:
            for item in self.items:
                self.replace_option_prompt(item.key, self._prompt(item))
