"""The Textual app: wires the services in, watches the change feed, hosts the screens.

``run(settings, act_as)`` is what ``helpdesk`` (no arguments) calls. Tests
build :class:`HelpdeskApp` with a ready :class:`~tui_helpdesk.bootstrap.Helpdesk`
and agent, and a fixed clock, so screens are deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import App
from textual.worker import Worker, WorkerState

from ..domain.errors import HelpdeskError
from ..domain.model import Agent, Availability, Change
from ..domain.text import clean, one_line
from ..domain.views import SYSTEM_VIEW_KEYS
from . import alerts, keymap
from .feed import tell_screens
from .keys import APP_KEYS
from .help import HelpScreen
from .inbox import InboxScreen
from .integrations import IntegrationsProvider
from .palette import ActionsProvider, TicketsProvider, ViewsProvider
from .text import line, plain
from .widgets.statusbar import mail_state
from .widgets.table_window import PAGE_SIZE

if TYPE_CHECKING:
    from ..bootstrap import Helpdesk
    from ..settings import Settings

POLL_SECONDS = 0.4
HOLD_CHECK_SECONDS = 15.0
HAND_OUT_SECONDS = 10.0
MAX_BACKOFF = 10.0
# Kinds of change that can put a ticket into someone's Inbox.
INBOX_KINDS = {"created", "assign", "follow_up", "message"}


def utcnow() -> datetime:
    from ..domain.clock import utcnow as now

    return now()


class HelpdeskApp(App[int]):
    CSS_PATH = ["app.tcss", "dialogs.tcss"]
    TITLE = "helpdesk"
    COMMANDS = App.COMMANDS | {TicketsProvider, ViewsProvider, ActionsProvider, IntegrationsProvider}
    BINDINGS = keymap.bindings(APP_KEYS)
    NOTIFICATION_TIMEOUT = 6

    def __init__(self, settings: "Settings | None" = None, *, act_as: str | None = None, login: str | None = None,
                 hd: "Helpdesk | None" = None,
                 me: Agent | None = None, clock: Callable[[], datetime] | None = None,
                 poll_seconds: float = POLL_SECONDS, watch: bool = True) -> None:
        super().__init__()
        self.settings = settings if settings is not None else (hd.settings if hd else None)
        self.act_as = act_as
        self.login = login
        self.hd = hd
        self.me = me
        self.clock = clock or utcnow
        self.poll_seconds = poll_seconds
        self.watch = watch
        self._owns_hd = hd is None
        self.inbox: InboxScreen | None = None
        self.seq = 0
        self._mentions: int | None = None
        self._inbox_seen: set[int] = set()
        self._mail_progress: dict[tuple[str, str], object] = {}

    # ------------------------------------------------------------ starting

    SHORT_ROWS = 30  # below this many rows dialogs draw compactly (app.tcss, ".-short")

    async def on_mount(self) -> None:
        self.set_class(self.size.height < self.SHORT_ROWS, "-short")
        self.start()

    def on_resize(self, event) -> None:
        self.set_class(event.size.height < self.SHORT_ROWS, "-short")

    @work(exclusive=True, group="start", exit_on_error=False)
    async def start(self) -> None:
        try:
            if self.hd is None:
                from ..bootstrap import bootstrap

                kwargs = {"clock": self.clock} if self.clock is not utcnow else {}
                self.hd = await bootstrap(self.settings, **kwargs)
            if self.me is None:
                self.me = await self.hd.agents.identify(self.login, act_as=self.act_as)
            # The Inbox's first page is fetched while the rail is counted and the screen composed.
            first_page = asyncio.ensure_future(
                self.hd.views.page(SYSTEM_VIEW_KEYS["inbox"].spec, self.me, limit=PAGE_SIZE))
            try:
                self.seq = await self.hd.feed.latest()
                rail = await self.hd.views.rail(self.me)
            except BaseException:
                first_page.cancel()
                await asyncio.wait([first_page])
                raise
            self._mentions = next((i.count for i in rail if i.key == "mentions"), None)
        except HelpdeskError as exc:
            self.exit(1, return_code=1, message=plain(f"helpdesk: error: {exc}"))
            return
        if self.settings is not None:
            self._apply_settings(self.settings)
        self.inbox = InboxScreen(self.hd, self.me, now=self.clock, rail=rail, first_page=first_page)
        await self.push_screen(self.inbox)
        for note in self.hd.notes:  # a one-time settings import
            self.notify(note, title="Desk settings", timeout=10)
        self.refresh_shift_line()
        if self.watch:
            self.watch_feed()
        if any(desk.emails for desk in self.hd.settings.desks):
            # After the first frame: the mail service's imports are not on the cold start.
            self.call_after_refresh(self._start_mail)
        if self.hd.settings.ai.active:
            self.call_after_refresh(self.refresh_ai_usage)

    def refresh_ai_usage(self) -> None:
        """My AI usage today in the status bar (read after the first frame, and after each AI action)."""
        from .ai_usage import show_ai_usage

        show_ai_usage(self)

    def _start_mail(self) -> None:
        """Sync the desks' mailboxes in the background (a lease lets one process work each); ``hd.close`` stops it."""
        if self.hd is not None and self.is_running:
            mail = self.hd.mail
            self._mail_progress.clear()  # the mailboxes of the settings before this change
            if mail.receiving:
                self._set_mail("mail: connecting", True)
            elif mail.no_password:
                self._set_mail("mail: not fetched here (no password in this terminal's config)", True)
            elif mail.addresses:
                self._set_mail("mail: off (desk switched off)", True)
            mail.start(self.mail_progress)

    def mail_progress(self, progress) -> None:
        """The mail service's progress callback: the newest state of every mailbox, in the status bar."""
        self._mail_progress[(progress.account, progress.mailbox)] = progress
        self._set_mail(*mail_state(self._mail_progress.values()))

    def _set_mail(self, text: str, ok: bool) -> None:
        if self.inbox is not None and self.inbox.is_mounted:
            self.inbox.status.mail = text
            self.inbox.status.mail_ok = ok

    def _apply_settings(self, settings: "Settings") -> None:
        unknown = keymap.apply_keymap(self, dict(settings.keys))
        if unknown:
            self.notify(Text("Unknown key ids in the config: " + ", ".join(unknown), end=""), severity="warning")
        if settings.theme:
            if settings.theme in self.available_themes:
                self.theme = settings.theme
            else:
                self.notify(Text(f"Unknown theme '{settings.theme}'; themes: "
                                 + ", ".join(sorted(self.available_themes)), end=""), severity="warning")

    async def on_unmount(self) -> None:
        await self._settle_workers()
        if self._owns_hd and self.hd is not None:
            await self.hd.close()

    async def _settle_workers(self, timeout: float = 3.0) -> None:
        """Cancel every worker and let it finish before the database closes.

        A query cancelled after its connection's thread has stopped waits for an
        answer that never comes, and the process would hang on its way out.
        """
        for worker in list(self.workers):
            if not worker.is_cancelled:  # a second cancel would cut short its clean-up
                worker.cancel()

        async def settle(worker) -> None:
            with contextlib.suppress(Exception):
                await worker.wait()

        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(settle(w) for w in list(self.workers))), timeout)

    # -------------------------------------------------------- the live feed

    @work(exclusive=True, group="feed", exit_on_error=False)
    async def watch_feed(self) -> None:
        """Poll "what changed since N"; refresh the inbox and notify me."""
        delay = self.poll_seconds
        self._set_sync("live", True)
        next_hold_check = 0.0
        loop = asyncio.get_running_loop()
        next_hand_out = loop.time() + HAND_OUT_SECONDS
        while True:
            await asyncio.sleep(delay)
            if loop.time() >= next_hand_out:
                # The next process to look hands out waiting tickets (someone came on shift, below the cap).
                next_hand_out = loop.time() + HAND_OUT_SECONDS
                self.hand_out()
                self.refresh_shift_line()  # "on shift until 17:00" turns into "off shift" on time
            try:
                if time.monotonic() >= next_hold_check:
                    # Holds whose time has come go back to On you; the feed below brings the change.
                    next_hold_check = time.monotonic() + HOLD_CHECK_SECONDS
                    await self.hd.tickets.wake_held()
                changes, seq = await self.hd.feed.since(self.seq)
            except Exception as exc:  # noqa: BLE001 - a lost database must not kill the app
                delay = min(MAX_BACKOFF, delay * 2)
                self._set_sync(f"offline ({type(exc).__name__}); retrying", False)
                continue
            delay = self.poll_seconds
            if not changes:
                self._set_sync("live", True)
                continue
            self.seq = seq
            tell_screens(self, changes, seq)  # an open ticket follows its changes from here
            self._set_sync(f"live · synced {self.clock().strftime('%H:%M:%S')}", True)
            if all(c.kind == "presence" for c in changes):
                continue  # who is typing where: only the ticket screens care
            if any(c.kind == "settings" for c in changes):
                await self.apply_desk_settings()
            if any(c.kind in ("settings", "agent") for c in changes):
                next_hand_out = loop.time()
                self.refresh_shift_line()
            try:
                await self.apply_changes(changes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive one bad refresh
                self._set_sync(f"refresh failed ({type(exc).__name__}); retrying", False)

    async def apply_desk_settings(self) -> None:
        """Another terminal (or this one) saved desk settings: use them; reconnect the mail if its accounts changed."""
        try:
            changed = await self.hd.reload_settings()
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error")
            return
        self.settings = self.hd.settings
        if "mail" in changed and any(desk.emails for desk in self.hd.settings.desks):
            self._start_mail()
        if "chat" in changed and self.hd.conversations.configured:
            self.hd.conversations.start()  # a poller whose chatbot URL changed restarts

    @work(exclusive=True, group="hand-out", exit_on_error=False)
    async def hand_out(self) -> None:
        with contextlib.suppress(HelpdeskError):
            await self.hd.assignment.hand_out()

    @work(exclusive=True, group="shift-line", exit_on_error=False)
    async def refresh_shift_line(self) -> None:
        """The status bar's "on shift until 17:00" for a scheduled agent, in this terminal's time zone."""
        from datetime import timezone

        from ..domain.assignment import shift_line

        if self.me is None or self.hd is None:
            return
        me = await self.hd.agents.get(self.me.login)
        if not me.active:
            # Deactivated by an admin in another terminal: this agent may no longer act here.
            self.exit(1, return_code=1, message=plain(
                f"helpdesk: error: '{me.login}' was deactivated on this help desk; "
                f"an admin can reactivate you with: helpdesk agent activate {me.login}"))
            return
        shift = None
        if me.shift:
            for state in await self.hd.desk_settings.states():
                shift = next((s.shift() for s in state.config.shifts if s.name == me.shift), shift)
        now = self.clock().replace(tzinfo=timezone.utc)
        text = shift_line(shift, now, datetime.now().astimezone().tzinfo) or ""
        if self.inbox is not None and self.inbox.is_mounted:
            self.inbox.status.shift = text

    def _set_sync(self, text: str, ok: bool) -> None:
        if self.inbox is not None and self.inbox.is_mounted:
            self.inbox.status.sync = text
            self.inbox.status.sync_ok = ok

    async def apply_changes(self, changes: list[Change]) -> None:
        """Counts and the visible page again; notifications for my Inbox and my mentions."""
        hd, me = self.hd, self.me
        items = await hd.views.rail(me)
        mentions = next((i.count for i in items if i.key == "mentions"), None)
        inbox = self.inbox
        if inbox is not None and inbox.is_mounted:
            inbox.apply_rail(items)
            if inbox.loaded:
                await inbox.reload_window()
        # Tickets that entered my Inbox because of someone else's change. A ticket I
        # changed myself in the same batch (a chat I took over: the system creates
        # the ticket, I assign it) is no news to me.
        # Only changes that move a ticket into an Inbox are looked at: typing, drafts
        # and notes of mine cost no read here.
        mine_by_me = list(dict.fromkeys(c.ticket_id for c in changes
                                        if c.agent_id == me.id and c.ticket_id and c.kind in INBOX_KINDS))
        for ticket_id in mine_by_me[:10]:
            try:
                ticket = await hd.tickets.get(ticket_id)
            except HelpdeskError:
                continue
            if ticket.assignee is not None and ticket.assignee.id == me.id and ticket.status.is_active:
                self._inbox_seen.add(ticket_id)
        candidates = []
        for change in changes:
            if (change.kind in INBOX_KINDS and change.ticket_id and change.agent_id != me.id
                    and change.ticket_id not in mine_by_me):
                if change.ticket_id not in candidates:
                    candidates.append(change.ticket_id)
        for ticket_id in candidates[:10]:
            try:
                ticket = await hd.tickets.get(ticket_id)
            except HelpdeskError:
                continue
            mine = ticket.assignee is not None and ticket.assignee.id == me.id and ticket.status.is_active
            if mine and ticket_id not in self._inbox_seen:
                self._inbox_seen.add(ticket_id)
                self.notify(Text(f"#{ticket.id} ", end="") + line(ticket.subject, 80), title="New in your Inbox")
                alerts.alert(self, "New in your Inbox", f"#{ticket.id} {ticket.subject}")
            elif not mine:
                self._inbox_seen.discard(ticket_id)
        if mentions is not None and self._mentions is not None and mentions > self._mentions:
            notes = [c.ticket_id for c in changes if c.kind == "note" and c.agent_id != me.id and c.ticket_id]
            where = f" on #{notes[-1]}" if notes else ""
            self.notify(Text(f"You were mentioned{where}", end=""), title="Mention")
            alerts.alert(self, "Mention", f"You were mentioned{where}")
        self._mentions = mentions

    def notify(self, message, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """Every notification in this app is plain text: cleaned, never parsed as markup.

        Widgets' ``notify`` passes ``markup=True`` by default; it is ignored on
        purpose, because messages here quote subjects, names and view names.
        ``Text`` is accepted and shown by its plain text.
        """
        text = message.plain if isinstance(message, Text) else str(message)
        super().notify(clean(text), title=one_line(str(title)), severity=severity, timeout=timeout, markup=False)

    def write_terminal(self, sequence: str) -> None:
        """Hand an escape sequence (a desktop notification) to the terminal, outside the screen's frames."""
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(sequence)
            driver.flush()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.report_worker(event)

    def report_worker(self, event: Worker.StateChanged) -> None:
        """A worker that failed says so, in one line; the app keeps running.

        Worker state messages do not bubble: the inbox and the table forward theirs here.
        """
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, HelpdeskError):
            self.notify(str(error), severity="error")
        elif error is not None:
            self.log.error(f"worker {event.worker.name} failed", error)
            self.notify(f"Something went wrong ({type(error).__name__}): {error}", severity="error",
                        title="Not done")

    # ------------------------------------------------------------- actions

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_settings(self) -> None:
        """The desk settings screen (admins edit, agents read)."""
        from .settings import SettingsScreen

        if self.hd is None or self.me is None or isinstance(self.screen, SettingsScreen):
            return
        self.push_screen(SettingsScreen(self.hd, self.me, now=self.clock))

    def action_toggle_availability(self) -> None:
        self._toggle_availability()

    @work(group="me", exit_on_error=False)
    async def _toggle_availability(self) -> None:
        if self.me is None:
            return
        new = Availability.AWAY if self.me.availability is Availability.AVAILABLE else Availability.AVAILABLE
        try:
            self.me = await self.hd.agents.set(self.me, self.me.login, availability=new.value)
        except HelpdeskError as exc:
            self.notify(plain(exc), severity="error")
            return
        if self.inbox is not None:
            self.inbox.me = self.me
            self.inbox.status.availability = self.me.availability.value
        self.notify(f"You are {self.me.availability.value}.", timeout=2)


def run(settings: "Settings", act_as: str | None = None) -> int:
    """Open the app on the configured database; returns the exit code."""
    app = HelpdeskApp(settings, act_as=act_as)
    app.run()
    return app.return_code or 0
