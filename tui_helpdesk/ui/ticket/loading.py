"""What the ticket screen reads: the first frame, the rest after it, and everything that changes later.

:class:`TicketLoading` is mixed into :class:`~tui_helpdesk.ui.ticket.screen.TicketScreen`.
Opening a ticket is fast because the first reads start while the widgets
mount and the first frame waits a moment for them (with the garbage collector
held off); the team, older entries and delivery states come after it. Later
changes arrive as the app's :class:`~tui_helpdesk.ui.feed.FeedChanged`
messages: a change to this ticket is fetched and shown. A short timer also
keeps the agent's presence (viewing / typing) current, redraws the "3m ago"
labels every minute, and reads the delivery states again while a reply is on
its way.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import time
import weakref

from textual import work
from textual.screen import ModalScreen

from ...domain.errors import HelpdeskError, NotFound
from ...domain.model import EntryKind, TicketType
from ...domain.text import one_line
from ...services.composer import HEARTBEAT_SECONDS, FirstView
from ..feed import FeedChanged
from ..widgets.timeline import Timeline

PAGE = 60  # entries shown once a ticket is open; older ones come a page at a time
FIRST_PAGE = 60  # ...all of it on the first frame: prepending more later moved the view (more frames)
FIRST_WAIT = 0.25  # how long the screen waits for its first reads before showing "loading…"
GC_HOLD_MAX = 1.0  # the garbage collector waits for the first frame at most this long
TICK_SECONDS = 0.5  # the screen's one timer: presence, minute labels, delivery, retries
PRESENCE_SECONDS = 2.5  # how often to read who else is here
DELIVERY_POLL_SECONDS = 3.0  # while a reply is on its way, how often to read how far it got


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


class TicketLoading:
    """Reading the ticket and following it live (mixed into the ticket screen)."""

    # ------------------------------------------------------------ first frame

    async def _show_first_reads(self) -> None:
        """Show the first reads (started in compose) in the first frame if they come quickly."""
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
            # The entries out of view wait: drawn once the rest of the open is shown (in
            # _load_rest, the second and last frame), laid out when the agent goes up to them.
            self.timeline.hold_layout()
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
        """What the first frame can do without: the rest of the first page, the team (for
        @mentions), the replies' deliveries, marking my mentions read.

        Everything is read first and shown in one batch, so the open settles in a
        second frame instead of a frame per read. The entries out of view are drawn
        after it, in the background, and laid out when the agent scrolls up to them
        (see timeline_layout).
        """
        me = self.me
        timeline = self.timeline
        older: list = []
        delivery = None
        marked = 0
        try:
            missing = min(PAGE, timeline.total) - len(timeline.blocks)

            async def rest_of_page() -> list:
                if missing > 0 and timeline.blocks:  # the rest of the first page, above what is in view
                    return await self.hd.tickets.timeline_before(self.ticket_id, timeline.first_id, missing)
                return []

            # Independent reads (and the one write) at once: the open settles when the slowest is in.
            older, self._agents, marked = await asyncio.gather(
                rest_of_page(), self.hd.agents.list(), self.composer_service.open(me, self.ticket_id))
            if self.ticket is not None:
                delivery = await self.deliveries.for_ticket(self.ticket, [*older, *timeline.entries])
        except Exception as exc:  # noqa: BLE001 - the ticket is shown; say what is missing
            self._say(f"#{self.ticket_id}: not everything could be read: {type(exc).__name__}: {exc}", "warning")
        with self.app.batch_update():
            timeline.release_layout()
            if older:
                timeline.prepend(older)
            if delivery is not None:
                timeline.set_delivery(delivery)
                if any(d.pending for d in delivery.values()):
                    self._next_delivery = time.monotonic() + DELIVERY_POLL_SECONDS
            self.composer.set_logins([(a.login, a.name) for a in self._agents if a.id != me.id])
            if had_draft:
                self._say(f"Your {'note' if self.composer.mode == 'note' else 'reply'} draft is back")
            if marked:
                self._say(f"{marked} mention{'s' if marked != 1 else ''} of you here marked read")
            self.loaded = True
            if self._pending_mode:
                mode, self._pending_mode = self._pending_mode, None
                self.composer.open(mode if not had_draft else None)
        if self.ticket is not None and self.ticket.type is TicketType.LIVE_CHAT and self.ticket.conversation_id:
            self._load_channel()  # the chat's state, from the platform's record
        self._translate_shown()
        self._follow()  # changes heard while loading

    # ------------------------------------------------------------------ live

    def on_feed_changed(self, message: FeedChanged) -> None:
        """The app read the change feed: a change to this ticket the screen does not show yet is fetched."""
        mine = [c for c in message.changes if c.ticket_id == self.ticket_id and c.seq > self._seq]
        if any(c.kind == "presence" and c.agent_id != self.me.id for c in mine):
            self._next_presence = 0.0  # someone started or stopped typing here: read who is here now
            self._follow()
        if any(c.kind not in ("mentions_read", "presence") for c in mine):
            self._stale = True
            self._follow()

    def _tick(self) -> None:
        if time.monotonic() >= self._next_minute:
            self._next_minute = time.monotonic() + 60
            self._minute()
        self._follow()
        if self.loaded and self._next_delivery and time.monotonic() >= self._next_delivery:
            self._next_delivery = 0.0
            self._load_channel()

    def _follow(self) -> None:
        """Start a live update if one is due: a change to show, or presence to read and tell."""
        now = time.monotonic()
        if self.loaded and not self._polling and now >= self._next_live \
                and (self._stale or now >= self._next_presence):
            self._polling = True
            self._live()

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
    async def _live(self) -> None:
        try:
            if self._stale:
                self._stale = False
                try:
                    await self._refresh_live()
                except BaseException:
                    self._stale = True  # fetched again at the next try
                    raise
            now = time.monotonic()
            if now >= self._next_presence:
                self._next_presence = now + PRESENCE_SECONDS
                if self._is_active():
                    typing = now < self._typing_until
                    if now >= self._next_heartbeat or typing != self._sent_typing:
                        await self.composer_service.heartbeat(self.me, self.ticket_id, typing=typing,
                                                              announce=typing != self._sent_typing)
                        self._sent_typing = typing
                        self._next_heartbeat = now + HEARTBEAT_SECONDS
                others = await self.composer_service.others_here(self.me, self.ticket_id)
                self._show_presence(others)
            if self._live_failures:
                self._live_failures = 0
                self._show_presence(self._others)
        except Exception as exc:  # noqa: BLE001 - keep following; say so and back off
            self._live_failures += 1
            delay = min(30.0, TICK_SECONDS * 2 ** self._live_failures)
            self._next_live = time.monotonic() + delay
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
            self._translate_shown()
        if any(e.kind is EntryKind.NOTE and self.me.login in e.meta.get("mentions", ()) for e in entries):
            # Mentioned on the ticket I am reading: it is read already.
            await self.composer_service.open(self.me, self.ticket_id)

    async def _refresh_quietly(self) -> None:
        try:
            await self._refresh_live()
        except Exception:  # noqa: BLE001 - the next change or reload will catch up
            pass

    def on_timeline_load_older(self, message: Timeline.LoadOlder) -> None:
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
        self._translate_shown()

    # ------------------------------------------- delivery and the chatbot (after the first frame)

    @work(exclusive=True, group="ticket-channel", exit_on_error=False)
    async def _load_channel(self) -> None:
        """Read the linked conversation's state and the replies' deliveries; none of it is needed for the first frame."""
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
            # The entries loaded, not the whole timeline: a long ticket shows a page or two.
            delivery = await self.deliveries.for_ticket(ticket, self.timeline.entries)
        except Exception:  # noqa: BLE001 - shown again at the next change; the timeline stays as it is
            self._next_delivery = time.monotonic() + DELIVERY_POLL_SECONDS * 4
            return
        self.timeline.set_delivery(delivery)
        if any(d.pending for d in delivery.values()):
            self._next_delivery = time.monotonic() + DELIVERY_POLL_SECONDS
