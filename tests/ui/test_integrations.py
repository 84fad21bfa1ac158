"""The API tokens and webhooks screen: admins make a token (shown once), revoke it, subscribe and pause webhooks."""

from __future__ import annotations

from ui_support import screen_text, settle

from tui_helpdesk.ui.integrations import IntegrationsScreen


async def wait_loaded(pilot, screen, until=lambda: True):
    for _ in range(100):
        await pilot.pause(0.05)
        if screen.loaded and not any(w.is_running and w.group.startswith("integrations") for w in screen.workers) \
                and until():
            return
    raise AssertionError(f"the screen did not settle: loaded={screen.loaded} "
                         f"workers={[(w.name, w.state, w.error) for w in screen.workers]}")


async def test_make_and_revoke_a_token_and_pause_a_webhook(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        screen = IntegrationsScreen(hd, ana)
        app.push_screen(screen)
        await wait_loaded(pilot, screen)
        assert "No API tokens or webhooks yet" in screen_text(app)

        await pilot.press("t")
        await pilot.press(*"web form")
        await pilot.press("enter")
        await wait_loaded(pilot, screen, lambda: len(screen.rows) == 1)
        shown = str(screen.query_one("#shown").render())
        [token] = [w for w in shown.split() if w.startswith("hd_")]
        assert await hd.api_access.authenticate(token) is not None
        options = screen.query_one("#items")
        listed = " ".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))
        assert token.split("_")[1] in listed and token not in listed  # the list shows the prefix only

        await pilot.press("w")
        await pilot.press(*"https://crm.example/hook")
        await pilot.press("enter")
        await wait_loaded(pilot, screen, lambda: len(screen.rows) == 2)
        assert "whsec_" in str(screen.query_one("#shown").render())
        [sub] = await hd.webhooks.list(ana)
        assert sub.url == "https://crm.example/hook" and sub.state == "active"

        # A subscription paused (here by hand; after repeated failures alike) says so.
        screen.query_one("#items").highlighted = 1
        await pilot.press("p")
        await wait_loaded(pilot, screen, lambda: "PAUSED" in screen_text(app))
        assert (await hd.webhooks.list(ana))[0].state == "paused"

        screen.query_one("#items").highlighted = 0
        await pilot.press("r")
        await pilot.pause(0.2)
        await pilot.press("y")
        await wait_loaded(pilot, screen, lambda: "revoked" in screen_text(app))
        assert await hd.api_access.authenticate(token) is None


async def test_an_agent_who_is_not_an_admin_is_told(desk, make_app):
    hd, ana, ben = desk
    app = make_app(hd, ben)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        screen = IntegrationsScreen(hd, ben)
        app.push_screen(screen)
        await wait_loaded(pilot, screen)
        assert "only an admin" in screen_text(app)
        await pilot.press("t")
        await pilot.press(*"sneaky")
        await pilot.press("enter")
        await wait_loaded(pilot, screen)
        assert await hd.api_access.tokens(ana) == []
