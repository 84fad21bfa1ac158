"""The composer at the foot of the ticket screen: a reply or an internal note.

It only edits text and says what the agent wants (messages); the screen does
the saving, the collision check and the sending. In note mode, typing
``@`` followed by the start of a login offers the matching agents: the rest of
the first match is shown as a suggestion, Tab or → accepts it, ctrl+n picks
the next match. On an email ticket a reply shows its To and a Cc line the
agent can change (kept for the ticket's next replies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Static, TextArea

from ..keymap import bindings
from ..keys import COMPOSER_KEYS
from ..text import address_list
from .entry_text import safe_line

_TYPING_MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9_.-]*)$")


class ComposerInput(TextArea):
    """A TextArea that completes ``@login`` from the team's logins."""

    def __init__(self, **kwargs):
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False, **kwargs)
        self.logins: list[tuple[str, str]] = []  # (login, name)
        self.mentions_on = False
        self.matches: list[tuple[str, str]] = []
        self.match_index = 0
        self._prefix = ""

    def on_unmount(self) -> None:
        # TextArea watches ``app.theme`` and Textual drops such watchers only when the
        # theme next changes: until then every closed ticket screen's editor (and its
        # caches, thousands of objects) would stay in memory, making every full garbage
        # collection slower. Let go of it now.
        watchers = getattr(self.app, "__watchers", {}).get("theme")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if node is not self]

    def _typed_prefix(self) -> str | None:
        row, col = self.cursor_location
        if not self.selection.is_empty:
            return None
        line = self.document.get_line(row)[:col]
        m = _TYPING_MENTION.search(line)
        return m.group(1) if m else None

    def update_suggestion(self) -> None:
        prefix = self._typed_prefix() if self.mentions_on and self.logins else None
        if prefix is None:
            self._set_matches([], "")
            return
        low = prefix.lower()
        matches = [(login, name) for login, name in self.logins if login.lower().startswith(low) and login.lower() != low]
        if prefix != self._prefix:
            self.match_index = 0
        self._set_matches(matches, prefix)

    def _set_matches(self, matches: list[tuple[str, str]], prefix: str) -> None:
        changed = matches != self.matches
        self.matches = matches
        self._prefix = prefix
        if matches:
            self.match_index %= len(matches)
            self.suggestion = matches[self.match_index][0][len(prefix):] + " "
        else:
            self.match_index = 0
            self.suggestion = ""
        if changed or matches:
            self.post_message(Composer.MentionMatches(self, list(matches), self.match_index))

    def cycle(self, step: int) -> None:
        if self.matches:
            self.match_index = (self.match_index + step) % len(self.matches)
            self._set_matches(self.matches, self._prefix)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "tab" and self.suggestion:
            event.stop()
            event.prevent_default()
            self.insert(self.suggestion)
            return
        await super()._on_key(event)


