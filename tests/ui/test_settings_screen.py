"""The Settings screen: admins edit (good and bad input), agents read, the desk switcher, conflicts, the status bar."""

from __future__ import annotations

from ui_support import screen_text, settle

from tests.desks import fixed_clock, make_settings
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.desk_config import desk_doc
from textual.widgets import Input, Select, Static, Switch, TextArea


async def open_settings(pilot, app):
    from tui_helpdesk.ui.settings import SettingsScreen

    await settle(pilot)
    await pilot.press("comma")
    await settle(pilot, lambda: isinstance(app.screen, SettingsScreen) and app.screen.state is not None)
    return app.screen


def static_text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_admin_turns_on_balanced_assignment_with_a_shift(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(150, 50)) as pilot:
        screen = await open_settings(pilot, app)
        screen.query_one("#method", Select).value = "balanced"
        screen.query_one("#tabs").active = "scheduling"
        screen.query_one("#shifts", TextArea).text = (
            '[[shifts]]\nname = "day"\ntimezone = "Europe/Lisbon"\nhours = { mon = "09:00-17:00" }\n')
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: screen.state.version == 1)
        state = await hd.desk_settings.get()
        assert state.config.assignment == "balanced" and state.config.shifts[0].timezone == "Europe/Lisbon"
        assert "day" in static_text(screen, "#week") or "[day]" in static_text(screen, "#week")


async def test_a_bad_field_is_named_and_nothing_is_saved(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(150, 50)) as pilot:
        screen = await open_settings(pilot, app)
        screen.query_one("#reopen_days", Input).value = "-4"
        screen.query_one("#shifts", TextArea).text = (
            '[[shifts]]\nname = "x"\ntimezone = "Mars/Olympus"\nhours = { mon = "09:00-17:00" }\n')
        screen.query_one("#method", Select).value = "round_robin"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: "Mars/Olympus" in static_text(screen, "#err-scheduling"))
        assert "reopen_days" in static_text(screen, "#err-desk")
        state = await hd.desk_settings.get()
        assert state.version == 0 and state.config.assignment == "manual"
        # A TOML mistake in a table is an error too, not a crash.
        screen.query_one("#emails", TextArea).text = "[[email]\naddress = "
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: "not valid TOML" in static_text(screen, "#err-email"))
        assert (await hd.desk_settings.get()).version == 0


