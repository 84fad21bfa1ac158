"""The ticket screen: timeline, details panel and composer for one ticket.

``TicketScreen(hd, me, ticket_id)`` is pushed by the inbox (or by itself, to
open one of the requester's previous tickets); Escape pops it. Every database
call runs in a worker. The screen follows the change feed every half second
so replies from other terminals appear live, and keeps the agent's presence
(viewing / typing) and draft in the database.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import shlex
import subprocess
import tempfile
import time
import weakref
from datetime import datetime
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ..domain.errors import ConfigError, HelpdeskError, NotFound
from ..domain.model import Agent, EntryKind, Status, Ticket, TicketType
from ..domain.text import clean, one_line
from ..services.composer import HEARTBEAT_SECONDS, ComposerService, FirstView, Here, load_canned
from .keymap import bindings, key_hints
from .keys import Key
from .widgets.composer import COMPOSER_KEYS, Composer
from .widgets.details import DetailsPanel, PreviousTickets
from .widgets.keybar import KeyBar
from .dialogs import AgentPicker, AssigneeChoice, CannedPicker, CollisionDialog, ConfirmDialog, StatusPicker
from .widgets.attachments import (AttachmentPicker, SavePathDialog, attachments_of, default_save_path, open_attachment,
                                  opener, save_attachment)
from .widgets.timeline import TIMELINE_KEYS, Delivery, Timeline, safe_line

PAGE = 60  # entries shown once a ticket is open; older ones come a page at a time
FIRST_PAGE = 25  # ...of which the first frame needs only the newest (a tall terminal shows fewer)
FIRST_WAIT = 0.25  # how long the screen waits for its first reads before showing "loading…"
GC_HOLD_MAX = 1.0  # the garbage collector waits for the first frame at most this long
POLL_SECONDS = 0.5
PRESENCE_SECONDS = 2.5  # how often to read who else is here
DRAFT_DEBOUNCE = 0.6
TYPING_SECONDS = 4.0  # "typing" lasts this long after the last keystroke
NARROW = 96  # below this width the details panel starts hidden

TICKET_KEYS: tuple[Key, ...] = (
    Key("ticket.back", "escape", "back", "Back", True, "General"),
    Key("ticket.reply", "r", "reply", "Reply", True, "Tickets"),
    Key("ticket.note", "n", "note", "Note", True, "Tickets"),
    Key("ticket.status", "s", "status", "Status", True, "Tickets"),
    Key("ticket.assign", "a", "assign", "Assign", True, "Tickets"),
    Key("ticket.take", "t", "take", "Take", True, "Tickets"),
    Key("ticket.close", "c", "close_ticket", "Close", True, "Tickets"),
    Key("ticket.allow-ai", "A", "allow_ai", "Allow AI replies", False, "Tickets",
        "Allow AI replies: hand a live chat back to the chatbot and close it"),
    Key("ticket.attachments", "f", "attachments", "Attachments", False, "Tickets",
        "Save or open an attachment of the entry under the cursor"),
    Key("ticket.resend", "R", "resend", "Resend", False, "Tickets",
        "Resend the reply under the cursor (failed or unknown delivery)"),
    Key("ticket.canned", "ctrl+t", "canned", "Canned reply", False, "Tickets"),
    Key("ticket.editor", "e", "editor", "Write in $EDITOR", False, "Tickets"),
    Key("ticket.previous", "p", "previous", "Previous tickets", False, "Tickets"),
    Key("ticket.details", "i", "toggle_details", "Show / hide details", False, "General"),
    Key("ticket.refresh", "ctrl+r", "refresh", "Reload the ticket", False, "General"),
)
ALLOW_AI, ATTACHMENTS, RESEND = (next(k for k in TICKET_KEYS if k.id == i)
                                 for i in ("ticket.allow-ai", "ticket.attachments", "ticket.resend"))
DELIVERY_POLL_SECONDS = 3.0  # while a reply is on its way, how often to read how far it got
# Everything the ticket screen binds, for the keymap and the help screen.
ALL_TICKET_KEYS: tuple[Key, ...] = TICKET_KEYS + TIMELINE_KEYS + COMPOSER_KEYS


class _Collector:
    """Holds Python's cyclic garbage collector off while a ticket screen builds its first frame.

    Opening a ticket allocates tens of thousands of objects (widgets, styles,
    rendered lines); about one open in three then met a full collection of the
    whole heap, 100 ms or more on a small machine, before its first frame. The
    collections are not skipped, only moved: they run as soon as the frame is
    out (or after :data:`GC_HOLD_MAX` at most, or when the screen goes away).
    """

    holders = 0
    was_enabled = False

    @classmethod
    def hold(cls) -> None:
        if cls.holders == 0:
            cls.was_enabled = gc.isenabled()
            gc.disable()
        cls.holders += 1

    @classmethod
    def release(cls) -> None:
        if cls.holders > 0:
            cls.holders -= 1
            if cls.holders == 0 and cls.was_enabled:
                gc.enable()


class TicketCommands(Provider):
    """The ticket screen's actions in the command palette, each with its current key."""

    def _commands(self) -> list[tuple[str, str, object]]:
        screen = self.screen
        return screen.palette_commands() if isinstance(screen, TicketScreen) else []

    async def discover(self) -> Hits:
        for label, keys, run in self._commands():
            yield DiscoveryHit(Text(label, end="") + Text(f"  {keys}", style="dim", end=""), run, text=label,
                               help="Ticket")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, keys, run in self._commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label) + Text(f"  {keys}", style="dim", end=""), run, text=label,
                          help="Ticket")


