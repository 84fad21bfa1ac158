"""Defects a new user and a power user tripped over in the inbox, each pinned by a test."""

from __future__ import annotations

from tui_helpdesk.domain.model import Status, TicketType

from ui_support import settle, until


async def email_tickets(hd, prefix: str, n: int = 3) -> None:
    for i in range(n):
        await hd.tickets.create(subject=f"{prefix} {i}", body="x", requester_email=f"{prefix.lower()}{i}@example.com",
                                channel="email", type=TicketType.EMAIL)


async def all_view_order(app, pilot) -> list[int]:
    """The All view, its first three rows (or more) in, and their ids in order."""
    app.inbox.select_view("all")
    await settle(pilot, lambda: app.inbox.view_key == "all" and app.inbox.table.row_count >= 3)
    return [r.id for r in app.inbox.table.rows]


def showing(app, ticket_id: int):
    return lambda: getattr(app.screen, "ticket_id", None) == ticket_id



async def test_filter_builder_add_button_adds_a_condition(desk, make_app):
    """F, Tab to "+ Condition", Enter: a second condition row with its field focused, no crash."""
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("F")
        await pilot.pause(0.2)
        from tui_helpdesk.ui.filters import ConditionRow, FilterBuilder

        assert isinstance(app.screen, FilterBuilder)
        app.screen.query_one("#add").focus()
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.is_running
        rows = list(app.screen.query(ConditionRow))
        assert len(rows) == 2
        assert app.focused is rows[-1].query_one(".cond-field")
        # the same through the key tabbed to from the first row, as a user does it
        for _ in range(4):
            await pilot.press("tab")
            if app.focused is app.screen.query_one("#add"):
                break
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.is_running and len(list(app.screen.query(ConditionRow))) == 3


async def test_palette_number_opens_that_ticket_not_fuzzy_digits(desk, make_app):
    """':' 242 enter opens #242, not a loaded ticket whose subject holds the digits 2, 4, 2."""
    hd, ana, _ = desk
    # The target is closed, so it is not among the rows the All view loads.
    target = await hd.tickets.create(subject="Closed long ago", body="x", requester_email="t@example.com",
                                     channel="email", type=TicketType.EMAIL)
    await hd.tickets.set_status(target.id, "closed", actor=ana)
    digits = str(target.id)
    decoy = await hd.tickets.create(subject=f"El paquete 7{digits[0]}6{digits[1:]}9 no llega", body="?",
                                    requester_email="decoy@example.com", channel="email", type=TicketType.EMAIL)
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.select_view("all")
        await settle(pilot, lambda: app.inbox.view_key == "all")
        assert decoy.id in [r.id for r in app.inbox.table.window.rows]
        assert target.id not in [r.id for r in app.inbox.table.window.rows]
        await pilot.press("colon")
        await pilot.pause(0.2)
        await pilot.press(*digits)
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot, lambda: type(app.screen).__name__ == "TicketScreen")
        assert app.screen.ticket_id == target.id


async def test_taking_one_ticket_is_logged_as_taken_not_as_a_bulk_assignment(desk):
    hd, ana, ben = desk
    one = await hd.tickets.create(subject="Mine now", body="x", requester_email="m@example.com",
                                  channel="email", type=TicketType.EMAIL)
    two = await hd.tickets.create(subject="And this", body="y", requester_email="n@example.com",
                                  channel="email", type=TicketType.EMAIL)
    three = await hd.tickets.create(subject="And that", body="z", requester_email="o@example.com",
                                    channel="email", type=TicketType.EMAIL)
    await hd.tickets.bulk([one.id], actor=ana, assignee="ana")
    assert (await hd.tickets.timeline(one.id))[-1].body == "Taken by Ana Lima"
    await hd.tickets.bulk([two.id, three.id], actor=ana, assignee="ben")
    assert (await hd.tickets.timeline(two.id))[-1].body == "Assigned to Ben Okafor by Ana Lima (bulk)"


