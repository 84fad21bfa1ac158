"""The Agents tab deactivates a teammate (after asking) and activates them again; a deactivated one is shown so."""

from __future__ import annotations

from textual.widgets import Button, Input, Static
from ui_support import settle

from tui_helpdesk.domain.desk_config import desk_doc
from tui_helpdesk.domain.errors import PermissionDenied


async def test_deactivate_and_activate_from_the_agents_tab(desk, make_app):
    from tui_helpdesk.ui.settings import SettingsScreen

    hd, ana, _ = desk
    state = await hd.desk_settings.get()
    doc = desk_doc(state.config)
    doc["scheduling"] = {"shifts": [{"name": "day", "timezone": "UTC", "hours": {"mon": "09:00-17:00"}}]}
    await hd.desk_settings.save(ana, doc, expected_version=state.version)
    await hd.desk_settings.set_schedule(ana, "ben", shift="day")
    app = make_app(hd, ana)
    async with app.run_test(size=(150, 60)) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await settle(pilot, lambda: isinstance(app.screen, SettingsScreen) and app.screen.state is not None)
        screen = app.screen
        screen.query_one("#tabs").active = "agents"
        screen.query_one("#agent-login", Input).value = "ben"
        screen.query_one("#agent-deactivate", Button).press()
        await settle(pilot, lambda: not isinstance(app.screen, SettingsScreen))  # the confirmation
        await pilot.press("y")
        table = lambda: str(screen.query_one("#agent-table", Static).render())  # noqa: E731
        await settle(pilot, lambda: "deactivated" in table())
        ben_line = next(ln for ln in table().splitlines() if ln.startswith("ben"))
        assert "deactivated" in ben_line
        assert not (await hd.agents.get("ben")).active
        week = str(screen.query_one("#week", Static).render())
        assert "ben (day)" not in week and "[day]" in week  # nobody active on the shift any more
        try:
            await hd.agents.identify("ben")
            raise AssertionError("a deactivated agent could act")
        except PermissionDenied as exc:
            assert "deactivated" in str(exc)

        screen.query_one("#agent-activate", Button).press()
        await settle(pilot, lambda: "deactivated" not in table())
        assert (await hd.agents.get("ben")).active
        assert "ben (day)" in str(screen.query_one("#week", Static).render())


async def test_a_running_app_of_an_agent_who_is_deactivated_stops(tmp_path, desk, make_app):
    from tests.desks import fixed_clock, make_settings
    from tui_helpdesk.bootstrap import bootstrap

    hd, ana, ben = desk
    other = await bootstrap(make_settings(tmp_path / "desk.db"), clock=fixed_clock)  # the admin's terminal
    app = make_app(hd, ben, poll_seconds=0.1)
    try:
        async with app.run_test(size=(150, 50)) as pilot:
            await settle(pilot)
            await other.agents.deactivate(ana, "ben")
            said = ""
            for _ in range(100):
                if app.return_code is not None:
                    said = " ".join(str(r) for r in app._exit_renderables)
                    break
                await pilot.pause(0.05)
        assert app.return_code == 1
        assert "'ben' was deactivated on this help desk" in said, said
    finally:
        await other.close()


async def test_add_an_agent_with_a_cap_and_a_bad_cap_adds_nobody(desk, make_app):
    from tui_helpdesk.ui.settings import SettingsScreen

    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(150, 60)) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await settle(pilot, lambda: isinstance(app.screen, SettingsScreen) and app.screen.state is not None)
        screen = app.screen
        screen.query_one("#tabs").active = "agents"
        screen.query_one("#new-login", Input).value = "cara"
        screen.query_one("#new-name", Input).value = "Cara Diaz"
        screen.query_one("#new-cap", Input).value = "-3"
        screen.query_one("#agent-add", Button).press()
        err = lambda: str(screen.query_one("#err-agents", Static).render())  # noqa: E731
        await settle(pilot, lambda: "max_open" in err())
        assert "cara" not in {a.login for a in await hd.agents.list()}
        screen.query_one("#new-cap", Input).value = "5"
        screen.query_one("#agent-add", Button).press()
        await settle(pilot, lambda: "cara" in str(screen.query_one("#agent-table", Static).render()))
        cara = await hd.agents.get("cara")
        assert (cara.name, cara.max_open) == ("Cara Diaz", 5) and err() == ""
