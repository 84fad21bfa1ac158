"""The Set-aside mail screen: reached from the inbox and the palette, lists, shows and releases."""

from __future__ import annotations

from dataclasses import replace

from tui_helpdesk.adapters.mail.imap import prepare
from tui_helpdesk.settings import EmailSettings
from tui_helpdesk.ui.set_aside import SetAsideScreen

from tests.mail_fixtures import auto_reply, fetched
from ui_support import PAYLOADS, screen_text, settle


async def _with_set_aside_mail(hd) -> list[bytes]:
    desk = replace(hd.settings.desks[0], emails=(EmailSettings(address="support@example.com"),))
    hd.settings = replace(hd.settings, desks=(desk, *hd.settings.desks[1:]))
    robots = [auto_reply(sender=f"Robot {i} <robot{i}@example.net>", message_id=f"<ooo{i}@example.net>",
                         subject=f"Away {i} {PAYLOADS[i]}") for i in range(3)]
    result = await hd.mail.ingest(hd.mail.addresses[0], "INBOX", 1, prepare(fetched(robots)))
    assert result.set_aside == 3
    return robots


async def test_set_aside_screen_lists_shows_and_releases(desk, make_app):
    hd, ana, _ = desk
    await _with_set_aside_mail(hd)
    app = make_app(hd, ana)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("M")
        await settle(pilot, lambda: isinstance(app.screen, SetAsideScreen) and len(app.screen.items) == 3)
        screen = app.screen
        await settle(pilot, lambda: "I am away until Monday" in screen_text(app))
        text = screen_text(app)
        assert "3 set-aside messages waiting" in text and "robot2@example.net" in text
        assert "Looks like: auto_reply" in text
        assert "\x1b" not in text and "Away 2" in text  # escape sequences in subjects are inert
        await pilot.press("j", "j")
        await settle(pilot, lambda: "robot0@example.net" in screen_text(app).split("Why:")[-1])
        await pilot.press("R")
        await settle(pilot, lambda: "Make this message a ticket?" in screen_text(app))
        await pilot.press("y")
        await settle(pilot, lambda: len(screen.items) == 2)
        assert "2 set-aside messages waiting" in screen_text(app)
        released = (await hd.mail.set_aside.page(released=True)).items[-1]
        assert released.ticket_id is not None
        ticket = await hd.tickets.get(released.ticket_id)
        assert ticket.requester.email == "robot0@example.net"
        await pilot.press("a")  # released ones too
        await settle(pilot, lambda: len(screen.items) == 3)
        assert f"→ #{released.ticket_id}" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is app.inbox)


async def test_set_aside_mail_is_in_the_palette(desk, make_app):
    from tui_helpdesk.ui.palette import ActionsProvider

    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        provider = ActionsProvider(app.screen)
        names = [description for description, _hint, _run in provider._actions()]
        assert any(name.startswith("Set-aside mail") for name in names)
        run = next(run for description, _hint, run in provider._actions() if description.startswith("Set-aside mail"))
        await run()
        await settle(pilot, lambda: isinstance(app.screen, SetAsideScreen))
