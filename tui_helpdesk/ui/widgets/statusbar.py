"""The status bar: who I am, my availability, the view and position, sync state."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ..text import line

AVAILABILITY_STYLE = {"available": "bold green", "away": "yellow", "busy": "red", "paused": "dim"}


class StatusBar(Static):
    """One line; every piece of untrusted text in it is built as Text."""

    me_name: reactive[str] = reactive("")
    me_login: reactive[str] = reactive("")
    availability: reactive[str] = reactive("available")
    view: reactive[str] = reactive("")
    position: reactive[str] = reactive("")
    selected: reactive[int] = reactive(0)
    sync: reactive[str] = reactive("connecting")
    sync_ok: reactive[bool] = reactive(True)

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        out.append(" ● ", style=AVAILABILITY_STYLE.get(self.availability, ""))
        out.append_text(line(self.me_name or self.me_login, 30, style="bold"))
        out.append(f" ({self.availability})", style="dim")
        out.append("  │  ", style="dim")
        out.append_text(line(self.view, 40))
        if self.position:
            out.append(f"  {self.position}", style="dim")
        if self.selected:
            out.append(f"  {self.selected} selected", style="bold reverse")
        out.append("  │  ", style="dim")
        out.append(("⟳ " if self.sync_ok else "⚠ ") + self.sync, style="" if self.sync_ok else "bold red")
        return out


class KeyBar(Static):
    """The footer: the shown keys of the active bindings, on one line.

    One widget instead of one per key keeps the first frame cheap; it follows
    remapped keys because it reads the live bindings whenever they change.
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed()

    def _bindings_changed(self, *_args) -> None:
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        seen: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.show or not active.enabled:
                continue
            ident = binding.id or binding.action
            if ident in seen:
                continue
            seen.add(ident)
            display = self.app.get_key_display(binding.__class__(key, binding.action))
            out.append(f" {display} ", style="bold reverse")
            out.append(f" {binding.description}  ")
        self.update(out)
