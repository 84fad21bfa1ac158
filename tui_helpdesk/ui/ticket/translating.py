"""Customer messages in the team's language on the ticket screen, translated in the background.

:class:`TicketTranslating` is mixed into
:class:`~tui_helpdesk.ui.ticket.screen.TicketScreen`. Translation never
competes with opening the ticket: it starts :data:`SETTLE_SECONDS` after the
open has settled (the first frame and the rest of the first page are drawn),
and entries shown meanwhile (older pages, live ones) join that one scheduled
start or the pass under way instead of restarting it. A pass asks whether the
desk translates and what the customer's language is; when that differs from
the team's, a banner names the language, stored translations are shown (one
layout for all of them) and the missing ones are made one at a time, newest
first, each message saying "translating…" until it fills in. Very long
messages are translated only when the agent asks. Closing the screen stops
what is under way (its workers and timer end with it; nothing half-made is
stored). Replies, notes and events are never translated. ``T`` on a message
toggles between the original and the translation (or translates it now); on a
reply sent as an AI translation it shows the agent's own text.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import work

from ...domain.ai import language_name
from ...domain.errors import HelpdeskError
from ...domain.model import EntryKind, TimelineEntry
from ...services.ai.service import LONG_MESSAGE_CHARS
from ..keys import AI_ORIGINAL
from ..widgets.entry_text import Translated, sent_original


SETTLE_SECONDS = 0.25  # after the open has settled, before translation starts


class TicketTranslating:
    """Background translation of the shown customer messages (mixed into the ticket screen)."""

    _tr_target: str | None = None  # the team's language while translation is on for this ticket
    _tr_source: str | None = None
    _tr_model: str = ""
    _tr_settled_at: float | None = None  # when the open settled (the first call below)
    _tr_started_at: float | None = None  # when the first pass began
    _tr_timer = None  # the one scheduled start
    _tr_worker = None  # the pass under way
    _tr_more = False  # entries were shown during the pass: look again when it ends
    _tr_made = 0  # translations asked of the model in this run

    def _translate_shown(self) -> None:
        """Called when entries were shown (the open settled, older ones, live ones): cheap, and batched."""
        if self.ticket is None or not self.hd.ai.configured:
            return
        now = time.monotonic()
        if self._tr_settled_at is None:
            self._tr_settled_at = now
        if self._tr_timer is not None:
            return  # a start is scheduled: it sees these entries too
        worker = self._tr_worker
        if worker is not None and worker.is_running:
            self._tr_more = True  # the pass under way looks again at its end (no request is cut short)
            return
        wait = self._tr_settled_at + SETTLE_SECONDS - now
        if wait > 0:
            self._tr_timer = self.set_timer(wait, self._translate_start)
        else:
            self._translate_start()

    def _translate_start(self) -> None:
        self._tr_timer = None
        if self._tr_started_at is None:
            self._tr_started_at = time.monotonic()
        self._tr_more = False
        self._tr_worker = self._translate_run()

    def _translations_reset(self) -> None:
        """The customer's language changed: what is under way is for the old one; start again."""
        if self._tr_worker is not None:
            self._tr_worker.cancel()
            self._tr_worker = None
        self._tr_target = None
        self.timeline.set_translations({entry_id: None for entry_id in self.timeline.translations})
        self._translate_shown()

    _tr_banner: str | None = None

    def _show_banner(self, text: str | None) -> None:
        if text == self._tr_banner:
            return  # a later pass: the same banner, no layout
        self._tr_banner = text
        banner = self.query_one("#ticket-translation")
        if text:
            banner.update(Text(text, end=""))
        banner.display = bool(text)

    @work(exclusive=True, group="ticket-translate", exit_on_error=False)
    async def _translate_run(self) -> None:
        self._tr_made = 0
        try:
            while True:
                await self._translate_pass()
                if not self._tr_more:
                    return
                self._tr_more = False
        finally:
            if self._tr_made:  # the status bar's "AI today" figure counts them: once per run, not per message
                self._ai_usage_changed()

    async def _translate_pass(self) -> None:
        ai = self.hd.ai
        try:
            if self._tr_target is None:
                policy = await ai.policy(self.ticket)
                source = await ai.customer_language(self.ticket)
                if source:
                    how = await ai.language_source(self.ticket)
                    self.details.show_customer_language(f"{language_name(source)} ({how})")
                if not policy.wants(source):
                    self._show_banner(None)
                    return
                self._tr_target, self._tr_source = policy.team_language, source
                self._tr_model = ai.model_for_messages()
            target, source = self._tr_target, self._tr_source
            name = language_name(source)
            self._show_banner(f"The customer writes in {name}: their messages are shown in {language_name(target)} "
                              f"(machine translation, {self._tr_model}) · {self.keys_of(AI_ORIGINAL)} "
                              f"on a message shows the original")
            timeline = self.timeline
            # Pending ones too: a run replaced by a newer one (new entries arrived) leaves them to it.
            todo = [e for e in timeline.entries if e.kind is EntryKind.MESSAGE
                    and (e.id not in timeline.translations or timeline.translations[e.id].state == "pending")]
            if not todo:
                return
            cached = await ai.cached_translations(todo, target)
            first: dict[int, Translated | None] = {}
            for entry in todo:
                if entry.id in cached:
                    first[entry.id] = Translated("done", name, cached[entry.id])
                elif len(entry.body) > LONG_MESSAGE_CHARS:
                    first[entry.id] = Translated("long", name)
                else:
                    first[entry.id] = Translated("pending", name)
            timeline.set_translations(first)  # one layout for all of them
            for entry in reversed(todo):  # newest first: what the agent reads first
                if self._tr_more:
                    return  # newer entries were shown: the next pass starts from the newest again
                if timeline.translations.get(entry.id, Translated("", "")).state == "pending":
                    await self._translate_one(entry, target, source, name)
        except HelpdeskError as exc:
            self._say(f"translation: {exc}", "warning")

    async def _translate_one(self, entry: TimelineEntry, target: str, source: str | None, name: str) -> None:
        timeline = self.timeline
        self._tr_made += 1
        try:
            text = await self.hd.ai.translate_entry(entry, target, source=source, desk_id=self.ticket.desk_id,
                                                    agent_id=self.me.id)
        except HelpdeskError as exc:
            timeline.set_translation(entry.id, Translated("failed", name))
            self._say(f"translation of a message failed: {exc}", "warning")
            return
        timeline.set_translation(entry.id, Translated("done", name, text))

    def action_toggle_original(self) -> None:
        entry = self.timeline.current_entry
        if entry is not None and sent_original(entry) is not None:  # a reply sent translated: the agent's text
            shown = self.timeline.translations.get(entry.id)
            self.timeline.set_translation(entry.id, None if shown else Translated("sent", "", original=True))
            return
        if entry is None or entry.kind is not EntryKind.MESSAGE:
            return
        shown = self.timeline.translations.get(entry.id)
        if shown is None:
            return
        if shown.state == "done":
            self.timeline.set_translation(entry.id, Translated("done", shown.language, shown.text, not shown.original))
        elif shown.state in ("long", "failed") and self._tr_target:
            self.timeline.set_translation(entry.id, Translated("pending", shown.language))
            self._translate_now(entry)

    @work(group="ticket-translate-one", exit_on_error=False)
    async def _translate_now(self, entry: TimelineEntry) -> None:
        await self._translate_one(entry, self._tr_target, self._tr_source, language_name(self._tr_source))
        self._ai_usage_changed()
