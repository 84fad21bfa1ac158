"""A new user sets up automatic assignment in the app alone, and tickets from chat and email follow it.

The walk the desk settings exist for: on a brand-new database, the first
user opens the app, opens Settings with ``,``, turns on balanced assignment,
types two shifts in different time zones, points the desk at a mailbox and
a chatbot platform, adds two teammates and puts each on a shift — with keys,
as a person would. The week view shows who is on shift. New mail (Dovecot)
and an escalated chat (the simulator) become tickets that go to whoever is
on shift, each with its reason in the timeline. A teammate in another
terminal, with no config file at all, sees the same settings.

The only file is this user's config, and it holds only secrets (passwords
stay in each process's own config or environment, never in the database).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from textual.widgets import Button, Input, Select, Static, TextArea
from ui_support import screen_text
from ui_support import settle as _settle

from tests.clock import Clock
from tests.desks import db_url
from tests.mail_fixtures import IMAP_PASSWORD_ENV, SUPPORT, customer_mail
from tests.servers import DovecotServer, require
from tui_helpdesk.adapters.chatbot.sim import Simulator
from tui_helpdesk.adapters.store.tables import TICKET
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.model import EntryKind
from tui_helpdesk.settings import load

BOT_KEY = "walk-bot-key-0123456789"
# Monday 2 March 2026, 12:00 UTC: noon in Lisbon (on shift 09-17), 21:00 in Tokyo (off shift 09-17).
MONDAY_NOON = datetime(2026, 3, 2, 12, 0)

SHIFTS = (
    '[[shifts]]\nname = "lisbon"\ntimezone = "Europe/Lisbon"\n'
    'hours = { mon = "09:00-17:00", tue = "09:00-17:00" }\n\n'
    '[[shifts]]\nname = "tokyo"\ntimezone = "Asia/Tokyo"\n'
    'hours = { mon = "09:00-17:00", tue = "09:00-17:00" }\n'
)


@pytest.fixture
def imap():
    require("dovecot")
    with DovecotServer() as server:
        yield server


def secrets_only_config(path, *, login_env: str) -> str:
    """A personal config with nothing but where this process finds its secrets."""
    path.write_text(
        '[[desks]]\nslug = "support"\n\n'
        f'[[desks.email]]\naddress = "{SUPPORT}"\n[desks.email.imap]\npassword_env = "{login_env}"\n\n'
        '[desks.chatbot]\napi_key_env = "HD_WALK_BOT_KEY"\n')
    path.chmod(0o600)
    return str(path)


async def type_into(pilot, widget, text: str) -> None:
    """Focus *widget*, clear it, and type *text* key by key (newlines as Enter)."""
    widget.focus()
    await settle(pilot, lambda: pilot.app.focused is widget)
    if isinstance(widget, TextArea):
        await pilot.press("f7", "backspace")  # select all, delete
    else:
        await pilot.press("end", *["backspace"] * len(widget.value))
    await pilot.press(*["enter" if ch == "\n" else ch for ch in text])


async def settle(pilot, until=None, timeout: float = 5.0) -> None:
    try:
        await _settle(pilot, until, timeout)
    except AssertionError:
        workers = [(w.group, w.name, w.is_running) for w in pilot.app.workers]
        raise AssertionError(f"{until} workers={workers} focused={pilot.app.focused}") from None


def static_text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_a_new_user_sets_up_shifts_in_the_app_and_tickets_follow_them(imap, tmp_path, monkeypatch):
    from tui_helpdesk.ui.app import HelpdeskApp
    from tui_helpdesk.ui.settings import SettingsScreen

    monkeypatch.setenv(IMAP_PASSWORD_ENV, "secret")
    monkeypatch.setenv("HD_WALK_BOT_KEY", BOT_KEY)
    clock = Clock(MONDAY_NOON)
    sim = Simulator(BOT_KEY, seed=7)
    bot_url = await sim.start()
    db = tmp_path / "desk.db"
    config = secrets_only_config(tmp_path / "config.toml", login_env=IMAP_PASSWORD_ENV)
    settings = load(config, database_url=db_url(db))
    # The database exists (an admin ran `helpdesk db upgrade`); it is empty.
    (await bootstrap(settings, upgrade=True)).store  # noqa: B018
    teammate = None
    app = HelpdeskApp(settings, login="ana", clock=clock, poll_seconds=0.1)
    try:
        async with app.run_test(size=(160, 60)) as pilot:
            await settle(pilot, timeout=10)
            assert app.me.login == "ana" and app.me.is_admin  # the first user of a new database
            teammate = await bootstrap(load(None, database_url=db_url(db)), clock=clock)  # another terminal

            await pilot.press("comma")
            await settle(pilot, lambda: isinstance(app.screen, SettingsScreen) and app.screen.state is not None)
            screen = app.screen
            # The secrets: this process has them, and says from where (never what).
            screen.query_one("#tabs").active = "email"
            await pilot.pause()
            assert f"{SUPPORT} imap password: from ${IMAP_PASSWORD_ENV}" in static_text(screen, "#secrets")

            # Assignment: balanced, picked from the list with the keyboard.
            screen.query_one("#tabs").active = "assignment"
            await pilot.pause()
            screen.query_one("#method", Select).focus()
            await pilot.press("enter", "down", "enter")
            await settle(pilot, lambda: screen.query_one("#method", Select).value == "balanced")

            # Scheduling: two shifts, typed; a typo first (an unknown zone) is refused and saves nothing.
            screen.query_one("#tabs").active = "scheduling"
            await pilot.pause()
            await type_into(pilot, screen.query_one("#shifts", TextArea), SHIFTS.replace("Asia/Tokyo", "Asia/Tokio"))
            # Email: where the mailbox is (the password stays in this user's environment).
            screen.query_one("#tabs").active = "email"
            await pilot.pause()
            await type_into(pilot, screen.query_one("#emails", TextArea), (
                f'[[email]]\naddress = "{SUPPORT}"\npoll_seconds = 5\n'
                f'imap = {{ host = "127.0.0.1", port = {imap.port}, username = "support", security = "none" }}\n'))
            # The chatbot platform's address.
            screen.query_one("#tabs").active = "translation"
            await pilot.pause()
            await type_into(pilot, screen.query_one("#chatbot_url", Input), bot_url)
            await pilot.press("ctrl+s")
            await settle(pilot, lambda: "Asia/Tokio" in static_text(screen, "#err-scheduling"))
            assert screen.query_one("#tabs").active == "scheduling"  # the tab with the bad field
            assert (await teammate.desk_settings.get()).version == 1  # only the one-time import: nothing saved

            shifts = screen.query_one("#shifts", TextArea)
            await type_into(pilot, shifts, SHIFTS)
            await pilot.press("ctrl+s")
            await settle(pilot, lambda: screen.state.version == 2)
            assert static_text(screen, "#err-scheduling") == ""

            # Agents: two teammates, each put on a shift; ana herself on Tokyo's.
            screen.query_one("#tabs").active = "agents"
            await pilot.pause()
            for login, name in (("lia", "Lia Costa"), ("kenji", "Kenji Sato")):
                await type_into(pilot, screen.query_one("#new-login", Input), login)
                await type_into(pilot, screen.query_one("#new-name", Input), name)
                screen.query_one("#agent-add", Button).press()
                try:
                    await settle(pilot, lambda: login in static_text(screen, "#agent-table"))
                except AssertionError:
                    raise AssertionError(static_text(screen, "#err-agents") + repr({w.id: w.value for w in screen.query(Input)})) from None
            for login, shift in (("lia", "lisbon"), ("kenji", "tokyo"), ("ana", "tokyo")):
                await type_into(pilot, screen.query_one("#agent-login", Input), login)
                await type_into(pilot, screen.query_one("#agent-shift", Input), shift)
                screen.query_one("#agent-save", Button).press()
                try:
                    await settle(pilot, lambda: any(a.login == login and a.shift == shift for a in screen.agents))
                except AssertionError:
                    raise AssertionError(static_text(screen, "#err-agents") + repr(screen.agents)) from None
            assert static_text(screen, "#err-agents") == ""

            # The week view: who is on shift when, in the viewer's zone (UTC here).
            screen.query_one("#tabs").active = "scheduling"
            await settle(pilot)
            week = static_text(screen, "#week")
            assert "Week of 2026-03-02, your time" in week
            rows = {ln.split(")")[0] + ")": ln for ln in week.splitlines() if ln.startswith(("lia", "kenji", "ana"))}
            assert set(rows) == {"lia (lisbon)", "kenji (tokyo)", "ana (tokyo)"}
            cells = {label: ln[len(label):].strip() for label, ln in rows.items()}
            assert cells["kenji (tokyo)"] == cells["ana (tokyo)"] != cells["lia (lisbon)"]
            # Monday in UTC: Lisbon 09-17 is 08-16 (winter time, UTC+0: 09-17), Tokyo 09-17 is 00-08.
            assert cells["lia (lisbon)"].startswith("·····████···") and cells["ana (tokyo)"].startswith("████········")
            assert "lia (lisbon)" in screen_text(app)

            # The other terminal has the same settings, from the database alone.
            state = await teammate.desk_settings.get()
            assert state.config.assignment == "balanced"
            assert [(s.name, s.timezone) for s in state.config.shifts] == [
                ("lisbon", "Europe/Lisbon"), ("tokyo", "Asia/Tokyo")]
            assert state.config.chatbot_url == bot_url.rstrip("/")
            # ... and no secret of this one (it has no config file).
            assert set(teammate.desk_settings.secrets(state.config).values()) == {"not set here"}

            # New tickets: an email and an escalated chat. The app itself syncs both.
            await pilot.press("escape")
            imap.append("support", "INBOX", customer_mail(subject="Invoice twice", message_id="<walk1@example.com>"))
            conv = sim.add_conversation("Lucía Fernández", text="Mi pedido no llega", language="es")
            sim.escalate(conv, "Order delayed; the customer asks for a person")

            await settle(pilot, lambda: app.inbox.rail.item("all").count == 2, timeout=20)
            async with teammate.store.read() as tx:
                ids = [r[0] for r in await tx.conn.execute(select(TICKET.c.id).order_by(TICKET.c.id))]
            assert len(ids) == 2
            channels = []
            for ticket_id in ids:
                ticket = await teammate.tickets.get(ticket_id)
                channels.append(ticket.type.value)
                assert ticket.assignee is not None and ticket.assignee.login == "lia", ticket
                events = [e.body for e in await teammate.tickets.timeline(ticket_id) if e.kind is EntryKind.EVENT]
                reason = next(e for e in events if e.startswith("Assigned to Lia Costa automatically"))
                assert "balanced:" in reason and "on shift" in reason
            assert sorted(channels) == ["email", "live_chat"]
    finally:
        if teammate is not None:
            await teammate.close()
        await sim.stop()

    # The teammate opens the app in their own terminal: same settings, read-only, no file touched.
    lia_app = HelpdeskApp(load(None, database_url=db_url(db)), login="lia", clock=clock, poll_seconds=0.1)
    async with lia_app.run_test(size=(160, 60)) as pilot:
        await settle(pilot, timeout=10)
        await pilot.press("comma")
        await settle(pilot, lambda: isinstance(lia_app.screen, SettingsScreen) and lia_app.screen.state is not None)
        screen = lia_app.screen
        assert screen.query_one("#method", Select).value == "balanced"
        assert screen.query_one("#method", Select).disabled
        assert 'name = "tokyo"' in screen.query_one("#shifts", TextArea).text
        assert "read-only" in str(screen.query_one("#mode").render())
        assert f"{SUPPORT} imap password: not set here" in static_text(screen, "#secrets")
        # Without the password, this terminal leaves the mailbox (and its lease) to one that has it.
        assert lia_app.hd.mail.receiving == [] and lia_app.hd.mail.no_password == [SUPPORT]

    # After the whole session, no secret and no command is anywhere in the database's files.
    for path in tmp_path.glob("desk.db*"):
        data = path.read_bytes()
        for needle in (BOT_KEY.encode(), b"_command"):
            at = data.find(needle)
            assert at < 0, (path.name, needle, data[max(0, at - 120):at + 40].decode("ascii", "replace").replace("\x00", ""))

