"""The footer of the inbox and the ticket screen: the keys that work now, on one line.

Textual's ``Footer`` is a container of one widget per key and rebuilds them
all whenever the bindings may have changed (focus moving, the composer
opening, a dialog closing): opening a ticket rebuilt it several times, at a
few milliseconds a key. This bar is one widget: it works out the keys when
the screen says its bindings changed, and only redraws when they differ.
It looks like the Footer (the same theme variables) and a click on a key
presses it. Where the line is too short, whole keys are left out from the
end (Help, which lists them all, stays) instead of cutting a label in two.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget, can_focus=False):
    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--palette"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyBar > .keybar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .keybar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyBar > .keybar--palette {
        color: $foreground 20%;
    }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        # (key, key as shown, description, enabled) for each key shown, and the palette's key.
        self.keys: tuple[tuple[str, str, str, bool], ...] = ()
        self.palette: tuple[str, str] | None = None
        self._spans: list[tuple[int, int, str]] = []  # cells start..end -> key, for clicks

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        app = self.app
        active = screen.active_bindings
        seen: set[str] = set()
        keys = []
        for key, (_, binding, enabled, _) in active.items():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)  # one entry per action, like the Footer
            keys.append((key, app.get_key_display(binding), binding.description, enabled))
        palette = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
            _, binding, _, _ = active[app.COMMAND_PALETTE_BINDING]
            palette = (app.COMMAND_PALETTE_BINDING, app.get_key_display(binding))
        keys_tuple = tuple(keys)
        if keys_tuple != self.keys or palette != self.palette:
            self.keys, self.palette = keys_tuple, palette
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        description_style = self.get_component_rich_style("keybar--description")
        out = Text(no_wrap=True, overflow="crop", end="")
        spans = []
        for key, shown, description, enabled in self._fitting(self.size.width):
            start = out.cell_len
            dim = "" if enabled else "dim"
            out.append(f" {shown} ", key_style + dim if dim else key_style)
            if description:
                out.append(f"{description} ", description_style + dim if dim else description_style)
            spans.append((start, out.cell_len, key))
        if self.palette is not None:
            key, shown = self.palette
            tail = Text(end="")
            tail.append("▏", self.get_component_rich_style("keybar--palette"))
            tail.append(f"{shown} ", key_style)
            tail.append("palette ", description_style)
            room = self.size.width - tail.cell_len
            if room >= out.cell_len:
                out.append(" " * (room - out.cell_len))
                spans.append((room, room + tail.cell_len, key))
                out.append_text(tail)
        self._spans = spans
        return out

    def _fitting(self, width: int) -> tuple[tuple[str, str, str, bool], ...]:
        """The keys that fit whole in *width* cells, in order; Help stays last when others must go.

        A label cut in half ("c  Cl") reads as a different key; a key left out
        is still listed by Help.
        """
        cells = [len(f" {shown} ") + (len(description) + 1 if description else 0)
                 for _key, shown, description, _enabled in self.keys]
        if not width or sum(cells) <= width:
            return self.keys
        help_at = next((i for i, k in enumerate(self.keys) if k[2] == "Help"), None)
        room = width - (cells[help_at] if help_at is not None else 0)
        kept = []
        for index, item in enumerate(self.keys):
            if index == help_at:
                continue
            if cells[index] > room:
                break
            kept.append(item)
            room -= cells[index]
        return (*kept, self.keys[help_at]) if help_at is not None else tuple(kept)

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                event.stop()
                self.app.simulate_key(key)
                return