async def test_agents_read_but_cannot_change(desk, make_app):
    hd, _, ben = desk
    app = make_app(hd, ben)
    async with app.run_test(size=(150, 50)) as pilot:
        screen = await open_settings(pilot, app)
        assert screen.query_one("#method", Select).disabled and screen.query_one("#enabled", Switch).disabled
        assert "read-only" in str(screen.query_one("#mode").render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert (await hd.desk_settings.get()).version == 0


async def test_the_desk_switcher_and_all_desks(desk, make_app):
    hd, ana, _ = desk
    await hd.desk_settings.add_desk(ana, "sales", "Sales team")
    app = make_app(hd, ana)
    async with app.run_test(size=(150, 50)) as pilot:
        screen = await open_settings(pilot, app)
        select = screen.query_one("#desk-select", Select)
        assert [value for _, value in select._options if isinstance(value, str)] == ["support", "sales", "*"]
        all_count = app.inbox.rail.item("all").count
        assert all_count > 0
        select.value = "sales"
        await settle(pilot, lambda: screen.state is not None and screen.state.slug == "sales")
        assert screen.query_one("#name", Input).value == "Sales team"
        # The rail follows the chosen desk: Sales has no tickets yet.
        await settle(pilot, lambda: app.inbox.rail.item("all").count == 0)
        select.value = "*"
        await settle(pilot, lambda: "sales" in static_text(screen, "#all-desks"))
        assert screen.state is None and screen.query_one("#method", Select).disabled
        await settle(pilot, lambda: app.inbox.rail.item("all").count == all_count)


async def test_the_later_save_is_told_what_changed_meanwhile(tmp_path, desk, make_app):
    hd, ana, _ = desk
    other = await bootstrap(make_settings(tmp_path / "desk.db"), clock=fixed_clock)
    app = make_app(hd, ana, watch=False)
    try:
        async with app.run_test(size=(150, 50)) as pilot:
            screen = await open_settings(pilot, app)
            state = await other.desk_settings.get()
            await other.desk_settings.save(ana, {**desk_doc(state.config), "assignment": {"method": "balanced"}},
                                           expected_version=state.version)
            screen.query_one("#reopen_days", Input).value = "3"
            await pilot.press("ctrl+s")
            await settle(pilot, lambda: getattr(screen, "conflict", None) is not None)
            assert screen.conflict == ["assignment.method: 'manual' → 'balanced'"]
            assert (await hd.desk_settings.get()).config.reopen_days == 7
            await pilot.press("ctrl+r")  # reload: the other admin's change shows
            await settle(pilot, lambda: screen.query_one("#method", Select).value == "balanced")
            assert screen.query_one("#reopen_days", Input).value == "7"
    finally:
        await other.close()


async def test_status_bar_shows_a_scheduled_agents_shift_and_the_availability_toggle(desk, make_app):
    hd, ana, _ = desk
    state = await hd.desk_settings.get()
    # The template desk's clock is Monday 2026-03-02 12:00 UTC.
    doc = desk_doc(state.config)
    doc["scheduling"] = {"shifts": [{"name": "day", "timezone": "UTC", "hours": {"mon": "09:00-17:00"}}]}
    await hd.desk_settings.save(ana, doc, expected_version=state.version)
    app = make_app(hd, ana)
    async with app.run_test(size=(150, 50)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot, lambda: app.inbox.status.availability == "away")
        await hd.desk_settings.set_schedule(ana, "ana", shift="day")
        await settle(pilot, lambda: app.inbox.status.shift.startswith("on shift until"), timeout=5)
        assert "on shift until" in screen_text(app)


async def test_the_ticket_screen_explains_who_would_get_the_ticket(desk):
    from ticket_fixtures import TicketHarness, opened, wait_until

    hd, ana, ben = desk
    state = await hd.desk_settings.get()
    await hd.desk_settings.save(ana, {**desk_doc(state.config), "assignment": {"method": "balanced"}},
                                expected_version=state.version)
    await hd.agents.set(ana, "ana", availability="away")
    ticket = await hd.tickets.create(subject="Why me?", body="x", requester_email="w@example.com")
    assert (await hd.tickets.get(ticket.id)).assignee.login == "ben"
    app = TicketHarness(hd, ana, ticket.id)
    async with app.run_test(size=(150, 45)) as pilot:
        await opened(pilot)
        await pilot.press("W")
        await wait_until(pilot, lambda: any("ben" in n for n in app.notes), what="the explanation")
        text = next(n for n in app.notes if "ben" in n)
        assert "assigned to Ben Okafor now" in text and "ana: away" in text and "ben: eligible" in text


async def test_a_change_in_another_terminal_reaches_the_running_app_and_its_open_form(tmp_path, desk, make_app):
    import time

    hd, ana, _ = desk
    other = await bootstrap(make_settings(tmp_path / "desk.db"), clock=fixed_clock)
    app = make_app(hd, ana, poll_seconds=0.2)
    try:
        async with app.run_test(size=(150, 50)) as pilot:
            screen = await open_settings(pilot, app)
            state = await other.desk_settings.get()
            doc = {**desk_doc(state.config), "name": "Front line", "email": [{"address": "front@example.com"}]}
            await other.desk_settings.save(ana, doc, expected_version=state.version)
            saved = time.monotonic()
            while hd.settings.desks[0].name != "Front line" and time.monotonic() - saved < 3:
                await pilot.pause(0.02)
            assert time.monotonic() - saved < 1.0  # the app polls the feed every 0.2 s here
            await settle(pilot, lambda: screen.query_one("#name", Input).value == "Front line", timeout=3)
            assert hd.settings.desks[0].name == "Front line"
            assert [e.address for e in hd.settings.desks[0].emails] == ["front@example.com"]
    finally:
        await other.close()


async def test_agents_tab_sets_shift_cap_and_time_off_and_refuses_bad_input(desk, make_app):
    from textual.widgets import Button

    hd, ana, _ = desk
    state = await hd.desk_settings.get()
    doc = desk_doc(state.config)
    doc["scheduling"] = {"shifts": [{"name": "day", "timezone": "UTC", "hours": {"mon": "09:00-17:00"}}]}
    await hd.desk_settings.save(ana, doc, expected_version=state.version)
    app = make_app(hd, ana)
    async with app.run_test(size=(150, 60)) as pilot:
        screen = await open_settings(pilot, app)
        screen.query_one("#tabs").active = "agents"
        values = {"#agent-login": "ben", "#agent-shift": "day", "#agent-cap": "-2", "#agent-off": "2026-12-31..2026-12-24"}
        for selector, value in values.items():
            screen.query_one(selector, Input).value = value
        screen.query_one("#agent-save", Button).press()
        await settle(pilot, lambda: "max_open" in static_text(screen, "#err-agents"))
        assert "ends before it starts" in static_text(screen, "#err-agents")
        ben = next(s for s in await hd.desk_settings.schedules() if s.login == "ben")
        assert ben.shift is None and ben.max_open == 0 and ben.time_off == ()  # nothing saved
        screen.query_one("#agent-cap", Input).value = "12"
        screen.query_one("#agent-off", Input).value = "2026-12-24..2026-12-31"
        screen.query_one("#agent-save", Button).press()
        await settle(pilot, lambda: "day" in static_text(screen, "#agent-table"))
        ben = next(s for s in await hd.desk_settings.schedules() if s.login == "ben")
        assert ben.shift == "day" and ben.max_open == 12 and len(ben.time_off) == 1
        assert "ben (day)" in static_text(screen, "#week")
        # Blank shift keeps it; a new cap alone changes only the cap.
        screen.query_one("#agent-shift", Input).value = ""
        screen.query_one("#agent-off", Input).value = ""
        screen.query_one("#agent-cap", Input).value = "3"
        screen.query_one("#agent-save", Button).press()
        await settle(pilot, lambda: any(s.login == "ben" and s.max_open == 3 for s in screen.schedules))
        ben = next(s for s in await hd.desk_settings.schedules() if s.login == "ben")
        assert ben.shift == "day" and len(ben.time_off) == 1


async def test_a_desk_name_with_markup_is_shown_as_typed(desk, make_app):
    hd, ana, _ = desk
    await hd.desk_settings.add_desk(ana, "evil", "[@click=app.quit]Sales[/]")
    app = make_app(hd, ana)
    async with app.run_test(size=(150, 50)) as pilot:
        screen = await open_settings(pilot, app)
        screen.query_one("#desk-select", Select).value = "evil"
        await settle(pilot, lambda: screen.state is not None and screen.state.slug == "evil")
        assert "[@click=app.quit]Sales[/]" in screen_text(app)
        assert app.is_running