async def test_a_ticket_i_take_myself_is_not_new_in_my_inbox(desk, make_app):
    """A chat taken over: the system creates the ticket and I assign it, in one batch of the feed."""
    hd, ana, ben = desk
    app = make_app(hd, ana, poll_seconds=3600)  # the test hands the batch over itself
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await settle(pilot)
        seq = await hd.feed.latest()
        taken = await hd.tickets.create(subject="Chat with Mia", body="hello", requester_email="mia@example.com",
                                        channel="web", type=TicketType.API)
        await hd.tickets.assign(taken.id, "ana", actor=ana)
        given = await hd.tickets.create(subject="From Ben", body="hi", requester_email="zoe@example.com",
                                        channel="email", type=TicketType.EMAIL)
        await hd.tickets.assign(given.id, "ana", actor=ben)
        changes, _ = await hd.feed.since(seq)
        await app.apply_changes(changes)
        await pilot.pause(0.1)
        news = [str(n.message) for n in app._notifications if n.title == "New in your Inbox"]
        assert news == [f"#{given.id} From Ben"]


async def test_ctrl_p_opens_the_palette_as_the_readme_says(desk, make_app):
    """Binding ':' to the palette made Textual drop its own ctrl+p; both open it."""
    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        for key in ("ctrl+p", "colon"):
            await pilot.press(key)
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "CommandPalette", key
            await pilot.press("escape")
            await pilot.pause(0.2)
            assert app.screen is app.inbox


async def test_the_single_ticket_status_picker_moves_with_j_k_and_jumps_by_letters(desk, make_app):
    hd, ana, _ = desk
    ticket = await hd.tickets.create(subject="Pick me", body="x", requester_email="p@example.com",
                                     channel="email", type=TicketType.EMAIL)
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.open_ticket_soon(ticket.id)
        await settle(pilot, lambda: type(app.screen).__name__ == "TicketScreen")
        await pilot.press("s")
        await pilot.pause(0.2)
        from tui_helpdesk.ui.dialogs import StatusPicker
        from tui_helpdesk.domain.model import Status

        picker = app.screen
        assert isinstance(picker, StatusPicker)
        statuses = list(Status)
        assert statuses[picker.options.highlighted] is Status.NEW
        await pilot.press("j", "j")
        assert statuses[picker.options.highlighted] is Status.ON_CUSTOMER
        await pilot.press("k")
        assert statuses[picker.options.highlighted] is Status.ON_YOU
        await pilot.press("c")  # Closed, then Cancelled on a second c
        assert statuses[picker.options.highlighted] is Status.CLOSED
        await pilot.pause(1.1)
        await pilot.press("c")
        assert statuses[picker.options.highlighted] is Status.CANCELLED
        await pilot.pause(1.1)
        await pilot.press("o")  # from the last, round to the first "On …"
        assert statuses[picker.options.highlighted] is Status.ON_YOU
        await pilot.press("o", "o")  # the same letter again steps through the "On …" ones
        assert statuses[picker.options.highlighted] is Status.ON_HOLD
        await pilot.pause(1.1)
        await pilot.press("n", "e")  # letters typed together spell a prefix
        assert statuses[picker.options.highlighted] is Status.NEW
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "TicketScreen"


async def test_J_and_K_walk_the_view_from_the_ticket_screen_and_q_goes_back(desk, make_app):
    hd, ana, _ = desk
    await email_tickets(hd, "Walk")
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        order = await all_view_order(app, pilot)
        await pilot.press("enter")
        await settle(pilot, showing(app, order[0]))
        await pilot.press("J")
        await settle(pilot, showing(app, order[1]))
        await pilot.press("J")
        await settle(pilot, showing(app, order[2]))
        await pilot.press("K")
        await settle(pilot, showing(app, order[1]))
        assert app.screen_stack[-2:] == [app.inbox, app.screen]  # one ticket screen at a time
        await pilot.press("q")
        await settle(pilot, lambda: app.screen is app.inbox)
        assert app.inbox.table.current_id() == order[1]
        await pilot.press("k", "enter")
        await settle(pilot, showing(app, order[0]))
        await pilot.press("K")  # the first: it stays, and says so
        await pilot.pause(0.3)
        assert app.screen.ticket_id == order[0] and app.screen_stack[-2] is app.inbox


