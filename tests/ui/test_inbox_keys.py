"""The keymap covers the ticket screen and the Conversations view: remapping and help."""

from __future__ import annotations

from dataclasses import replace

from tui_helpdesk.ui import keymap, keys
from tui_helpdesk.ui.help import HelpScreen

from ui_support import screen_text, settle


async def test_a_ticket_screen_id_remapped_from_settings_shows_in_help(desk, make_app):
    hd, ana, _ = desk
    settings = replace(hd.settings, keys={"ticket.note": "N", "ticket.bogus": "x"})
    app = make_app(hd, ana, settings=settings)
    async with app.run_test(size=(140, 50), notifications=True) as pilot:
        await settle(pilot)
        assert any("ticket.bogus" in str(n.message) for n in app._notifications)
        await pilot.press("enter")
        await settle(pilot, lambda: type(app.screen).__name__ == "TicketScreen")
        await pilot.pause(0.3)
        await pilot.press("question_mark")
        await settle(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = screen_text(app)
        [row] = [line for line in text.splitlines() if "ticket.note" in line]
        assert row.strip("│ ").split()[0] == "N" and "Note" in row
        # Grouped like the inbox's keys, not under "This screen".
        assert "Tickets" in text and "Moving" in text


def test_other_screens_ids_are_known_without_importing_them_first():
    fake = type("Fake", (), {"set_keymap": lambda self, km: setattr(self, "km", km)})()
    unknown = keymap.apply_keymap(fake, {"ticket.composer.send": "ctrl+s", "conversations.down": "j,down",
                                         "ticket.nope": "x", "dialog.whatever": "y"})
    assert unknown == ["ticket.nope"]
    assert set(fake.km) == {"ticket.composer.send", "conversations.down", "dialog.whatever"}
    assert keymap.describe("ticket.composer.send").group == "Composer" in keys.GROUPS
    assert {k.group for k in keymap.every_key()} <= set(keys.GROUPS)
    ids = [k.id for k in keymap.every_key()]
    assert len(ids) == len(set(ids))
