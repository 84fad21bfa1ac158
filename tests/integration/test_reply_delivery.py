"""Replies tell the truth: a reply the channel cannot carry is refused, the CLI says how far a reply got,
and ``helpdesk sync --once`` posts queued chat replies."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from tui_helpdesk import settings as settings_mod
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.cli.sync import sync
from tui_helpdesk.domain.errors import HelpdeskError
from tui_helpdesk.domain.model import EntryKind, Status, TicketType

from ..chat_fixtures import chat_settings
from .test_cli import Cli

CONFIGURED = """\
[[desks]]
slug = "support"
name = "Support"

[[desks.email]]
address = "support@example.com"
"""


def _email_ticket(cli: Cli, config: str | None = None) -> int:
    """A database with an email ticket (#1) from ann@example.com, in On you."""
    cli.run("db", "upgrade")

    async def make() -> int:
        url = f"sqlite+aiosqlite:///{cli.db}"
        loaded = settings_mod.load(config, database_url=url)
        hd = await bootstrap(loaded)
        try:
            me = await hd.agents.identify()
            ticket = await hd.tickets.create(subject="Refund", body="I was charged twice.", type=TicketType.EMAIL,
                                             channel="email", requester_email="ann@example.com")
            await hd.tickets.set_status(ticket.id, Status.ON_YOU, actor=me)
            return ticket.id
        finally:
            await hd.close()

    return asyncio.run(make())


def test_reply_on_a_desk_without_a_support_address_is_refused(tmp_path):
    cli = Cli(tmp_path)
    tid = _email_ticket(cli)
    before = cli.json("ticket", "show", str(tid))
    line = cli.error("ticket", "reply", str(tid), "--body", "Refund issued.", code=1)
    assert line == f"helpdesk: error: reply not sent on #{tid}: no support address is configured for this desk"
    after = cli.json("ticket", "show", str(tid))
    assert after["status"] == "on_you" == before["status"]
    assert [e["kind"] for e in after["timeline"]] == [e["kind"] for e in before["timeline"]]
    assert "reply" not in [e["kind"] for e in after["timeline"]]


def test_reply_json_carries_the_delivery_state(tmp_path):
    cli = Cli(tmp_path)
    config = tmp_path / "helpdesk.toml"
    config.write_text(CONFIGURED)
    tid = _email_ticket(cli, str(config))
    reply = cli.json("--config", str(config), "ticket", "reply", str(tid), "--body", "Refund issued.")
    assert reply["status"] == "on_customer" and reply["entry"]["kind"] == "reply"
    assert reply["delivery"]["state"] == "queued"
    text = cli.run("--config", str(config), "ticket", "reply", str(tid), "--body", "And the receipt.").stdout
    assert text == f"replied on #{tid}; status On customer; reply queued\n"


@pytest.mark.desk("chat")
@pytest.mark.sim(seed=2, rate_limit=100_000)
async def test_a_known_ended_chat_refuses_the_reply(desk, sim):
    me = await desk.agents.identify()
    conv = sim.add_conversation("Alice Johnson", text="Hi, where is my order?")
    await desk.conversations.poll_once()
    tid = await desk.conversations.takeover(conv, me)
    sim.end(conv)
    await desk.conversations.poll_once()  # the help desk now knows the chat has ended
    before = await desk.tickets.get(tid)
    with pytest.raises(HelpdeskError, match="the customer's chat has ended"):
        await desk.tickets.reply(tid, "Are you still there?", actor=me)
    assert (await desk.tickets.get(tid)).status is before.status
    assert not [e for e in await desk.tickets.timeline(tid) if e.kind is EntryKind.REPLY]


@pytest.mark.desk("chat")
@pytest.mark.sim(seed=2, rate_limit=100_000)
async def test_sync_once_posts_queued_chat_replies(desk, sim, sqlite_url, capsys):
    me = await desk.agents.identify()
    conv = sim.add_conversation("Alice Johnson", text="Hi, where is my order?")
    await desk.conversations.poll_once()
    tid = await desk.conversations.takeover(conv, me)
    await desk.tickets.reply(tid, "On its way!", actor=me)  # as `helpdesk ticket reply` does: no poller runs

    args = argparse.Namespace(status=False, once=True, no_receive=False, no_send=False, quiet=True, json=False)
    assert await sync(args, lambda _args: chat_settings(sqlite_url, sim.base_url)) == 0
    posted = [m["text"] for m in sim.snapshot(conv)["messages"] if m["role"] == "human_agent"]
    assert posted == ["On its way!"]
    assert "chat outbox" in capsys.readouterr().out
    assert await desk.chat_outbox.pending(tid) == []
