"""Desk settings and mail: the settings' "test connection", and mail routed by the stored settings."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from tui_helpdesk.adapters.mail.imap import prepare
from tui_helpdesk.adapters.store.tables import TICKET
from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.domain.desk_config import desk_doc
from tui_helpdesk.domain.model import EntryKind
from tui_helpdesk.settings import load

from ..clock import Clock
from ..mail_fixtures import IMAP_PASSWORD_ENV, SUPPORT, customer_mail, fetched, write_config
from ..servers import DovecotServer, require


@pytest.fixture(scope="module")
def imap():
    require("dovecot")
    with DovecotServer() as server:
        yield server


async def test_test_connection_logs_in_with_this_processes_password(imap, tmp_path, sqlite_url, monkeypatch):
    config = write_config(tmp_path / "config.toml", database_url=sqlite_url, imap_port=imap.port)
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "secret")
    hd = await bootstrap(load(str(config)))
    try:
        results = {what: (ok, detail) for what, ok, detail in await hd.test_mail_connection(SUPPORT)}
        assert results["imap"][0] is True and "mailbox 'INBOX' found" in results["imap"][1]
        assert results["smtp"] == (False, "no SMTP host")
        monkeypatch.setenv(IMAP_PASSWORD_ENV, "wrong")
        results = {what: (ok, detail) for what, ok, detail in await hd.test_mail_connection(SUPPORT)}
        assert results["imap"][0] is False and "wrong" not in results["imap"][1]
    finally:
        await hd.close()


async def test_mail_goes_to_whoever_is_on_shift_with_its_reason(tmp_path, sqlite_url):
    # Monday 2026-11-23 10:00 UTC: Lisbon's day shift is on, Tokyo's night shift (22:00-06:00 JST) is not.
    clock = Clock(datetime(2026, 11, 23, 10, 0))
    config = write_config(tmp_path / "config.toml", database_url=sqlite_url, assignment="balanced")
    hd = await bootstrap(load(str(config)), clock=clock)
    try:
        me = await hd.agents.identify("boss")
        await hd.agents.set(me, "boss", availability="away")
        for login in ("lia", "kenji"):
            await hd.agents.add(me, login, name=login.title())
        state = await hd.desk_settings.get()
        doc = desk_doc(state.config)
        doc["scheduling"] = {"shifts": [
            {"name": "lisbon", "timezone": "Europe/Lisbon", "hours": {"mon": "09:00-17:00"}},
            {"name": "tokyo", "timezone": "Asia/Tokyo", "hours": {"mon": "22:00-06:00"}},
        ]}
        await hd.desk_settings.save(me, doc, expected_version=state.version)
        await hd.desk_settings.set_schedule(me, "lia", shift="lisbon")
        await hd.desk_settings.set_schedule(me, "kenji", shift="tokyo")
        address = hd.mail.addresses[0]
        await hd.mail.ingest(address, "INBOX", 1, prepare(fetched([customer_mail(message_id="<m1@example.com>")])))
        async with hd.store.read() as tx:
            assert await tx.waiting_unassigned(1, ["new", "on_you"], 10) == []  # it was assigned
            ticket_id = (await tx.conn.execute(select(TICKET.c.id))).scalar_one()
        ticket = await hd.tickets.get(ticket_id)
        assert ticket.assignee.login == "lia"
        events = [e.body for e in await hd.tickets.timeline(ticket_id) if e.kind is EntryKind.EVENT]
        assert events[-1] == "Assigned to Lia automatically (balanced: 0 open, least among 1 on shift)"
        explanation = await hd.assignment.explain(ticket_id)
        why = {login: reason for login, _, reason in explanation.agents}
        assert why["kenji"].startswith("off shift 'tokyo', next Mon 22:00")
    finally:
        await hd.close()