async def test_after_closing_a_ticket_J_opens_the_one_that_took_its_place(desk, make_app):
    hd, ana, _ = desk
    await email_tickets(hd, "Queue")
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        order = await all_view_order(app, pilot)
        await pilot.press("j", "enter")
        await settle(pilot, showing(app, order[1]))
        await hd.tickets.set_status(order[1], "closed", actor=ana)
        await settle(pilot, lambda: order[1] not in [r.id for r in app.inbox.table.rows])
        await pilot.press("J")
        await settle(pilot, showing(app, order[2]))


async def test_tags_are_removed_and_completed_from_the_ticket_screen_and_the_inbox(desk, make_app):
    hd, ana, _ = desk
    other = await hd.tickets.create(subject="Tagged before", body="x", requester_email="t1@example.com",
                                    channel="email", type=TicketType.EMAIL, tags=["refund", "vip"])
    ticket = await hd.tickets.create(subject="Tag me", body="x", requester_email="t2@example.com",
                                     channel="email", type=TicketType.EMAIL, tags=["vip", "spam"])
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.open_ticket_soon(ticket.id)
        await settle(pilot, lambda: getattr(app.screen, "ticket_id", None) == ticket.id and app.screen.loaded)
        await pilot.press("plus")
        from tui_helpdesk.ui.dialogs import TagDialog

        await until(pilot, lambda: isinstance(app.screen, TagDialog))
        await pilot.press(*"-sp")
        await pilot.pause(0.2)
        await pilot.press("right")  # accept the completion: -spam (a current tag)
        await pilot.press("space", *"re")
        await pilot.pause(0.2)
        await pilot.press("right")  # refund, known from the other ticket
        assert app.screen.query_one("#tags").value == "-spam refund"
        await pilot.press("enter")
        await settle(pilot, lambda: type(app.screen).__name__ == "TicketScreen")
        await pilot.pause(0.3)
        assert (await hd.tickets.get(ticket.id)).tags == ("refund", "vip")
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is app.inbox)
        app.inbox.select_view("all")
        await settle(pilot, lambda: app.inbox.view_key == "all" and other.id in [r.id for r in app.inbox.table.rows])
        ids = [r.id for r in app.inbox.table.rows]
        app.inbox.table.move_cursor(ids.index(other.id))
        await pilot.press("plus")
        await until(pilot, lambda: isinstance(app.screen, TagDialog))
        await pilot.press(*"-vip")
        await pilot.press("enter")
        await settle(pilot, lambda: app.screen is app.inbox)
        await pilot.pause(0.3)
        assert (await hd.tickets.get(other.id)).tags == ("refund",)


async def test_u_undoes_a_close_and_a_bulk_take_but_never_a_teammates_later_change(desk, make_app):
    hd, ana, ben = desk
    tickets = [await hd.tickets.create(subject=f"Undo {n}", body="x", requester_email=f"u{n}@example.com",
                                       channel="email", type=TicketType.EMAIL) for n in range(2)]
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.inbox.select_view("unassigned")
        await settle(pilot, lambda: app.inbox.view_key == "unassigned")
        table = app.inbox.table
        first = table.current_id()
        before = await hd.tickets.get(first)
        await pilot.press("c")
        await settle(pilot, lambda: first not in [r.id for r in table.rows])
        assert (await hd.tickets.get(first)).status is Status.CLOSED
        await pilot.press("u")
        await settle(pilot, lambda: first in [r.id for r in table.rows])
        undone = await hd.tickets.get(first)
        assert undone.status is before.status
        assert "undo" in (await hd.tickets.timeline(first))[-1].body

        # Two taken at once; Ben reassigns one before Ana undoes: only the other goes back.
        ids = [r.id for r in table.rows[:2]]
        await pilot.press("space", "space", "t")
        await settle(pilot, lambda: not table.selected)
        await hd.tickets.assign(ids[1], "ben", actor=ben)
        notes: list[str] = []
        original = app.notify
        app.notify = lambda message, **kw: (notes.append(str(message)), original(message, **kw))[1]
        await pilot.press("u")
        await settle(pilot, lambda: any("not undone" in n for n in notes))
        assert (await hd.tickets.get(ids[0])).assignee is None
        assert (await hd.tickets.get(ids[1])).assignee.login == "ben"
        assert any(f"#{ids[1]}: changed by Ben Okafor meanwhile" in n for n in notes)
        await pilot.press("u")  # once only
        await settle(pilot, lambda: any("Nothing to undo" in n for n in notes))