class Composer(Vertical):
    """Reply / note editor. Hidden until the agent starts writing."""

    BINDINGS = bindings(COMPOSER_KEYS)

    mode: reactive[str] = reactive("reply")

    @dataclass
    class Send(Message):
        composer: "Composer"
        mode: str
        body: str

        @property
        def control(self) -> "Composer":
            return self.composer

    @dataclass
    class Edited(Message):
        """The text or mode changed (the screen saves the draft, debounced)."""

        composer: "Composer"

        @property
        def control(self) -> "Composer":
            return self.composer

    @dataclass
    class Hidden(Message):
        composer: "Composer"

        @property
        def control(self) -> "Composer":
            return self.composer

    @dataclass
    class Wants(Message):
        """The agent asked for the editor or the canned replies: the screen provides them."""

        composer: "Composer"
        what: str  # "editor" | "canned" | "recipients" (a reply is being written: who gets it?)

        @property
        def control(self) -> "Composer":
            return self.composer

    @dataclass
    class MentionMatches(Message):
        input: ComposerInput
        matches: list[tuple[str, str]]
        index: int

        @property
        def control(self) -> ComposerInput:
            return self.input

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.base_entry_id = 0  # the ticket's last entry when this draft began
        self.sending = False
        self.input = ComposerInput(id="composer-input")
        self.to: str | None = None  # an email ticket's customer, once read; None elsewhere
        self._cc: list[str] = []
        self._asked_recipients = False
        self.original: str | None = None  # the agent's own text when the draft is its AI translation

    def compose(self):
        yield Static("", id="composer-title", markup=False)
        yield Static("", id="composer-original", markup=False)
        yield Static("", id="composer-mentions", markup=False)
        cc = Input(placeholder="Cc: addresses, separated by commas (empty: nobody)", id="composer-cc")
        cc.display = False
        yield cc
        yield self.input
        yield Static("", id="composer-hint", markup=False)

    def on_mount(self) -> None:
        self._show_mode()
        self.query_one("#composer-mentions").display = False
        self.query_one("#composer-original").display = False

    def show_original(self, text: str | None) -> None:
        """Show the agent's own draft above its translation (None hides it); a reply sent keeps it."""
        self.original = text or None
        box = self.query_one("#composer-original", Static)
        if text:
            line = Text(end="", no_wrap=True, overflow="ellipsis")
            line.append("Before translation: ", style="dim italic")
            line.append_text(safe_line(text, 400, style="dim"))
            box.update(line)
        box.display = bool(text)

    @property
    def text(self) -> str:
        return self.input.text

    def set_logins(self, logins: list[tuple[str, str]]) -> None:
        self.input.logins = sorted(logins, key=lambda item: item[0].lower())

    def load(self, text: str, mode: str, base_entry_id: int) -> None:
        """Put *text* in (a restored draft, a cleared composer).

        This still posts :class:`Edited`; the screen compares with what it
        saved last, so loading is not mistaken for typing.
        """
        self.mode = mode
        self.input.load_text(text)
        self.input.move_cursor(self.input.document.end)
        self.base_entry_id = base_entry_id
        if not text.strip() and self.is_mounted:
            self.show_original(None)

    def set_recipients(self, to: str | None, cc: list[str]) -> None:
        """Who a reply goes to (email tickets): To is shown, Cc can be changed for this reply and the next."""
        self.to, self._cc = to, list(cc)
        self.query_one("#composer-cc", Input).value = ", ".join(cc)
        self._show_mode()

    def cc_choice(self) -> list[str] | None:
        """The Cc the agent set, or None when it is as it was (the ticket's own Cc stays)."""
        if self.to is None:
            return None
        chosen = address_list(self.query_one("#composer-cc", Input).value)
        return None if chosen == [a.lower() for a in self._cc] else chosen

    def open(self, mode: str | None = None) -> None:
        if mode:
            self.mode = mode
        self.display = True
        self._want_recipients()
        self.input.focus()
        self.input.move_cursor(self.input.document.end)

    def insert(self, text: str) -> None:
        self.input.insert(text)

    def replace_text(self, text: str) -> None:
        self.input.load_text(text)
        self.input.move_cursor(self.input.document.end)
        self.post_message(self.Edited(self))

    # -------------------------------------------------------------- showing

    def watch_mode(self) -> None:
        if self.is_mounted:
            self._show_mode()
            self.post_message(self.Edited(self))
            if self.display and self.input.has_focus:
                self._want_recipients()  # switched to reply while writing

    def _want_recipients(self) -> None:
        """Ask the screen who a reply goes to, once, when the agent starts writing one.

        Not when a draft is merely restored on opening: the To/Cc line (and the mail
        service behind it) would change the layout right after the ticket's first frame.
        """
        if self.mode != "note" and self.to is None and not self._asked_recipients:
            self._asked_recipients = True
            self.post_message(self.Wants(self, "recipients"))

    def _show_mode(self) -> None:
        note = self.mode == "note"
        self.set_class(note, "-note")
        self.input.mentions_on = note
        title = Text(end="")
        if note:
            title.append(" INTERNAL NOTE ", style="bold reverse")
            title.append("  only agents see this · @login mentions a teammate", style="italic")
        else:
            title.append(" REPLY ", style="bold reverse")
            if self.to:
                title.append("  to ", style="italic")
                title.append_text(safe_line(self.to, 120, style="bold"))
            else:
                title.append("  to the customer", style="italic")
        self.query_one("#composer-title", Static).update(title)
        self.query_one("#composer-cc").display = not note and self.to is not None
        hint = Text("ctrl+s send · ctrl+g reply/note · ctrl+o $EDITOR · ctrl+t canned · esc hide", style="dim")
        self.query_one("#composer-hint", Static).update(hint)

    def on_composer_mention_matches(self, message: MentionMatches) -> None:
        box = self.query_one("#composer-mentions", Static)
        if not message.matches:
            box.display = False
            return
        line = Text(end="", no_wrap=True, overflow="ellipsis")
        for i, (login, name) in enumerate(message.matches[:8]):
            if i:
                line.append("  ")
            style = "bold reverse" if i == message.index else ""
            line.append_text(safe_line(f"@{login}", 40, style=style))
            line.append(" ")
            line.append_text(safe_line(name, 40, style="dim"))
        line.append("   tab/→ complete · ctrl+n next", style="dim italic")
        box.update(line)
        box.display = True

    # --------------------------------------------------------------- events

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Edited(self))

    # -------------------------------------------------------------- actions

    def action_send(self) -> None:
        if not self.sending:
            self.post_message(self.Send(self, self.mode, self.text))

    def action_hide(self) -> None:
        if self.input.matches:
            self.input._set_matches([], "")
            return
        self.display = False
        self.post_message(self.Hidden(self))

    def action_toggle_mode(self) -> None:
        self.mode = "note" if self.mode == "reply" else "reply"

    def action_editor(self) -> None:
        self.post_message(self.Wants(self, "editor"))

    def action_canned(self) -> None:
        self.post_message(self.Wants(self, "canned"))

    def action_mention(self, step: int) -> None:
        self.input.cycle(step)
