"""Pilot flows of the inbox: views, filters, saved views, bulk actions, sorting, keys."""

from __future__ import annotations

from tui_helpdesk.domain import querylang
from tui_helpdesk.domain.model import Availability, Status

from ui_support import screen_text, settle


def rail_count(app, key):
    return app.inbox.rail.item(key).count


async def test_opens_on_inbox_with_counts(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        items = {i.key: i.count for i in await hd.views.rail(ana)}
        assert {i.key: i.count for i in app.inbox.rail.items} == items
        table = app.inbox.table
        assert table.row_count == items["inbox"] > 0
        text = screen_text(app)
        assert "Inbox" in text and "Unassigned" in text and "Ana Lima" in text


async def test_switch_views_with_keys_and_rail(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot, lambda: app.inbox.view_key == "all")
        assert app.inbox.table.row_count == rail_count(app, "all")
        await pilot.press("h", "j", "j")  # focus the rail, move to Solved
        await settle(pilot, lambda: app.inbox.view_key == "solved")
        assert {r.status for r in app.inbox.table.window.rows} <= {Status.CLOSED, Status.CANCELLED}
        assert app.inbox.table.row_count == rail_count(app, "solved")
        await pilot.press("enter")
        assert app.focused is app.inbox.table


async def test_filter_bar_applies_and_points_at_errors(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.select_view("all")
        await settle(pilot, lambda: app.inbox.view_key == "all")
        await pilot.press("slash", *"stauts:new")
        await pilot.pause()
        hint = app.inbox.query_one("#filter-hint")
        assert hint.has_class("-error")
        assert "unknown field 'stauts'" in str(hint.render())
        await pilot.press("enter")  # an error is not applied
        assert app.inbox.filter_query == ""
        app.inbox.query_one("#filter-input").value = "status:new"
        await pilot.press("enter")
        await settle(pilot, lambda: app.inbox.filter_query == "status:new")
        rows = app.inbox.table.window.rows
        assert rows and {r.status for r in rows} == {Status.NEW}
        # The results came first; then the editing hint folded away, the keys now the table's.
        bar = app.inbox.query_one("#filter-bar")
        await settle(pilot, lambda: not bar.has_class("-editing"))
        assert not hint.display or not hint.region.height
        assert app.focused is app.inbox.table
        assert app.inbox.table.total == await hd.views.count(
            (await hd.views.resolve("all", ana))[1].and_(querylang.parse("status:new")), ana)
        await pilot.press("backspace")  # clears the filter
        await settle(pilot, lambda: app.inbox.filter_query == "")
        assert app.inbox.table.row_count == rail_count(app, "all")


async def test_filter_bar_refuses_an_unknown_agent(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.select_view("all")
        await settle(pilot, lambda: app.inbox.view_key == "all")
        await pilot.press("slash", *"status:new assignee:me,bob", "enter")
        hint = app.inbox.query_one("#filter-hint")
        await settle(pilot, lambda: hint.has_class("-error"))
        assert "unknown agent 'bob' (agents: ana, ben; or me, none)" in str(hint.render())
        assert app.inbox.filter_query == ""  # not applied
        assert app.focused is app.inbox.query_one("#filter-input")
        app.inbox.query_one("#filter-input").value = "assignee:ben"
        await pilot.press("enter")
        await settle(pilot, lambda: app.inbox.filter_query == "assignee:ben")
        assert {r.assignee for r in app.inbox.table.window.rows} == {"Ben Okafor"}


async def test_filter_completion(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"sta")
        await pilot.pause(0.1)
        await pilot.press("tab")
        assert app.inbox.query_one("#filter-input").value == "status:"
        await pilot.press(*"on_c")
        await pilot.pause(0.1)
        await pilot.press("tab")
        assert app.inbox.query_one("#filter-input").value == "status:on_customer"


async def test_filter_builder(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.select_view("all")
        await settle(pilot, lambda: app.inbox.view_key == "all")
        await pilot.press("F")
        await pilot.pause()
        from tui_helpdesk.ui.filters import ConditionRow, FilterBuilder

        builder = app.screen
        assert isinstance(builder, FilterBuilder)
        row = builder.query_one(ConditionRow)
        row.query_one(".cond-value").value = "email, web"
        from tui_helpdesk.domain.query import Field

        row.query_one(".cond-field").value = Field.CHANNEL
        await pilot.pause()
        row.query_one(".cond-value").value = "email, web"
        await pilot.pause()
        assert builder.query_text() == "channel:email,web"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: app.inbox.filter_query == "channel:email,web")
        assert {r.channel for r in app.inbox.table.window.rows} <= {"email", "web"}


async def test_save_view_then_edit_and_delete(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.select_view("all")
        await settle(pilot, lambda: app.inbox.view_key == "all")
        app.inbox.set_filter("tag:billing")
        await settle(pilot, lambda: app.inbox.filter_query == "tag:billing")
        await pilot.press("S")
        await pilot.pause()
        await pilot.press(*"Billing [b]x[/b]", "enter")
        await settle(pilot, lambda: app.inbox.view_key.startswith("saved:"))
        saved = await hd.views.saved(ana)
        assert [v.name for v in saved] == ["Billing [b]x[/b]"]
        assert rail_count(app, app.inbox.view_key) == await hd.views.count(saved[0].spec, ana)
        assert "Billing [b]x[/b]" in screen_text(app)
        # Edit: rename.
        await pilot.press("E")
        await pilot.pause()
        name = app.screen.query_one("#view-name")
        name.value = "Billing"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: [i.name for i in app.inbox.rail.items][-1] == "Billing")
        # Delete.
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot, lambda: app.inbox.view_key == "inbox")
        assert await hd.views.saved(ana) == []


async def test_view_limits_are_explained(desk, make_app):
    hd, ana, _ = desk
    for i in range(10):
        await hd.views.save(ana, f"v{i}", "status:new")
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("S")
        await pilot.pause()
        await pilot.press(*"one more", "enter")
        await settle(pilot, lambda: any("10 personal views" in str(n.message) for n in app._notifications))
        # System views cannot be edited or deleted.
        app.inbox.select_view("inbox")
        await pilot.press("D")
        await pilot.pause()
        assert any("System views" in str(n.message) for n in app._notifications)


async def test_bulk_take_status_and_tag(desk, make_app):
    hd, ana, ben = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.select_view("unassigned")
        await settle(pilot, lambda: app.inbox.view_key == "unassigned")
        table = app.inbox.table
        ids = [r.id for r in table.window.rows[:2]]
        assert len(ids) == 2
        await pilot.press("space", "space")
        assert table.selected == set(ids)
        await pilot.press("t")
        await settle(pilot, lambda: not table.selected)
        for tid in ids:
            assert (await hd.tickets.get(tid)).assignee.login == "ana"
        # Status on a selection through the picker (digit 4 = On hold).
        app.inbox.select_view("inbox")
        await settle(pilot, lambda: app.inbox.view_key == "inbox")
        await pilot.press("space", "space", "s")
        await pilot.pause()
        picked = sorted(table.selected)
        await pilot.press("4")
        await pilot.pause(0.2)
        await pilot.press("enter")  # On hold asks why and until when; both may stay empty
        await settle(pilot, lambda: not table.selected)
        for tid in picked:
            assert (await hd.tickets.get(tid)).status is Status.ON_HOLD
        # Tags on the ticket under the cursor.
        await pilot.press("g", "plus")
        from tui_helpdesk.ui.dialogs import TagDialog

        for _ in range(100):
            if isinstance(app.screen, TagDialog):
                break
            await pilot.pause(0.05)
        target = table.current_id()
        await pilot.press(*"vip urgent", "enter")
        await settle(pilot, lambda: "vip" in [t for t in [None]] or True)
        await pilot.pause(0.3)
        assert {"vip", "urgent"} <= set((await hd.tickets.get(target)).tags)


async def test_assign_picker_and_close(desk, make_app):
    hd, ana, ben = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = app.inbox.table
        target = table.current_id()
        await pilot.press("a")
        await settle(pilot, lambda: app.screen.__class__.__name__ == "AgentPicker")
        await pilot.press(*"ben", "enter")
        await settle(pilot, lambda: target not in [r.id for r in table.window.rows])
        assert (await hd.tickets.get(target)).assignee.login == "ben"
        target = table.current_id()
        await pilot.press("c")
        await settle(pilot, lambda: target not in [r.id for r in table.window.rows])
        assert (await hd.tickets.get(target)).status is Status.CLOSED


async def test_sort_by_key_and_header(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.select_view("all")
        await settle(pilot, lambda: app.inbox.view_key == "all")
        await pilot.press("o")  # updated -> created
        await settle(pilot, lambda: app.inbox.table.sort_key.value == "created")
        created = [r.created_at for r in app.inbox.table.window.rows]
        assert created == sorted(created, reverse=True)
        await pilot.press("O")
        await settle(pilot, lambda: app.inbox.table.sort_descending is False)
        created = [r.created_at for r in app.inbox.table.window.rows]
        assert created == sorted(created)
        # Clicking the "#" header sorts by id.
        await pilot.click("#tickets", offset=(16, 0))
        await settle(pilot, lambda: app.inbox.table.sort_key.value == "id")


async def test_columns_dialog(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        assert "requester" in app.inbox.table.shown
        await pilot.press("C")
        await pilot.pause()
        await pilot.press("down", "down", "space", "ctrl+s")  # third column: requester
        await settle(pilot, lambda: "requester" not in app.inbox.table.shown)
        assert "details" in app.inbox.table.shown


async def test_availability_toggle(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot, lambda: app.inbox.status.availability == "away")
        assert (await hd.agents.get("ana")).availability is Availability.AWAY
        assert "(away)" in screen_text(app)


async def test_keymap_remaps_and_help_shows_it(tmp_path, desk, make_app):
    from dataclasses import replace

    hd, ana, _ = desk
    settings = replace(hd.settings, keys={"inbox.take": "T", "app.help": "f1"})
    app = make_app(hd, ana, settings=settings)
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        text = screen_text(app)
        assert "T" in text and "Take (assign to me)" in text and "inbox.take" in text
        await pilot.press("escape")
        target = app.inbox.table.current_id()
        app.inbox.select_view("unassigned")
        await settle(pilot, lambda: app.inbox.view_key == "unassigned")
        target = app.inbox.table.current_id()
        await pilot.press("t")  # no longer bound
        await pilot.pause(0.2)
        assert (await hd.tickets.get(target)).assignee is None
        await pilot.press("T")
        await settle(pilot, lambda: target not in [r.id for r in app.inbox.table.window.rows])
        assert (await hd.tickets.get(target)).assignee.login == "ana"


async def test_palette_switches_views_and_runs_actions(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.pause(0.2)
        await pilot.press(*"Solved")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot, lambda: app.inbox.view_key == "solved")
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Filter bu")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.screen.__class__.__name__ == "FilterBuilder"


async def test_open_ticket_with_enter(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause(0.5)
        try:
            from tui_helpdesk.ui.ticket.screen import TicketScreen  # noqa: F401
        except ImportError:
            assert any("ticket screen" in str(n.message) for n in app._notifications)
        else:
            assert type(app.screen).__name__ == "TicketScreen"
            await pilot.press("escape")
            await pilot.pause(0.3)
            assert app.screen is app.inbox
            # r opens the ticket with its composer ready for a reply.
            await pilot.press("r")
            await pilot.pause(0.6)
            assert type(app.screen).__name__ == "TicketScreen"
            composer = getattr(app.screen, "composer", None)
            if composer is not None:
                assert composer.display and getattr(composer, "mode", "reply") == "reply"


def test_apply_keymap_passes_other_screens_ids_and_flags_unknown_own_ids():
    from tui_helpdesk.ui.keymap import apply_keymap
    from tui_helpdesk.ui.keys import ALL_KEYS

    class Fake:
        keymap = None

        def set_keymap(self, keymap):
            self.keymap = keymap

    fake = Fake()
    unknown = apply_keymap(fake, {"inbox.take": "T", "ticket.reply": "R", "inbox.bogus": "x", "table.down": " "})
    assert unknown == ["inbox.bogus", "table.down"]
    assert fake.keymap == {"inbox.take": "T", "ticket.reply": "R"}
    assert all(k.id and "." in k.id for k in ALL_KEYS)
    assert len({k.id for k in ALL_KEYS}) == len(ALL_KEYS)


async def test_a_stranger_gets_a_clear_message_not_a_traceback(tmp_path, desk_template):
    from tests.desks import copy_db, make_settings

    from tui_helpdesk.ui.app import HelpdeskApp

    path = copy_db(desk_template, tmp_path / "stranger.db")
    app = HelpdeskApp(make_settings(path), login="mallory")
    messages = []
    exit_ = app.exit
    app.exit = lambda *a, **k: (messages.append(k.get("message")), exit_(*a, **k))
    async with app.run_test() as pilot:
        await pilot.pause(1.0)
    assert app.return_code == 1
    assert "not an agent of this help desk" in str(messages[0])


async def test_an_unexpected_failure_is_reported_and_the_app_keeps_running(desk, make_app):
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)

        async def broken(*args, **kwargs):
            raise RuntimeError("disk on fire [b]x[/b]")

        hd.tickets.bulk = broken
        await pilot.press("t")
        await pilot.pause(0.3)
        assert any("disk on fire [b]x[/b]" in str(n.message) for n in app._notifications)
        assert app.is_running