async def test_a_new_ticket_in_my_inbox_rings_and_notifies_when_asked_never_with_raw_text(desk, make_app):
    from dataclasses import replace

    hd, ana, ben = desk
    app = make_app(hd, ana, settings=replace(hd.settings, bell=True, desktop_notifications="osc777"))
    quiet = make_app(hd, ana)  # the default: neither
    written: list[str] = []
    rang: list[bool] = []
    for each in (app, quiet):
        each.write_terminal = written.append
        each.bell = lambda: rang.append(True)
    async with quiet.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        ticket = await hd.tickets.create(subject="Quiet one", body="x", requester_email="q@example.com",
                                         channel="email", type=TicketType.EMAIL)
        await hd.tickets.assign(ticket.id, "ana", actor=ben)
        await settle(pilot, lambda: any("Quiet one" in str(n.message) for n in quiet._notifications))
    assert written == [] and rang == []
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        ticket = await hd.tickets.create(subject="Refund \x1b]0;PWNED\x07; now\x9c", body="x",
                                         requester_email="r@example.com", channel="email", type=TicketType.EMAIL)
        await hd.tickets.assign(ticket.id, "ana", actor=ben)
        await settle(pilot, lambda: bool(written))
    assert rang == [True]
    assert written == [f"\x1b]777;notify;New in your Inbox;#{ticket.id} Refund , now\x07"]


async def test_an_empty_inbox_and_a_new_desk_say_what_to_do(desk, make_app, tmp_path):
    from tests.desks import make_settings
    from tui_helpdesk.bootstrap import bootstrap
    from ui_support import screen_text

    hd, ana, _ = desk
    app = make_app(hd, ana)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"xylophonequokka", "enter")
        await settle(pilot, lambda: app.inbox.table.row_count == 0)
        assert "No ticket here matches xylophonequokka" in screen_text(app)
        await pilot.press("backspace")
        await settle(pilot, lambda: app.inbox.table.row_count > 0 or app.inbox.filter_query == "")

    fresh = await bootstrap(make_settings(tmp_path / "new.db"), upgrade=True)
    try:
        me = await fresh.agents.identify("newbie")
        app = make_app(fresh, me)
        async with app.run_test(size=(140, 40)) as pilot:
            await settle(pilot)
            text = screen_text(app)
            assert "A new help desk: no tickets yet" in text
            assert "helpdesk agent add LOGIN" in text and "helpdesk demo" in text
            await fresh.tickets.create(subject="First!", body="x", requester_email="f@example.com",
                                       channel="email", type=TicketType.EMAIL)
            await settle(pilot, lambda: app.inbox.rail.item("all").count == 1)
            await settle(pilot, lambda: "Your Inbox is empty" in screen_text(app))
            assert "Unassigned holds the ones nobody has yet" in screen_text(app)
            app.inbox.select_view("unassigned")
            await settle(pilot, lambda: app.inbox.table.row_count == 1)
            assert "Your Inbox is empty" not in screen_text(app)
    finally:
        await fresh.close()
