"""The ticket screen itself: its layout, keys and notifications, with its three parts composed in.

``TicketScreen(hd, me, ticket_id)`` is pushed by the inbox (or by itself, to
open one of the requester's previous tickets); Escape pops it. Every database
call runs in a worker. The screen hears of other terminals' changes through
the app's change feed (:class:`~tui_helpdesk.ui.feed.FeedChanged`), so replies
appear live, and keeps the agent's presence (viewing / typing) and draft in
the database.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import messages, on, work
from textual._time import get_time
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Static

from ...domain.model import Agent, Status, Ticket, TicketType
from ...domain.text import one_line
from ...services.composer import ComposerService, Here
from ...services.delivery import DeliveryService
from ..keymap import bindings, key_hints
from ..keys import Key
from ..keys import AI_KEYS, AI_ORIGINAL, ALLOW_AI, ATTACHMENTS, RESEND, TICKET_KEYS
from ..widgets.ai_preview import AIPreview
from ..widgets.composer import Composer
from ..widgets.details import DetailsPanel, PreviousTickets
from ..widgets.entry_text import safe_line
from ..widgets.keybar import KeyBar
from ..widgets.timeline import Timeline
from .actions import TicketActions
from .ai import POLISH_TONES, TicketAI
from .translating import TicketTranslating
from .commands import TicketCommands
from .loading import TICK_SECONDS, TicketLoading
from .send import TicketSending
from .threads import TicketThreads

NARROW = 96  # below this width the details panel starts hidden


class TicketScreen(TicketLoading, TicketSending, TicketActions, TicketThreads, TicketTranslating, TicketAI, Screen):
    # Beside the app's stylesheet, not in this package: the ticket dialogs read it too.
    CSS_PATH = Path(__file__).resolve().parent.parent / "ticket.tcss"
    BINDINGS = bindings(TICKET_KEYS + AI_KEYS)
    COMMANDS = {TicketCommands}

    def __init__(self, hd, me: Agent, ticket_id: int):
        super().__init__(classes="ticket-screen")
        self.hd = hd
        self.me = me
        self.ticket_id = ticket_id
        self.ticket: Ticket | None = None
        self.shown = False  # the ticket is on screen (its first frame)
        self.loaded = False  # ...and everything else is read: the team, mentions marked read
        self.composer_service = ComposerService(hd.store)
        self.deliveries = DeliveryService(hd)
        self._canned_loaded = False
        self._first: asyncio.Future | None = None  # the first reads, started while the screen mounts
        self._agents: list[Agent] = []
        self._seq = 0  # the change feed's position the screen shows
        self._stale = False  # a change to this ticket is not shown yet
        self._polling = False  # a live update runs (or is held): changes wait for it
        self._live_failures = 0
        self._next_live = 0.0  # after a failed live update: not before this
        self._next_minute = time.monotonic() + 60  # "3m ago" labels are redrawn every minute
        self._next_presence = 0.0
        self._next_heartbeat = 0.0
        self._sent_typing = False
        self._typing_until = 0.0
        self._saved: tuple[str, str] = ("reply", "")  # the draft as last saved or loaded
        self._draft_timer = None
        self._write_lock = asyncio.Lock()
        self._details_toggled = False
        self._others: list[Here] = []
        self._pending_mode: str | None = None
        self._gc_held = False
        self._widgets: list = []  # this screen's widgets, to let go of their caches when it closes
        self._next_delivery = 0.0  # when to read the delivery states again (0: not while nothing is on its way)
        # Kept as attributes (not queried): the final draft save runs while unmounting,
        # when the children have already left the DOM.
        self.timeline = Timeline(self.now, id="timeline")
        self.details = DetailsPanel(id="details")
        self.composer = Composer(id="composer")
        self.ai_preview = AIPreview(id="ai-preview")

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        self._hold_gc()
        # The database works while the widgets mount.
        self._first = self._start_first_reads()
        with Horizontal(id="ticket-top"):
            yield Static("", id="ticket-status", markup=False)
            yield Static(Text(f"#{self.ticket_id} loading…"), id="ticket-header", markup=False)
        yield Static("", id="ticket-presence", markup=False)
        yield Static("", id="ticket-translation", markup=False)
        with Horizontal(id="ticket-main"):
            yield self.timeline
            yield self.details
        yield self.ai_preview
        yield self.composer
        yield KeyBar(id="ticket-keys")

    def now(self) -> datetime:
        return self.hd.store.clock()

    async def on_mount(self) -> None:
        self.composer.display = False
        self.ai_preview.display = False
        self.query_one("#ticket-presence").display = False
        self.query_one("#ticket-translation").display = False
        self.details.display = self.app.size.width >= NARROW
        self.timeline.hints = {"attachments": self.keys_of(ATTACHMENTS), "resend": self.keys_of(RESEND),
                               "original": self.keys_of(AI_ORIGINAL)}
        self._widgets = list(self.walk_children(with_self=True))
        self.timeline.focus()
        # One short timer: a cancelled timer's handle (and through its context, this screen)
        # stays in the event loop until it would have fired, so no minute-long ones.
        self.set_interval(TICK_SECONDS, self._tick)
        await self._show_first_reads()

    _laid_out_at = 0.0  # when the last full layout started

    def _refresh_layout(self, size=None, scroll: bool = False) -> None:
        full = not (scroll and not self._layout_widgets)
        if full:
            self._laid_out_at = get_time()
        super()._refresh_layout(size, scroll)
        if full:
            try:  # as above: without the internals, Textual's own second layout simply happens
                self._drop_own_layout_requests()
            except AttributeError:
                pass

    def _compositor_refresh(self) -> None:
        # Widgets repainted while this frame was being prepared (a scrollbar moved by the
        # layout) go into this frame, rather than asking for a frame of their own after it.
        try:  # Textual's internals: if a release renames them, frames are merely not merged
            layers = self._compositor.layers
            pending = {widget for widget, _ in layers if widget._repaint_required and widget.display}
            if pending:
                for widget in pending:
                    widget._repaint_required = False
                self._compositor.update_widgets(pending)
        except AttributeError:
            pass
        super()._compositor_refresh()

    def _on_layout(self, message: messages.Layout) -> None:
        # A widget asked for a layout before the last one started: that layout did it.
        if message.time < self._laid_out_at:
            message.stop()
            message.prevent_default()

    def _drop_own_layout_requests(self) -> None:
        """Forget the layouts a layout asked for itself (they would lay out the same again).

        Giving a widget its size marks it as wanting a layout, which Textual then does
        after the frame: a second layout and frame with nothing moved. A widget that
        has to show or hide a scrollbar keeps its request.
        """
        self._layout_required = False
        layers = self._compositor.layers
        mapped = {widget for widget, _ in layers}
        for widget, geometry in layers:
            if not widget._layout_required or widget.outer_size != geometry.region.size:
                continue
            if widget.is_scrollable and (
                    widget.show_vertical_scrollbar != (widget._vertical_scrollbar in mapped)
                    or widget.show_horizontal_scrollbar != (widget._horizontal_scrollbar in mapped)):
                continue  # its scrollbars come or go: that takes a layout
            widget._layout_required = False

    def _screen_resized(self, size) -> None:
        # The screen's first layout posts a Resize to the screen itself, at the size it
        # was just laid out at: laying everything out again for it would compose a
        # second, identical frame. A real change of size goes on; a widget that needs a
        # new layout asks for one itself.
        if size == self._compositor.size and self._compositor.layers:
            return
        super()._screen_resized(size)

    def on_resize(self) -> None:
        if not self._details_toggled:
            self.details.display = self.size.width >= NARROW

    def on_screen_resume(self) -> None:
        self._next_heartbeat = 0.0  # back on this ticket: say so at once

    async def on_unmount(self) -> None:
        self._release_gc()
        # Quitting or closing: keep the last keystrokes and stop showing as here.
        try:
            await asyncio.wait_for(self._final_save(), timeout=2)
        except Exception:  # noqa: BLE001 - best effort while going away
            pass
        # Textual keeps up to a thousand widgets' style caches alive after they are gone
        # (an lru_cache on a StylesCache method holds them), each with the rendered
        # lines of its widget: drop those lines now, or every ticket opened leaves
        # thousands of objects behind for the garbage collector to walk.
        for widget in self._widgets:
            cache = getattr(widget, "_styles_cache", None)
            if cache is not None:
                cache.clear()

    # Single-letter actions are out of reach while typing; hiding them keeps
    # the footer short (and cheap to redraw when focus moves).
    _LETTER_ACTIONS = frozenset({"reply", "note", "status", "assign", "take", "close_ticket", "editor", "previous",
                                 "toggle_details", "allow_ai", "attachments", "resend", "split", "merge",
                                 "ai_summarize", "toggle_original", "customer_language"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self._LETTER_ACTIONS and self.composer.input.has_focus:
            return False
        return True

    def keys_of(self, key: Key) -> str:
        """The keys bound to *key* now (the config's ``[keys]`` may remap it), for hints."""
        keys = (getattr(self.app, "_keymap", None) or {}).get(key.id) or key.keys
        return "/".join(self.app.get_key_display(Binding(k.strip(), "")) for k in keys.split(",") if k.strip())

    def palette_commands(self) -> list[tuple[str, str, object]]:
        """(label, keys, callable) for the command palette: what makes sense on this ticket now."""
        ticket = self.ticket
        if ticket is None:
            return []
        hints = key_hints(self)
        out = []
        for key in TICKET_KEYS:
            if key.id == "ticket.back":
                continue
            if key.id == "ticket.allow-ai" and (ticket.type is not TicketType.LIVE_CHAT or not ticket.conversation_id
                                                or (ticket.ai_replies_allowed and not ticket.status.is_active)):
                continue
            out.append((key.help, hints.get(key.id, ""), partial(self.run_action, key.action)))
        for key in AI_KEYS:
            out.append((key.help, hints.get(key.id, ""), partial(self.run_action, key.action)))
            if key.id == "ticket.ai.polish":
                for tone in POLISH_TONES:
                    out.append((f"AI: polish my draft, {tone}", "", partial(self.run_action, f"ai_polish({tone!r})")))
        return out

    # -------------------------------------------------------------- messages

    def _say(self, message: str, severity: str = "information", title: str = "") -> None:
        """Every notification of the screen: a cleaned one-line ``str``, never markup.

        ``App.notify`` turns its message into ``Content``, which needs a ``str``:
        a ``rich.text.Text`` gets through a headless Pilot run but crashes the
        app in a real terminal.
        """
        text = message.plain if isinstance(message, Text) else str(message)
        self.app.notify(one_line(text, 500), title=one_line(title, 80), severity=severity, markup=False)

    # ------------------------------------------------------------------ show

    def _show_ticket(self, ticket: Ticket) -> None:
        self.ticket = ticket
        status = self.query_one("#ticket-status", Static)
        status.update(Text(ticket.status.label, end=""))
        for s in Status:
            status.set_class(s is ticket.status, f"-{s.value}")
        header = Text(end="", no_wrap=True, overflow="ellipsis")
        header.append(f"#{ticket.id} ", style="bold")
        header.append_text(safe_line(ticket.subject, 300, style="bold"))
        header.append("  ·  ")
        header.append_text(safe_line(ticket.requester.display, 80))
        header.append("  ·  ")
        if ticket.assignee:
            header.append("assigned to ")
            header.append_text(safe_line(ticket.assignee.name, 80, style="bold"))
        else:
            header.append("unassigned", style="italic")
        self.query_one("#ticket-header", Static).update(header)
        if ticket.type is TicketType.LIVE_CHAT:
            self.details.allow_key = self.keys_of(ALLOW_AI)
        self.details.show(ticket, self.now())

    def _show_presence(self, others: list[Here], problem: str | None = None) -> None:
        self._others = others
        line = Text(end="", no_wrap=True, overflow="ellipsis")
        if problem:
            line.append(problem, style="bold")
        for i, here in enumerate(others):
            if i or problem:
                line.append(" · ")
            line.append("● ")
            line.append_text(safe_line(here.name, 60, style="bold"))
            line.append(" is typing…" if here.typing else " is viewing", style="italic")
        shown = (line.plain, any(h.typing for h in others), bool(problem))
        if shown == getattr(self, "_presence_shown", ("", False, False)):
            return  # nobody came or went: no repaint (it runs every few seconds)
        self._presence_shown = shown
        box = self.query_one("#ticket-presence", Static)
        box.update(line)
        box.set_class(shown[1], "-typing")
        box.set_class(shown[2], "-problem")
        box.display = bool(others or problem)

    # --------------------------------------------------------------- actions

    def action_back(self) -> None:
        self._close()

    def action_step(self, delta: int) -> None:
        """J / K: the next or previous ticket of the inbox's view, in its order."""
        inbox = getattr(self.app, "inbox", None)
        target = inbox.neighbour(self.ticket_id, delta) if inbox is not None else None
        if target is None:
            self._say(f"No {'next' if delta > 0 else 'previous'} ticket in this view")
            return
        self._close(then=target)

    @work(exclusive=True, group="ticket-close", exit_on_error=False)
    async def _close(self, then: int | None = None) -> None:
        try:
            await self._final_save()
        except Exception as exc:  # noqa: BLE001
            self._say(f"draft not saved: {exc}", "warning")
        self.loaded = False
        inbox = getattr(self.app, "inbox", None)
        self.dismiss()
        if then is not None and inbox is not None:
            inbox.open_ticket_soon(then)

    def _open_composer(self, mode: str) -> None:
        if not self.loaded:
            self._pending_mode = mode  # opened from the inbox with r / n: open once loaded
            return
        self.composer.open(mode)

    @work(exclusive=True, group="ticket-recipients", exit_on_error=False)
    async def _load_recipients(self) -> None:
        """To and Cc for the composer: read when the agent first writes (the mail service loads only then)."""
        to, cc = await self.hd.mail.recipients(self.ticket_id)
        self.composer.set_recipients(to, cc)

    def action_reply(self) -> None:
        self._open_composer("reply")

    def action_note(self) -> None:
        self._open_composer("note")

    def action_toggle_details(self) -> None:
        self._details_toggled = True
        self.details.display = not self.details.display

    def action_refresh(self) -> None:
        self.loaded = False
        self._load()

    def action_explain_assignment(self) -> None:
        self._explain()

    @work(exclusive=True, group="explain", exit_on_error=False)
    async def _explain(self) -> None:
        """Who would get this ticket now and why each other agent would not (names are cleaned, never markup)."""
        explanation = await self.hd.assignment.explain(self.ticket_id)
        others = " · ".join(f"{login}: {why or 'eligible'}" for login, _, why in explanation.agents)
        self._say(f"{explanation.decision.reason} — {others}", title="Assignment")

    def action_previous(self) -> None:
        options = self.query_one(PreviousTickets)
        if not options.option_count:
            self._say("No previous tickets from this requester")
            return
        self.details.display = True
        options.focus()
        if options.highlighted is None:
            options.highlighted = 0

    @on(DetailsPanel.OpenTicket)
    def _open_other(self, message: DetailsPanel.OpenTicket) -> None:
        self.app.push_screen(TicketScreen(self.hd, self.me, message.ticket_id))
