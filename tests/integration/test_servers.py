"""Proof that the real test servers in tests/servers/ work.

Each server is started for this module, reached with the same client libraries
the application uses (asyncpg / SQLAlchemy, imapclient, aiosmtplib), and each
SMTP failure mode is observed from the client side.
"""

from __future__ import annotations

import os
import time
from email.message import EmailMessage

import pytest

from .. import servers
from ..servers import DovecotServer, PostgresServer, SmtpServer, require


@pytest.fixture(scope="module")
def pg():
    require("postgres")
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def imap():
    require("dovecot")
    with DovecotServer() as server:
        yield server


@pytest.fixture
def smtp():
    require("smtp")
    with SmtpServer(users={"support": "secret"}) as server:
        yield server


def _mail(to: str | list[str] = "customer@example.com", subject: str = "Hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "support@helpdesk.test"
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    message["Subject"] = subject
    message.set_content("Body of the mail.\n")
    return message


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
async def test_postgres_fresh_databases_are_separate(pg: PostgresServer) -> None:
    import asyncpg

    first, second = pg.create_database(), pg.create_database()
    assert first != second
    conn = await asyncpg.connect(pg.dsn(first))
    try:
        await conn.execute("CREATE TABLE ticket (id serial PRIMARY KEY, subject text NOT NULL)")
        await conn.execute("INSERT INTO ticket (subject) VALUES ($1)", "printer on fire")
        assert await conn.fetchval("SELECT subject FROM ticket") == "printer on fire"
        assert await conn.fetchval("SHOW fsync") == "off"
    finally:
        await conn.close()
    conn = await asyncpg.connect(pg.dsn(second))
    try:
        assert await conn.fetchval("SELECT to_regclass('ticket')") is None
    finally:
        await conn.close()
    pg.drop_database(first)
    assert pg.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{first}'").strip() == "0"


@pytest.mark.postgres
async def test_postgres_url_works_with_sqlalchemy(pg: PostgresServer) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    url = pg.url(pg.create_database())
    assert url.startswith(f"postgresql+asyncpg://helpdesk@127.0.0.1:{pg.port}/")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT current_user"))).scalar() == "helpdesk"
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- Dovecot


def test_dovecot_append_and_fetch(imap: DovecotServer) -> None:
    raw = _mail(subject="Append me").as_bytes()
    uid = imap.append("support", "INBOX", raw)
    assert uid is not None
    fetched = dict(imap.messages("support", "INBOX"))
    assert fetched[uid].replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    with imap.client("support") as client:
        assert b"CONDSTORE" in client.capabilities()
        client.select_folder("INBOX")
        assert uid in client.search(["SUBJECT", "Append me"])


def test_dovecot_users_and_mailboxes_are_separate(imap: DovecotServer) -> None:
    imap.add_user("billing", "pw2")
    uid = imap.append("billing", "Archive", _mail(subject="Invoice").as_bytes())
    assert uid == 1
    assert [m[0] for m in imap.messages("billing", "Archive")] == [1]
    assert imap.messages("support", "Archive") == []


def test_dovecot_idle_sees_new_mail_and_survives_restart(imap: DovecotServer) -> None:
    from imapclient.exceptions import IMAPClientError

    client = imap.client("support", timeout=5)
    client.select_folder("INBOX")
    client.idle()
    imap.append("support", "INBOX", _mail(subject="During IDLE").as_bytes())
    responses = client.idle_check(timeout=3)
    assert any(r[1] == b"EXISTS" for r in responses if len(r) > 1), responses

    imap.restart()
    # the old connection is gone: the client notices at once instead of hanging
    started = time.monotonic()
    assert client.idle_check(timeout=3) == []  # imapclient swallows the EOF here
    assert time.monotonic() - started < 2
    with pytest.raises((IMAPClientError, OSError)):
        client.idle_done()
    # same port, same mail after the restart
    subjects = [raw for _uid, raw in imap.messages("support")]
    assert any(b"During IDLE" in raw for raw in subjects)


# ---------------------------------------------------------------- SMTP


async def _send(server: SmtpServer, message: EmailMessage, **kwargs):
    import aiosmtplib

    kwargs.setdefault("timeout", 5)
    return await aiosmtplib.send(message, hostname=server.host, port=server.port,
                                 start_tls=False, **kwargs)


async def test_smtp_accepts_and_stores(smtp: SmtpServer) -> None:
    errors, _reply = await _send(smtp, _mail(subject="One"), username="support", password="secret")
    assert errors == {}
    [received] = smtp.wait_for(1)
    assert received.mail_from == "support@helpdesk.test"
    assert received.rcpt_tos == ["customer@example.com"]
    assert received.login == "support"
    assert received.message["Subject"] == "One"
    assert b"Body of the mail." in received.data


async def test_smtp_wrong_password_is_refused(smtp: SmtpServer) -> None:
    import aiosmtplib

    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await _send(smtp, _mail(), username="support", password="wrong")
    assert smtp.received == []


async def test_smtp_421_for_next_messages_then_accepts(smtp: SmtpServer) -> None:
    import aiosmtplib

    smtp.fail_next(2)
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPResponseException) as info:
            await _send(smtp, _mail())
        assert info.value.code == 421
    await _send(smtp, _mail(subject="third time"))
    assert [m.message["Subject"] for m in smtp.received] == ["third time"]
    assert smtp.attempts == 3


async def test_smtp_550_for_a_recipient(smtp: SmtpServer) -> None:
    import aiosmtplib

    smtp.reject_recipient("Gone@Example.com")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
        await _send(smtp, _mail("gone@example.com"))
    assert [r.code for r in info.value.recipients] == [550]
    assert smtp.received == []


async def test_smtp_450_partial_refusal(smtp: SmtpServer) -> None:
    smtp.defer_recipient("busy@example.com")
    errors, _reply = await _send(smtp, _mail(["busy@example.com", "ok@example.com"]))
    assert errors["busy@example.com"].code == 450
    [received] = smtp.received
    assert received.rcpt_tos == ["ok@example.com"]


async def test_smtp_stall_after_data_times_out_then_accept_all(smtp: SmtpServer) -> None:
    import aiosmtplib

    smtp.stall_next(5)
    started = time.monotonic()
    with pytest.raises(aiosmtplib.SMTPTimeoutError):
        await _send(smtp, _mail(subject="stalled"), timeout=0.5)
    assert time.monotonic() - started < 3
    smtp.fail_next(1)
    smtp.accept_all()
    await _send(smtp, _mail(subject="after"))
    assert [m.message["Subject"] for m in smtp.received] == ["after"]


# ---------------------------------------------------------------- require()


def test_require_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers.missing, "postgres_bin_dir", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="MISSING TEST SERVER"):
        require("postgres")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require("postgres")
    assert os.environ["CI"] == "true"
    require("smtp")  # present: no skip, no failure
