"""The demo shows a working desk: replies reach its mail sink, the simulator is calm, --reset starts over."""

from __future__ import annotations

import email
from email import policy

from tui_helpdesk.adapters.chatbot.sim import Simulator
from tui_helpdesk.adapters.mail.sink import MailSink
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.cli import demo
from tui_helpdesk.domain.model import TicketType
from tui_helpdesk.settings import load

from tests.clock import Clock


async def test_a_demo_reply_is_delivered_to_the_mail_sink(tmp_path):
    sink = MailSink(tmp_path / "sent").start()
    try:
        settings = demo.with_demo_mail(load(database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"), sink)
        hd = await bootstrap(settings, upgrade=True)
        try:
            me = await hd.agents.identify("ann")
            ticket = await hd.tickets.create(subject="Where is my parcel?", body="Order 4521", type=TicketType.EMAIL,
                                             channel="email", requester_email="cy@example.com")
            await hd.tickets.reply(ticket.id, "It left the warehouse today.", actor=me)
            report = await hd.outbox.drain()
            assert report.sent == 1, report
        finally:
            await hd.close()
    finally:
        sink.stop()
    [kept] = list((tmp_path / "sent").glob("*.eml"))
    message = email.message_from_bytes(kept.read_bytes(), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == "cy@example.com"
    assert message["From"].addresses[0].addr_spec == demo.DEMO_ADDRESS
    body = message.get_body(("plain",)).get_content()
    assert "It left the warehouse today." in body and "local mail sink" in body


def test_the_demo_simulator_escalates_at_most_its_pace():
    clock = Clock(1_000_000.0)
    sim = Simulator("k", seed=5, clock=clock, escalations_per_minute=2, max_live=40)
    sim.populate(30)
    escalated = set()
    for _ in range(200):  # 200 ticks of 3 s: ten minutes
        sim.tick()
        clock.advance(3)
        escalated |= {c.id for c in sim._convs.values() if c.escalation_reason}
    assert 5 <= len(escalated) <= 2 * 10 + 2  # busy, and never more than 2 a minute
    free = Simulator("k", seed=5, clock=Clock(1_000_000.0), max_live=40)
    free.populate(30)
    for _ in range(200):
        free.tick()
    assert len({c.id for c in free._convs.values() if c.escalation_reason}) > len(escalated)


def test_reset_forgets_the_demo_desk_and_its_sent_mail(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    path = demo.demo_path()
    path.parent.mkdir(parents=True)
    for leftover in (path, path.with_name("demo.db-wal")):
        leftover.write_bytes(b"x")
    demo.sent_mail_dir().mkdir()
    (demo.sent_mail_dir() / "1.eml").write_bytes(b"x")
    demo.reset_demo(path)
    assert not path.exists() and not path.with_name("demo.db-wal").exists() and not demo.sent_mail_dir().exists()
