"""No machine ever gets an automatic answer, and none becomes a customer (SQLite and PostgreSQL)."""

from __future__ import annotations

from tui_helpdesk.adapters.store.tables import TICKET
from tui_helpdesk.adapters.store.tables_mail import MAIL_OUTBOX

from ..machine_mail import MACHINE_FORMS, PERSON_FORMS, provider_notification
from ..mail_fixtures import customer_mail
from .test_mail_sync import Desk, make_desk  # noqa: F401 - the fixture

ACK = "We got your message, ticket #{ticket_id}."


async def test_every_machine_form_is_set_aside_without_acknowledgement(db_url, make_desk):
    desk: Desk = await make_desk(db_url, acknowledge=ACK)
    raws = [build(n) for n, build in enumerate(MACHINE_FORMS.values())]
    result = await desk.deliver(*raws)
    assert result.created == [] and result.entries == 0
    assert result.set_aside + result.bounces == len(raws)
    assert await desk.count(TICKET) == 0 and await desk.count(MAIL_OUTBOX) == 0
    page = await desk.hd.mail.set_aside.page(limit=100)
    assert page.total == len(raws) and all(item.reason for item in page.items)

    # people are tickets, and get the acknowledgement
    people = [build() for build in PERSON_FORMS.values()]
    result = await desk.deliver(*people)
    assert len(result.created) == len(people)
    assert await desk.count(MAIL_OUTBOX) == len(people)
    # the weak signs a person's mail had are recorded with it
    asks = result.created[list(PERSON_FORMS).index("asks-about-bounces")]
    [message] = await desk.messages(asks)
    assert message.meta["mail"]["signs"] == ["delivery-failure subject"]


async def test_a_provider_bounce_marks_our_reply_failed(db_url, make_desk):
    desk = await make_desk(db_url, acknowledge=ACK)
    [ticket_id] = (await desk.deliver(customer_mail())).created
    me = await desk.hd.agents.identify()
    await desk.hd.tickets.reply(ticket_id, "Looking into it.", actor=me)
    reply = (await desk.outbox(ticket_id))[-1]
    result = await desk.deliver(provider_notification("bounce", reply.message_id, "dana@example.com"))
    assert result.bounces == 1 and result.created == []
    assert (await desk.hd.outbox.get(reply.id)).status == "failed"
    [event] = await desk.events(ticket_id, "delivery_failed")
    assert "dana@example.com" in event.body and "provider bounce notification" in event.meta["reason"]
    assert len(await desk.outbox(ticket_id)) == 2  # the acknowledgement and the reply: nothing new
