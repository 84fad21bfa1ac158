"""The AI preview beside the composer: the model's answer as it streams, as a word diff against the draft.

It never touches the draft: the agent accepts (the answer replaces the draft
in the composer), rejects, accepts into ``$EDITOR``, retries with a one-line
instruction or cancels mid-stream, and the screen does what was asked. The
answer is untrusted text: it is cleaned and shown as plain ``Text``, never
markup. A translation shows both versions, the draft above its translation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from ...domain.ai import word_diff
from ...domain.text import clean
from ..keymap import bindings
from ..keys import AI_PREVIEW_KEYS

REDRAW_SECONDS = 0.05  # at most this often while streaming: a diff per chunk would be wasted work
REVEAL_SECONDS = 0.03  # the preview appears this long after the request (or at the first text)


class AIPreview(VerticalScroll, can_focus=True):
    """The streamed answer of one AI action, and what the agent decides about it."""

    BINDINGS = bindings(AI_PREVIEW_KEYS)

    @dataclass
    class Decided(Message):
        """``what``: accept | reject | edit | instruct | cancel."""

        preview: "AIPreview"
        what: str
        text: str

        @property
        def control(self) -> "AIPreview":
            return self.preview

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = Static("", id="ai-preview-title", markup=False)
        self.body = Static("", id="ai-preview-body", markup=False)
        self.hint = Static("", id="ai-preview-hint", markup=False)
        self.label = ""
        self.base = ""
        self.answer = ""
        self.streaming = False
        self.failed = ""
        self.compare = True  # a word diff against the draft; False: both versions (translation)
        self.info = False  # an answer to read, not to put in the composer (a summary posted as a note)
        self.done_note = ""  # what the hint says once an info answer is complete
        self.started = 0.0
        self.first_token_at: float | None = None  # monotonic, when the first text was on screen
        self._drawn_at = 0.0
        self._revealed = False
        self._reveal_timer = None

    def compose(self):
        yield self.title
        yield self.body
        yield self.hint

    # ------------------------------------------------------------ state

    def begin(self, label: str, base: str, *, compare: bool = True, info: bool = False) -> None:
        """A new answer is on its way: shown a moment later (or at its first text), not at once.

        Showing the preview changes the screen's layout, and drawing that frame
        holds the event loop for a few to tens of milliseconds: the request
        leaves first, while the model thinks.
        """
        self.label, self.base, self.answer, self.failed = label, base, "", ""
        self.compare = compare
        self.info, self.done_note = info, ""
        self.streaming = True
        self.started = time.monotonic()
        self.first_token_at = None
        self._revealed = False
        if self._reveal_timer is not None:
            self._reveal_timer.stop()
        self._reveal_timer = self.set_timer(REVEAL_SECONDS, self._reveal)

    def close(self) -> None:
        if self._reveal_timer is not None:
            self._reveal_timer.stop()
        self._revealed = True  # nothing more to reveal for this answer
        self.display = False

    def _reveal(self) -> None:
        if self._revealed:
            return
        self._revealed = True
        self.display = True
        self._draw()
        self.focus()

    def add(self, chunk: str) -> None:
        self._reveal()
        self.answer += chunk
        now = time.monotonic()
        if self.first_token_at is None and self.answer.strip():
            self._draw()
            self.first_token_at = time.monotonic()
        elif now - self._drawn_at >= REDRAW_SECONDS:
            self._draw()

    def finish(self, note: str = "") -> None:
        self.streaming = False
        self.done_note = note
        self._reveal()
        self._draw()

    def fail(self, message: str) -> None:
        self.streaming = False
        self.failed = message
        self._reveal()
        self._draw()

    @property
    def result(self) -> str:
        return clean(self.answer).strip()

    # ------------------------------------------------------------ drawing

    def _draw(self) -> None:
        self._drawn_at = time.monotonic()
        title = Text(end="")
        title.append(f" {self.label} ", style="bold reverse")
        if self.streaming:
            title.append("  writing…", style="italic")
        elif self.failed:
            title.append("  failed", style="bold")
        else:
            title.append("  done", style="italic")
        if "[simulated]" in self.answer or "[simulated " in self.answer:
            title.append("  · simulated model", style="bold")
        self.title.update(title)
        self.body.update(self._body())
        hint = Text(style="dim", end="")
        if self.failed:
            hint.append("the draft is unchanged · i retry with an instruction · esc close")
        elif self.streaming:
            hint.append("esc cancel" if self.info else "esc cancel · the draft is unchanged until you accept")
        elif self.info:
            hint.append(f"{self.done_note} · esc close" if self.done_note else "esc close")
        else:
            hint.append("enter/y accept · n reject · e accept into $EDITOR · i retry with an instruction · esc close")
        self.hint.update(hint)

    def _body(self) -> Text:
        out = Text(end="")
        if self.failed:
            out.append(self.failed, style="bold")
            return out
        answer = clean(self.answer)
        if not self.compare:
            out.append("Your draft:\n", style="dim italic")
            out.append(clean(self.base).strip() + "\n\n")
            out.append("Translation:\n", style="dim italic")
            out.append(answer)
            return out
        if not self.base.strip():
            out.append(answer)
            return out
        for piece in word_diff(clean(self.base), answer):
            if piece.op == "=":
                out.append(piece.text)
            elif piece.op == "-":
                out.append(piece.text, style="strike red")
            else:
                out.append(piece.text, style="bold green")
        return out

    # ------------------------------------------------------------ actions

    def _decide(self, what: str) -> None:
        self.post_message(self.Decided(self, what, self.result))

    def action_accept(self) -> None:
        if self.info:
            if not self.streaming:
                self._decide("reject")  # read: close it
        elif not self.streaming and not self.failed and self.result:
            self._decide("accept")

    def action_edit(self) -> None:
        if not self.info and not self.streaming and not self.failed and self.result:
            self._decide("edit")

    def action_reject(self) -> None:
        if not self.streaming:
            self._decide("reject")

    def action_instruct(self) -> None:
        if not self.info and not self.streaming:
            self._decide("instruct")

    def action_cancel(self) -> None:
        self._decide("cancel")
