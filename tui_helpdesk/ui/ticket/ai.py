"""AI on the ticket screen: draft, polish, translate and retry into the preview; summaries; the customer's language.

:class:`TicketAI` is mixed into :class:`~tui_helpdesk.ui.ticket.screen.TicketScreen`.
An action streams the model's answer into the
:class:`~tui_helpdesk.ui.widgets.ai_preview.AIPreview` in a worker; the draft
in the composer is touched only when the agent accepts, and nothing is ever
sent without the agent pressing send. A failure (no endpoint, a refused key,
a rate limit, a broken stream…) is one line in the preview and a toast; the
rest of the screen carries on. Translation of customer messages runs in the
background (:mod:`.translating`).
"""

from __future__ import annotations

import asyncio

from textual import work

from ...domain.ai import Action, language_name
from ...domain.errors import HelpdeskError
from ..dialogs import LineDialog
from ..widgets.ai_preview import AIPreview
from .send import edit_in_editor

LABELS = {Action.DRAFT: "AI draft", Action.POLISH: "AI polish", Action.TRANSLATE: "AI translation"}
POLISH_TONES = ("friendlier", "more formal", "shorter")


class TicketAI:
    """AI compose and summaries on the ticket screen (mixed into the ticket screen)."""

    _ai_last: tuple[Action, str, str, str] | None = None  # action, tone, instruction, the draft it started from
    _ai_worker = None

    # ------------------------------------------------------------ starting

    def action_ai_draft(self) -> None:
        self._ai_start(Action.DRAFT)

    def action_ai_polish(self, tone: str = "") -> None:
        self._ai_start(Action.POLISH, tone=tone)

    def action_ai_translate(self) -> None:
        self._ai_start(Action.TRANSLATE)

    def action_ai_retry(self) -> None:
        if self._ai_last is None:
            self._say("Nothing to retry yet: use an AI action first")
            return
        self._ask_instruction()

    def _ai_ready(self) -> bool:
        if not self.loaded:
            return False
        ai = self.hd.ai
        if not ai.configured:
            self._say(ai.unavailable_reason(), "warning")
            return False
        return True

    def _ai_start(self, action: Action, *, tone: str = "", instruction: str = "", draft: str | None = None) -> None:
        if not self._ai_ready():
            return
        if draft is None:
            draft = self.composer.text if self.composer.display or self.composer.text.strip() else ""
        if action in (Action.POLISH, Action.TRANSLATE) and not draft.strip():
            self._say(f"Write a draft first: {LABELS[action]} works on the composer's text", "warning")
            return
        if not self.composer.display:
            self.composer.open("reply")
        self._ai_last = (action, tone, instruction, draft)
        label = LABELS[action] + (f" · {tone}" if tone else "") + (" · with your instruction" if instruction else "")
        self.ai_preview.begin(label, draft, compare=action is not Action.TRANSLATE)
        self._ai_worker = self._ai_run(action, draft, tone, instruction)

    @work(exclusive=True, group="ticket-ai", exit_on_error=False)
    async def _ai_run(self, action: Action, draft: str, tone: str, instruction: str) -> None:
        preview = self.ai_preview
        try:
            # What the screen shows is what the model reads: no second read of the ticket.
            shown = (self.ticket, self.timeline.entries) if self.ticket is not None else None
            async for chunk in self.hd.ai.compose(action, self.ticket_id, self.me, draft=draft, tone=tone,
                                                  instruction=instruction, shown=shown):
                preview.add(chunk)
        except asyncio.CancelledError:
            preview.fail("Cancelled: the draft is unchanged.")
            raise
        except HelpdeskError as exc:
            preview.fail(str(exc))
            self._say(str(exc), "error")
            return
        except Exception as exc:  # noqa: BLE001 - an AI failure never takes the screen down
            preview.fail(f"The AI action failed ({type(exc).__name__}); the draft is unchanged.")
            return
        preview.finish()
        self._ai_usage_changed()

    # ------------------------------------------------------------ deciding

    def on_aipreview_decided(self, message: AIPreview.Decided) -> None:
        message.stop()
        preview = self.ai_preview
        if message.what == "cancel":
            worker = self._ai_worker
            if worker is not None and preview.streaming:
                worker.cancel()
                self._say("AI summary cancelled; nothing was posted" if preview.info
                          else "AI answer cancelled; the draft is unchanged")
            self._ai_close()
        elif message.what == "reject":
            self._ai_close()
        elif message.what in ("accept", "edit"):
            original = preview.base if self._ai_last and self._ai_last[0] is Action.TRANSLATE else None
            self.composer.replace_text(message.text)
            self.composer.show_original(original)
            self._ai_close()
            if message.what == "edit":
                self._ai_edit_in_editor()
        elif message.what == "instruct":
            self._ask_instruction()

    def _ai_close(self) -> None:
        self.ai_preview.close()
        if self.composer.display:
            self.composer.input.focus()
        else:
            self.timeline.focus()

    def _ai_edit_in_editor(self) -> None:
        text = edit_in_editor(self.app, self.composer.text, f"ticket-{self.ticket_id}")
        if isinstance(text, str):
            self.composer.replace_text(text)
        elif text is not None:
            self._say(text.message, "warning")

    @work(exclusive=True, group="ticket-ai-ask", exit_on_error=False)
    async def _ask_instruction(self) -> None:
        if self._ai_last is None:
            return
        text = await self.app.push_screen_wait(
            LineDialog("Retry with an instruction", 'e.g. "mention the refund policy"'))
        if text:
            action, tone, _old, draft = self._ai_last
            self._ai_start(action, tone=tone, instruction=text, draft=draft)

    # ------------------------------------------------------------ summary

    def action_ai_summarize(self) -> None:
        if self._ai_ready():
            self._ai_worker = self._ai_summarize()

    @work(exclusive=True, group="ticket-ai", exit_on_error=False)
    async def _ai_summarize(self) -> None:
        preview = self.ai_preview
        preview.begin("AI summary", "", info=True)  # it streams here, then lands as an internal note
        try:
            result = await self.hd.ai.summarize(self.ticket_id, self.me, on_chunk=preview.add)
        except asyncio.CancelledError:
            preview.fail("Cancelled: nothing was posted.")
            raise
        except HelpdeskError as exc:
            preview.fail(str(exc))
            self._say(str(exc), "error")
            return
        except Exception as exc:  # noqa: BLE001
            preview.fail(f"The summary failed ({type(exc).__name__})")
            self._say(f"The summary failed ({type(exc).__name__})", "error")
            return
        if not result.regenerated:
            preview.add(result.text)
        note = ("Summary added as an internal note" if result.regenerated
                else "The summary is up to date: nothing changed since it was made")
        preview.finish(note)
        self._say(note)
        self._ai_usage_changed()
        try:
            await self._refresh_live()
        except Exception:  # noqa: BLE001 - the change feed will catch up
            pass

    # ------------------------------------------------------------ language

    def action_customer_language(self) -> None:
        if self.ticket is not None:
            self._ask_language()

    @work(exclusive=True, group="ticket-ai-ask", exit_on_error=False)
    async def _ask_language(self) -> None:
        current = await self.hd.ai.customer_language(self.ticket)
        code = await self.app.push_screen_wait(LineDialog(
            f"Customer language (now: {language_name(current)}); 'auto' = detect", "fr, pt-BR, auto", current or ""))
        if not code:
            return
        try:
            await self.hd.ai.set_customer_language(self.ticket_id, None if code == "auto" else code, self.me)
        except HelpdeskError as exc:
            self._say(str(exc), "error")
            return
        self._say(f"Customer language: {language_name(await self.hd.ai.customer_language(self.ticket))}")
        self._translations_reset()

    # ------------------------------------------------------------ hooks

    def _ai_usage_changed(self) -> None:
        """Tell the app its usage figure is stale (the status bar reads it again)."""
        refresh = getattr(self.app, "refresh_ai_usage", None)
        if callable(refresh):
            refresh()

    def _translations_reset(self) -> None:
        """Overridden by the translation part; nothing to do without it."""