class TicketScreen(Screen):
    CSS_PATH = "ticket.tcss"
    BINDINGS = bindings(TICKET_KEYS)
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
        self._canned_loaded = False
        self._first: asyncio.Future | None = None  # the first reads, started while the screen mounts
        self._agents: list[Agent] = []
        self._seq = 0
        self._polling = False
        self._poll_failures = 0
        self._next_poll = 0.0
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

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        self._hold_gc()
        # The database works while the widgets mount.
        self._first = self._start_first_reads()
        with Horizontal(id="ticket-top"):
            yield Static("", id="ticket-status", markup=False)
            yield Static(Text(f"#{self.ticket_id} loading…"), id="ticket-header", markup=False)
        yield Static("", id="ticket-presence", markup=False)
        with Horizontal(id="ticket-main"):
            yield self.timeline
            yield self.details
        yield self.composer
        yield KeyBar(id="ticket-keys")

    def now(self) -> datetime:
        return self.hd.store.clock()

    async def on_mount(self) -> None:
        self.composer.display = False
        self.query_one("#ticket-presence").display = False
        self.details.display = self.app.size.width >= NARROW
        self.timeline.hints = {"attachments": self.keys_of(ATTACHMENTS), "resend": self.keys_of(RESEND)}
        self._widgets = list(self.walk_children(with_self=True))
        self.timeline.focus()
        # One short timer: a cancelled timer's handle (and through its context, this screen)
        # stays in the event loop until it would have fired, so no minute-long ones.
        self.set_interval(POLL_SECONDS, self._tick)
        # Wait a moment for the first reads, so the first frame is the ticket rather than
        # "loading…" followed by the ticket (two full layouts). A slow database gets the
        # loading line and the rest arrives when it does.
        first = self._first or self._start_first_reads()
        try:
            await asyncio.wait_for(asyncio.shield(first), FIRST_WAIT)
        except Exception:  # noqa: BLE001 - too slow, or failed: the worker waits or reports
            pass
        if first.done() and not first.cancelled() and first.exception() is None:
            self._show_first(first.result())
        else:
            self.call_after_refresh(self._release_gc)  # the "loading…" frame is the first one
            self._load(first)

    def _hold_gc(self) -> None:
        if not self._gc_held:
            self._gc_held = True
            _Collector.hold()
            # Neither the callback nor its context (Textual's context variables name this
            # screen) may keep a closed screen alive for the second the timer waits.
            screen = weakref.ref(self)
            asyncio.get_running_loop().call_later(GC_HOLD_MAX, lambda: (s := screen()) and s._release_gc(),
                                                  context=contextvars.Context())

    def _release_gc(self) -> None:
        if self._gc_held:
            self._gc_held = False
            _Collector.release()

    def _start_first_reads(self) -> asyncio.Future:
        task = asyncio.ensure_future(self.composer_service.first_view(self.me, self.ticket_id, FIRST_PAGE))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved here or by _load
        return task

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
                                 "toggle_details", "allow_ai", "attachments", "resend"})

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

    # ------------------------------------------------------------------ load

    @work(exclusive=True, group="ticket-load", exit_on_error=False)
    async def _load(self, first: asyncio.Future | None = None) -> None:
        """Read the ticket (or wait for the reads started while mounting), then show it."""
        try:
            view = await (first if first is not None else self._start_first_reads())
        except NotFound as exc:
            self._say(str(exc), "error")
            self.dismiss()
            return
        except HelpdeskError as exc:
            self._say(f"cannot open #{self.ticket_id}: {exc}", "error")
            return
        except Exception as exc:  # noqa: BLE001 - a database error must not kill the app
            self._say(f"cannot open #{self.ticket_id}: {type(exc).__name__}: {exc}", "error")
            return
        self._show_first(view)

    def _show_first(self, view: FirstView) -> None:
        """Everything the first frame shows, in one go (one layout, one frame)."""
        self._seq = view.seq
        self._next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
        with self.app.batch_update():
            self._show_ticket(view.ticket)
            self.details.show_previous(view.previous, self.now())
            self.timeline.show(view.entries, view.total)
            draft = view.draft
            if draft is not None:
                self._saved = (draft.mode, draft.body)
                self.composer.load(draft.body, draft.mode, draft.base_entry_id)
                self.composer.display = True
        self.shown = True
        self.call_after_refresh(self._first_frame_out, draft is not None)

    def _first_frame_out(self, had_draft: bool) -> None:
        self._release_gc()
        self._load_rest(had_draft)

    @work(exclusive=True, group="ticket-load-rest", exit_on_error=False)
    async def _load_rest(self, had_draft: bool) -> None:
        """What the first frame can do without: the team (for @mentions), marking my mentions read."""
        me = self.me
        try:
            timeline = self.timeline
            missing = min(PAGE, timeline.total) - len(timeline.blocks)
            if missing > 0 and timeline.blocks:  # the rest of the first page, above what is in view
                timeline.prepend(await self.hd.tickets.timeline_before(self.ticket_id, timeline.first_id, missing))
            self._agents = await self.hd.agents.list()
            marked = await self.composer_service.open(me, self.ticket_id)
        except Exception as exc:  # noqa: BLE001 - the ticket is shown; say what is missing
            self._say(f"#{self.ticket_id}: not everything could be read: {type(exc).__name__}: {exc}", "warning")
            marked = 0
        self.composer.set_logins([(a.login, a.name) for a in self._agents if a.id != me.id])
        if had_draft:
            self._say(f"Your {'note' if self.composer.mode == 'note' else 'reply'} draft is back")
        if marked:
            self._say(f"{marked} mention{'s' if marked != 1 else ''} of you here marked read")
        self.loaded = True
        self._load_channel()
        if self._pending_mode:
            mode, self._pending_mode = self._pending_mode, None
            self.composer.open(mode if not had_draft else None)

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
        box = self.query_one("#ticket-presence", Static)
        box.update(line)
        box.set_class(any(h.typing for h in others), "-typing")
        box.set_class(bool(problem), "-problem")
        box.display = bool(others or problem)

    # ------------------------------------------------------------------ live

    def _tick(self) -> None:
        if time.monotonic() >= self._next_minute:
            self._next_minute = time.monotonic() + 60
            self._minute()
        if self.loaded and not self._polling and time.monotonic() >= self._next_poll:
            self._polling = True
            self._poll()
        if self.loaded and self._next_delivery and time.monotonic() >= self._next_delivery:
            self._next_delivery = 0.0
            self._load_channel()

    def _minute(self) -> None:
        if self.loaded:
            self.timeline.refresh_times()
            if self.ticket:
                self.details.show(self.ticket, self.now())

    def _is_active(self) -> bool:
        """This ticket is what the agent looks at (maybe under a dialog)."""
        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, ModalScreen):
                continue
            return screen is self
        return False

    @work(group="ticket-poll", exit_on_error=False)
    async def _poll(self) -> None:
        try:
            changes, self._seq = await self.hd.feed.since(self._seq)
            if any(c.ticket_id == self.ticket_id and c.kind != "mentions_read" for c in changes):
                await self._refresh_live()
            now = time.monotonic()
            if now >= self._next_presence:
                self._next_presence = now + PRESENCE_SECONDS
                if self._is_active():
                    typing = now < self._typing_until
                    if now >= self._next_heartbeat or typing != self._sent_typing:
                        await self.composer_service.heartbeat(self.me, self.ticket_id, typing=typing)
                        self._sent_typing = typing
                        self._next_heartbeat = now + HEARTBEAT_SECONDS
                others = await self.composer_service.others_here(self.me, self.ticket_id)
                self._show_presence(others)
            if self._poll_failures:
                self._poll_failures = 0
                self._show_presence(self._others)
        except Exception as exc:  # noqa: BLE001 - keep following; say so and back off
            self._poll_failures += 1
            delay = min(30.0, POLL_SECONDS * 2 ** self._poll_failures)
            self._next_poll = time.monotonic() + delay
            self._show_presence(self._others, f"sync problem ({type(exc).__name__}); retrying in {delay:.0f}s")
        finally:
            self._polling = False

    async def _refresh_live(self) -> None:
        """Fetch the ticket and the entries after the last one shown."""
        ticket = await self.hd.tickets.get(self.ticket_id)
        entries = await self.hd.tickets.timeline(self.ticket_id, after_id=self.timeline.last_id)
        self._show_ticket(ticket)
        self.timeline.append(entries)
        if entries:
            self._load_channel()
        if any(e.kind is EntryKind.NOTE and self.me.login in e.meta.get("mentions", ()) for e in entries):
            # Mentioned on the ticket I am reading: it is read already.
            await self.composer_service.open(self.me, self.ticket_id)

    @on(Timeline.LoadOlder)
    def _older_wanted(self, message: Timeline.LoadOlder) -> None:
        self._load_older(message.before_id)

    @work(exclusive=True, group="ticket-older", exit_on_error=False)
    async def _load_older(self, before_id: int) -> None:
        try:
            entries = await self.hd.tickets.timeline_before(self.ticket_id, before_id, PAGE)
        except Exception as exc:  # noqa: BLE001
            self.timeline.loading_older = False
            self._say(f"cannot load older entries: {exc}", "error")
            return
        self.timeline.prepend(entries)
        self._load_channel()

    # ---------------------------------------------------------------- drafts

    @on(Composer.Edited)
    def _edited(self, message: Composer.Edited) -> None:
        composer = self.composer
        state = (composer.mode, composer.text)
        if state == self._saved:
            return
        if not self._saved[1].strip() and not composer.base_entry_id:
            # The draft begins now: collisions are counted from what is on screen.
            composer.base_entry_id = self.timeline.last_id
        if not composer.text.strip():
            composer.base_entry_id = 0
        if composer.text != self._saved[1]:
            self._typing_until = time.monotonic() + TYPING_SECONDS
            if not self._sent_typing:
                self._next_presence = 0.0
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_DEBOUNCE, self._save_draft)

    def _cancel_draft_timer(self) -> None:
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None

    @work(group="ticket-draft", exit_on_error=False)
    async def _save_draft(self) -> None:
        try:
            await self._write_draft()
        except Exception as exc:  # noqa: BLE001
            self._say(f"draft not saved: {exc}", "warning")

    async def _write_draft(self) -> None:
        async with self._write_lock:
            composer = self.composer
            if composer.sending:
                return
            state = (composer.mode, composer.text)
            if state == self._saved:
                return
            await self.composer_service.save_draft(self.me, self.ticket_id, state[0], state[1], composer.base_entry_id)
            self._saved = state

    async def _final_save(self) -> None:
        self._cancel_draft_timer()
        if self.loaded:
            try:
                await self._write_draft()
            finally:
                await self.composer_service.leave(self.me)

    # --------------------------------------------------------------- sending

    @on(Composer.Send)
    def _send_wanted(self, message: Composer.Send) -> None:
        if not message.body.strip():
            self._say("Nothing to send yet", "warning")
            return
        self._send(message.mode, message.body)

    @work(exclusive=True, group="ticket-send", exit_on_error=False)
    async def _send(self, mode: str, body: str) -> None:
        composer, hd = self.composer, self.hd
        composer.sending = True
        composer.input.read_only = True  # what is sent is what the agent sees
        try:
            if mode == "reply":
                found = await self.composer_service.collisions(self.me, self.ticket_id, composer.base_entry_id)
                if found:
                    await self._refresh_live()
                    go_on = await self.app.push_screen_wait(CollisionDialog(found))
                    composer.base_entry_id = max(e.id for e in found)
                    if not go_on:
                        # Keep the draft, counting from what the agent has now seen.
                        async with self._write_lock:
                            await self.composer_service.save_draft(
                                self.me, self.ticket_id, composer.mode, composer.text, composer.base_entry_id)
                            self._saved = (composer.mode, composer.text)
                        composer.sending = False
                        composer.input.read_only = False
                        composer.open()
                        self._say("Not sent: read the new messages, then send again")
                        return
            async with self._write_lock:
                self._cancel_draft_timer()
                if mode == "reply":
                    result = await hd.tickets.reply(self.ticket_id, body, actor=self.me,
                                                    seen_entry_id=composer.base_entry_id)
                else:
                    result = await hd.tickets.note(self.ticket_id, body, actor=self.me)
                # The service deleted the draft in the same transaction.
                self._saved = (mode, "")
                composer.load("", mode, 0)
        except HelpdeskError as exc:
            self._say(f"not sent: {exc}", "error")
            return
        except Exception as exc:  # noqa: BLE001
            self._say(f"not sent: {type(exc).__name__}: {exc}", "error")
            return
        finally:
            composer.sending = False
            composer.input.read_only = False
        composer.display = False
        self.timeline.focus()
        self._typing_until = 0.0
        try:
            await self._refresh_live()
        except Exception:  # noqa: BLE001 - the poll will catch up
            pass
        ticket = result.ticket
        if mode == "reply":
            self._say(f"Reply sent · status {ticket.status.label}")
        else:
            self._say("Note added")
        if result.notice:
            self._say(result.notice, "warning")

    # --------------------------------------------------------------- actions

    def action_back(self) -> None:
        self._close()

    @work(exclusive=True, group="ticket-close", exit_on_error=False)
    async def _close(self) -> None:
        try:
            await self._final_save()
        except Exception as exc:  # noqa: BLE001
            self._say(f"draft not saved: {exc}", "warning")
        self.loaded = False
        self.dismiss()

    def _open_composer(self, mode: str) -> None:
        if not self.loaded:
            self._pending_mode = mode  # opened from the inbox with r / n: open once loaded
            return
        self.composer.open(mode)

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

    def action_status(self) -> None:
        if self.ticket:
            self._pick_status()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _pick_status(self) -> None:
        status = await self.app.push_screen_wait(StatusPicker(current=self.ticket.status))
        if status is not None and status is not self.ticket.status:
            await self._change_status(status)

    async def _change_status(self, status: Status) -> None:
        ticket = self.ticket
        try:
            after = await self.hd.tickets.set_status(self.ticket_id, status, actor=self.me,
                                                     expected_version=ticket.version)
        except HelpdeskError as exc:
            self._say(str(exc), "error")
            await self._refresh_quietly()
            return
        self._show_ticket(after)
        await self._refresh_quietly()
        self._say(f"#{after.id} is {after.status.label}")

    def action_close_ticket(self) -> None:
        if self.ticket and self.ticket.status is not Status.CLOSED:
            self._close_ticket()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _close_ticket(self) -> None:
        await self._change_status(Status.CLOSED)

    def action_assign(self) -> None:
        if self.ticket:
            self._pick_assignee()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _pick_assignee(self) -> None:
        try:
            self._agents = await self.hd.agents.list()
        except Exception:  # noqa: BLE001 - the list from opening will do
            pass
        choice = await self.app.push_screen_wait(AgentPicker("Assign to", self._agents, self.me,
                                                               current=self.ticket.assignee, offer_take=True))
        if choice is not None:
            await self._assign(choice)

    def action_take(self) -> None:
        if self.ticket:
            self._take()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _take(self) -> None:
        await self._assign(AssigneeChoice(self.me.login))

    async def _assign(self, choice: AssigneeChoice) -> None:
        current = self.ticket.assignee.login if self.ticket.assignee else None
        if (choice.login or None) == current:
            return
        try:
            after = await self.hd.tickets.assign(self.ticket_id, choice.login, actor=self.me,
                                                 expected_version=self.ticket.version)
        except HelpdeskError as exc:
            self._say(str(exc), "error")
            await self._refresh_quietly()
            return
        self._show_ticket(after)
        await self._refresh_quietly()
        self._say(f"Assigned to {after.assignee.name}" if after.assignee else "Unassigned")

    async def _refresh_quietly(self) -> None:
        try:
            await self._refresh_live()
        except Exception:  # noqa: BLE001 - the poll will catch up
            pass

    # ------------------------------------------------------- the chatbot

    def action_allow_ai(self) -> None:
        ticket = self.ticket
        if ticket is None:
            return
        if ticket.type is not TicketType.LIVE_CHAT or not ticket.conversation_id:
            self._say("Only live-chat tickets can be handed back to the chatbot", "warning")
            return
        if ticket.ai_replies_allowed and not ticket.status.is_active:
            self._say("AI replies are already allowed on this chat")
            return
        self._allow_ai()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _allow_ai(self) -> None:
        ticket = self.ticket
        body = Text("The chatbot answers ", end="")
        body.append_text(safe_line(ticket.requester.display, 80, style="bold"))
        body.append(" in this chat again, and ")
        body.append(f"#{ticket.id}", style="bold")
        body.append(" is closed." if ticket.status.is_active else " stays closed.")
        if self.composer.text.strip():
            body.append("\nYour unsent draft stays on the ticket.", style="italic")
        confirmed = await self.app.push_screen_wait(
            ConfirmDialog("Allow AI replies?", body, "Allow AI replies", cancel="Keep it here"))
        if not confirmed:
            return
        from .handback import allow_ai_replies  # the chatbot side is loaded on first use

        try:
            await allow_ai_replies(self.app, self.hd, self.me, self.ticket_id)
        except Exception as exc:  # noqa: BLE001 - a database error must not kill the screen
            self._say(f"Nothing changed: {type(exc).__name__}: {exc}", "error")
        await self._refresh_quietly()
        self._load_channel()

    # ------------------------------------------------------- attachments

    def action_attachments(self) -> None:
        entry = self.timeline.current_entry
        items = attachments_of(entry)
        if not items:
            self._say("No attachments on this entry (j/k move between entries)")
            return
        self._attachments(items)

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _attachments(self, items) -> None:
        choice = await self.app.push_screen_wait(AttachmentPicker(items, can_open=opener() is not None))
        if choice is None:
            return
        item = choice.attachment
        if item.sha256 is None:
            self._say(f"{item.name}: its content was not kept", "warning")
            return
        if choice.action == "open":
            try:
                path = await asyncio.to_thread(open_attachment, self.hd.mail.attachments, item)
            except (OSError, ValueError) as exc:
                reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
                self._say(f"Cannot open {item.name}: {reason}", "error")
                return
            self._say(f"Opened {item.name} (a copy in {path.parent})")
            if item.risky:
                self._say(f"{item.name} could be a program: check it before trusting it", "warning")
            return
        await self._save_attachment(item)

    async def _save_attachment(self, item) -> None:
        target = await self.app.push_screen_wait(SavePathDialog(item, default_save_path(item.name)))
        if target is None:
            return
        store = self.hd.mail.attachments
        try:
            try:
                saved = await asyncio.to_thread(save_attachment, store, item.sha256, target, item.name)
            except FileExistsError:
                shown = target / item.name if target.is_dir() else target
                body = Text("There is already a file at ", end="")
                body.append_text(safe_line(str(shown), 300, style="bold"))
                body.append(". Replace it with the attachment?")
                if not await self.app.push_screen_wait(
                        ConfirmDialog("Replace the file?", body, "Replace", cancel="Keep it", warning=True)):
                    self._say("Not saved: the existing file is unchanged")
                    return
                saved = await asyncio.to_thread(save_attachment, store, item.sha256, target, item.name,
                                                overwrite=True)
        except (OSError, ValueError) as exc:
            reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
            self._say(f"Not saved: {reason}", "error")
            return
        self._say(f"Saved {item.name} to {saved}")

    # ----------------------------------------------------------- delivery

    def action_resend(self) -> None:
        entry = self.timeline.current_entry
        delivery = self.timeline.delivery.get(entry.id) if entry else None
        if delivery is not None and delivery.resendable:
            self._resend(entry.id, delivery)
            return
        failed = [b.entry.id for b in self.timeline.blocks
                  if (d := self.timeline.delivery.get(b.entry.id)) is not None and d.resendable]
        if failed:
            self.timeline.select(self.timeline.index_of(failed[-1]))
            self._say(f"The cursor is on the newest reply that was not delivered: {self.keys_of(RESEND)} resends it")
        elif delivery is not None and delivery.problem:
            self._say("This reply cannot be resent from here: " + (delivery.reason or delivery.state), "warning")
        else:
            self._say("No reply to resend: only failed or unknown deliveries can be sent again")

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _resend(self, entry_id: int, delivery: Delivery) -> None:
        body = Text("Send this reply again to ", end="")
        body.append_text(safe_line(", ".join(delivery.recipients) or "the customer", 200, style="bold"))
        body.append("?")
        if delivery.reason:
            body.append("\nLast attempt: ", style="dim")
            body.append_text(safe_line(delivery.reason, 300, style="italic"))
        if delivery.state == "unknown":
            body.append("\nIt may have arrived already: the customer could get it twice.", style="bold")
        if not await self.app.push_screen_wait(
                ConfirmDialog("Resend the reply?", body, "Resend", warning=delivery.state == "unknown")):
            return
        try:
            await self.hd.outbox.resend(delivery.outbox_id, actor=self.me)
        except HelpdeskError as exc:
            self._say(f"Not resent: {exc}", "error")
            return
        except Exception as exc:  # noqa: BLE001
            self._say(f"Not resent: {type(exc).__name__}: {exc}", "error")
            return
        self._say("The reply is queued to be sent again")
        await self._refresh_quietly()
        self._load_channel()

    # ------------------------------------------- delivery and the chatbot (after the first frame)

    @work(exclusive=True, group="ticket-channel", exit_on_error=False)
    async def _load_channel(self) -> None:
        """Read the linked conversation's state; none of it is needed for the first frame."""
        ticket = self.ticket
        if ticket is None:
            return
        if ticket.type is TicketType.LIVE_CHAT and ticket.conversation_id:
            try:
                info = await self.hd.conversations.get(ticket.conversation_id, ticket.desk_id)
                self.details.show_chat(info)
            except HelpdeskError as exc:
                self.details.show_chat(None, one_line(str(exc), 100))
            except Exception as exc:  # noqa: BLE001
                self.details.show_chat(None, f"{type(exc).__name__}: {one_line(str(exc), 80)}")
        try:
            delivery = await self._read_delivery(ticket)
        except Exception:  # noqa: BLE001 - shown again at the next change; the timeline stays as it is
            self._next_delivery = time.monotonic() + DELIVERY_POLL_SECONDS * 4
            return
        self.timeline.set_delivery(delivery)
        if any(d.pending for d in delivery.values()):
            self._next_delivery = time.monotonic() + DELIVERY_POLL_SECONDS

    async def _read_delivery(self, ticket: Ticket) -> dict[int, Delivery]:
        """Reply entry id -> its delivery, from the mail outbox or the chat outbox."""
        out: dict[int, Delivery] = {}
        if ticket.type is TicketType.EMAIL:
            for item in await self.hd.outbox.for_ticket(ticket.id):  # by id: a later row wins
                if item.entry_id is None or item.automatic:
                    continue
                state = item.status
                if state == "queued" and item.attempts:
                    state = "retrying"
                reason = "; ".join(
                    f"{addr}: {' '.join(str(p) for p in (r.get('code'), r.get('text')) if p)}"
                    for addr, r in item.results.items()
                    if isinstance(r, dict) and r.get("state") not in (None, "sent")) or item.last_error or ""
                out[item.entry_id] = Delivery(state, one_line(reason, 300), item.id, tuple(item.recipients), "email")
            # A reply the mail side could not even queue (no support address, no customer address).
            for entry in self.timeline.entries:
                meta = entry.meta if isinstance(entry.meta, dict) else {}
                if entry.kind is EntryKind.EVENT and meta.get("event") == "delivery_failed" \
                        and isinstance(meta.get("entry"), int) and meta["entry"] not in out:
                    out[meta["entry"]] = Delivery("failed", one_line(str(meta.get("reason") or entry.body), 300))
        elif ticket.type is TicketType.LIVE_CHAT and ticket.conversation_id:
            waiting: dict[int, Delivery] = {}
            for item in await self.hd.chat_outbox.pending(ticket.id):
                if item.status == "failed":
                    d = Delivery("failed", one_line(item.last_error or "", 300), channel="chat")
                elif item.attempts:
                    d = Delivery("retrying", one_line(item.last_error or "", 300), channel="chat")
                else:
                    d = Delivery("queued", channel="chat")
                # A long reply goes in parts: show the worst.
                if item.entry_id not in waiting or d.problem:
                    waiting[item.entry_id] = d
            for entry in self.timeline.entries:
                if entry.kind is EntryKind.REPLY:
                    out[entry.id] = waiting.get(entry.id) or Delivery("sent", channel="chat")
        return out

    # ------------------------------------------------------ canned and editor

    def action_canned(self) -> None:
        if self.ticket:
            self._pick_canned()

    @on(Composer.Wants)
    def _composer_wants(self, message: Composer.Wants) -> None:
        if message.what == "canned":
            self.action_canned()
        elif message.what == "editor":
            self.action_editor()

    @work(exclusive=True, group="ticket-action", exit_on_error=False)
    async def _pick_canned(self) -> None:
        if not self._canned_loaded:  # read when first wanted: opening a ticket does not parse the config
            try:
                self.composer_service.canned = await asyncio.to_thread(
                    load_canned, getattr(self.hd.settings, "source", None))
                self._canned_loaded = True
            except ConfigError as exc:
                self._say(f"canned replies: {exc}", "warning")
                return
        canned = self.composer_service.canned_for(self.ticket, self.me)
        if not canned:
            self._say("No canned replies configured ([[canned]] in the config file)")
            return
        body = await self.app.push_screen_wait(CannedPicker(canned))
        if body is None:
            return
        composer = self.composer
        if not composer.display:
            composer.open("reply")
        else:
            composer.input.focus()
        composer.insert(body)

    def action_editor(self) -> None:
        if not self.loaded:
            return
        composer = self.composer
        if not composer.display:
            composer.open()
        text = edit_in_editor(self.app, composer.text, f"ticket-{self.ticket_id}")
        if isinstance(text, str):
            composer.replace_text(text)
            composer.open()
        elif text is not None:
            self._say(text.message, "warning")


class EditorProblem:
    def __init__(self, message: str):
        self.message = message


def editor_command() -> list[str]:
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(command)


def edit_in_editor(app, text: str, label: str) -> str | EditorProblem | None:
    """Let the agent edit *text* in ``$VISUAL``/``$EDITOR`` while the app is suspended.

    The text goes through a private temporary file (mode 0600, removed after).
    Returns the new text, or an :class:`EditorProblem` saying why not.
    """
    fd, name = tempfile.mkstemp(prefix=f"helpdesk-{label}-", suffix=".txt")
    path = Path(name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            with app.suspend():
                code = subprocess.call([*editor_command(), str(path)])
        except SuspendNotSupported:
            return EditorProblem("this terminal cannot hand over to an editor")
        except OSError as exc:
            return EditorProblem(f"cannot run the editor: {exc.strerror or exc}")
        if code != 0:
            return EditorProblem(f"the editor exited with status {code}; the text is unchanged")
        new = path.read_text(encoding="utf-8", errors="replace")
    finally:
        try:
            path.unlink()
        except OSError:
            pass
    return clean(new).rstrip("\n")
