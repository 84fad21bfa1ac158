"""Auto-reply, bounce and list detection, bounce details, and the reply rate limiter."""

from __future__ import annotations

import email
import email.policy
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tui_helpdesk.domain.mail.compose import build_reply
from tui_helpdesk.domain.mail.loops import (
    AUTO_REPLY,
    BOUNCE,
    HUMAN,
    LIST,
    BounceRecipient,
    ReplyRateLimiter,
    classify,
)
from tui_helpdesk.domain.mail.message import parse_message
from tui_helpdesk.domain.mail.msgid import make_message_id, parse_message_id

SECRET = b"loop-test-secret-0123456789abcdef"


def corpus_dir() -> Path:
    env = os.environ.get("HELPDESK_CORPUS")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "email"


def mail(extra_headers: str = "", subject: str = "Printer broken", sender: str = "Dana <dana@example.com>",
         body: str = "Please help.") -> bytes:
    headers = f"From: {sender}\nTo: support@desk.example\nSubject: {subject}\nMessage-ID: <m1@example.com>\n"
    if extra_headers:
        headers += extra_headers.strip("\n") + "\n"
    return f"{headers}\n{body}\n".encode()


def test_plain_human_mail() -> None:
    result = classify(mail())
    assert result.kind == HUMAN and result.is_human and result.may_auto_reply


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ("Auto-Submitted: auto-replied", AUTO_REPLY),
        ("Auto-Submitted: auto-generated", AUTO_REPLY),
        ("Auto-Submitted: auto-notified; owner-email=x@example.com", AUTO_REPLY),
        ("Auto-Submitted: no", HUMAN),
        ("Auto-Submitted: No (sent by a person)", HUMAN),
        ("Precedence: bulk", LIST),
        ("Precedence: list", LIST),
        ("Precedence: junk", AUTO_REPLY),
        ("Precedence: auto_reply", AUTO_REPLY),
        ("Precedence: first-class", HUMAN),
        ("X-Autoreply: yes", AUTO_REPLY),
        ("X-Autorespond: Vacation", AUTO_REPLY),
        ("X-Auto-Response-Suppress: All", AUTO_REPLY),
        ("List-Id: Printers <printers.lists.example.com>", LIST),
        ("List-Unsubscribe: <mailto:leave@lists.example.com>", LIST),
        ("List-Post: <mailto:printers@lists.example.com>", LIST),
        ("Return-Path: <>", AUTO_REPLY),
        ("Return-Path: <dana@example.com>", HUMAN),
        ("X-Helpdesk-Ticket: 12", AUTO_REPLY),
        ("X-Failed-Recipients: gone@example.org", BOUNCE),
    ],
)
def test_header_rules(headers: str, kind: str) -> None:
    result = classify(mail(headers))
    assert result.kind == kind, result
    assert result.reason


@pytest.mark.parametrize(
    ("sender", "subject", "kind"),
    [
        ("Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "Delivery Status Notification (Failure)", BOUNCE),
        ("MAILER-DAEMON@example.com (Mail Delivery System)", "anything", BOUNCE),
        ("Postmaster <postmaster@example.com>", "Undeliverable: Printer", BOUNCE),
        ("Postmaster <postmaster@example.com>", "Question about your SPF record", HUMAN),
        ("Dana <dana@example.com>", "Automatic reply: Printer broken", AUTO_REPLY),
        ("Dana <dana@example.com>", "Out of Office: back Monday", AUTO_REPLY),
        ("Dana <dana@example.com>", "Abwesenheitsnotiz: Drucker", AUTO_REPLY),
        ("Dana <dana@example.com>", "Question about automatic replies", HUMAN),
    ],
)
def test_sender_and_subject_rules(sender: str, subject: str, kind: str) -> None:
    assert classify(mail(sender=sender, subject=subject)).kind == kind


@pytest.mark.parametrize(
    ("sender", "subject", "kind"),
    [
        ("MAILER-DAEMON <>", "Undelivered Mail Returned to Sender", BOUNCE),
        ("MAILER-DAEMON <>", "Your message", BOUNCE),
        ("Mail Delivery System <>", "Notice", AUTO_REPLY),
        ("<>", "Hello", AUTO_REPLY),
    ],
)
def test_an_empty_sender_address_is_never_a_person(sender: str, subject: str, kind: str) -> None:
    result = classify(mail(sender=sender, subject=subject))
    assert result.kind == kind and not result.may_auto_reply and result.reason


def test_null_return_path_with_failure_subject_is_a_bounce() -> None:
    assert classify(mail("Return-Path: <>", subject="Undelivered Mail Returned to Sender")).kind == BOUNCE


def test_accepts_bytes_parsed_and_stdlib_messages() -> None:
    raw = mail("Auto-Submitted: auto-replied")
    assert classify(raw).kind == AUTO_REPLY
    assert classify(parse_message(raw)).kind == AUTO_REPLY
    assert classify(email.message_from_bytes(raw, policy=email.policy.compat32)).kind == AUTO_REPLY
    assert classify(email.message_from_bytes(raw, policy=email.policy.default)).kind == AUTO_REPLY


def dsn(original: bytes, statuses: list[tuple[str, str, str]], *, enclosure: str = "message/rfc822") -> bytes:
    blocks = "\n".join(
        f"Final-Recipient: rfc822; {addr}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {status.replace('.', '')[:3]} {status} mailbox problem\n"
        for addr, action, status in statuses
    )
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\nTo: support@desk.example\n"
        b"Subject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
        b"--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
        b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        + blocks.encode()
        + f"\n--B\nContent-Type: {enclosure}\n\n".encode()
        + original
        + b"\n--B--\n"
    )


def our_reply(ticket_id: int = 77, outbox_id: int = 5) -> tuple[str, bytes]:
    msgid = make_message_id(ticket_id, outbox_id, SECRET, "desk.example")
    raw = build_reply(from_addr="support@desk.example", from_name="Support", to=["gone@example.org", "ok@example.org"],
                      subject="Re: Printer [#77]", body="Restart it.", message_id=msgid)
    return msgid, raw


@pytest.mark.parametrize("enclosure", ["message/rfc822", "text/rfc822-headers"])
def test_dsn_gives_original_id_and_failed_recipients(enclosure: str) -> None:
    msgid, raw = our_reply()
    original = raw if enclosure == "message/rfc822" else raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    result = classify(dsn(original, [("gone@example.org", "failed", "5.1.1"), ("ok@example.org", "delivered", "2.0.0")],
                          enclosure=enclosure))
    assert result.kind == BOUNCE
    assert result.original_message_id == msgid
    assert parse_message_id(result.original_message_id, SECRET) == (77, 5)
    assert result.recipients[0] == BounceRecipient("gone@example.org", "failed", "5.1.1", "smtp; 511 5.1.1 mailbox problem")
    assert [r.address for r in result.failed_recipients] == ["gone@example.org"]
    assert result.failed_recipients[0].permanent
    assert not result.may_auto_reply


def test_delayed_dsn_is_a_bounce_but_not_a_failure() -> None:
    _, raw = our_reply()
    result = classify(dsn(raw, [("gone@example.org", "delayed", "4.4.7")]))
    assert result.kind == BOUNCE
    assert result.failed_recipients == ()
    assert not result.recipients[0].permanent


def test_given_up_after_temporary_errors_is_failed_but_not_permanent() -> None:
    _, raw = our_reply()
    recipient = classify(dsn(raw, [("gone@example.org", "failed", "4.4.7")])).recipients[0]
    assert recipient.failed and not recipient.permanent


def test_text_bounce_falls_back_to_in_reply_to() -> None:
    msgid, _ = our_reply()
    raw = mail(f"In-Reply-To: {msgid}\nReturn-Path: <>", sender="MAILER-DAEMON@mx.example.org",
               subject="failure notice", body="Sorry, I couldn't deliver to <gone@example.org>. 550 5.1.1 no such user")
    result = classify(raw)
    assert result.kind == BOUNCE
    assert result.original_message_id == msgid
    assert result.recipients == (BounceRecipient("gone@example.org", "failed", "5.1.1"),)


def test_feedback_report_is_not_a_bounce() -> None:
    raw = (
        b"From: feedback@arf.example\nSubject: complaint\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=feedback-report; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nabuse\n--B\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
        b"--B\nContent-Type: message/rfc822\n\nFrom: x@desk.example\nMessage-ID: <orig@desk.example>\n\nhi\n--B--\n"
    )
    result = classify(raw)
    assert result.kind == AUTO_REPLY
    assert result.original_message_id == "<orig@desk.example>"


# --------------------------------------------------------------------------
# Real bounces from flanker's test suite


FLANKER_BOUNCES = {
    "broken-mime.eml": (None, [("info@example.net", "failed", "")]),
    "delayed-broken.eml": (None, [("demo@example.com", "failed", "4.2.2")]),
    "delayed.eml": (None, [("foo@example.com", "failed", "4.0.0")]),
    "gmail-invalid-address.eml": ("<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>",
                                  [("awfawfawfawfawfaw@someserverhere.com", "failed", "5.1.0")]),
    "gmail-no-dns.eml": (None, [("user@example.comm", "failed", "")]),
    "mailbox-full.eml": ("<4E326A95.3010907@example.com>", [("user@aol.com", "failed", "5.2.2")]),
    "no-mx.eml": ("<19E44CA63F984902B7D654F8FF40F89D@bo>", [("user@example.com", "delayed", "4.4.4")]),
    "office365.eml": ("<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>", [("noname@example.com", "failed", "5.1.10")]),
    "zed.eml": ("<20090708054735.GC7578@example.com>",
                [("asdfasdfasdfasdfasdfasdfewrqertrtyrthsfgdfgadfqeadvxzvz@gmail.com", "failed", "5.1.1")]),
}


@pytest.mark.parametrize("name", sorted(FLANKER_BOUNCES))
def test_flanker_bounces(name: str) -> None:
    path = corpus_dir() / "flanker" / "bounce" / name
    if not path.is_file():
        pytest.skip(f"mail corpus not found at {path.parent} (set HELPDESK_CORPUS to point at shared/corpus/email)")
    expected_id, expected_recipients = FLANKER_BOUNCES[name]
    result = classify(path.read_bytes())
    assert result.kind == BOUNCE, result
    assert result.original_message_id == expected_id
    assert [(r.address, r.action, r.status) for r in result.recipients] == expected_recipients


def test_mail_parser_bounce_with_rfc822_headers_part() -> None:
    path = corpus_dir() / "mail-parser" / "mail_malformed_2"
    if not path.is_file():
        pytest.skip(f"mail corpus not found at {path.parent}")
    result = classify(path.read_bytes())
    assert result.kind == BOUNCE
    assert result.original_message_id == "<004801d1fc84$01c934ac$b247f0b7$@infospacemail.com>"
    assert [(r.address, r.status) for r in result.failed_recipients] == [("abh@netpar.com.br", "4.2.2")]


# --------------------------------------------------------------------------
# Rate limiter


def test_rate_limiter_caps_per_sender_per_hour() -> None:
    limiter = ReplyRateLimiter(3)
    t0 = 1_700_000_000.0
    assert [limiter.allow("bot@example.com", t0 + i) for i in range(5)] == [True, True, True, False, False]
    assert limiter.allow("other@example.com", t0 + 5)
    assert limiter.remaining("BOT@example.com", t0 + 10) == 0
    assert not limiter.allow("<BOT@Example.com>", t0 + 3599)
    assert limiter.allow("bot@example.com", t0 + 3600.5)


def test_rate_limiter_takes_datetimes() -> None:
    limiter = ReplyRateLimiter(1)
    now = datetime(2024, 1, 2, 10, 0, tzinfo=timezone.utc)
    assert limiter.allow("a@example.com", now)
    assert not limiter.allow("a@example.com", now + timedelta(minutes=59))
    assert limiter.allow("a@example.com", now + timedelta(minutes=61))


def test_two_autoresponders_for_an_hour_do_not_storm() -> None:
    """A responder that does not mark its mail answers each of our replies at once."""
    limiter = ReplyRateLimiter(5)
    t = 0.0
    sent = 0
    while t < 3600:
        if limiter.allow("vacation@example.com", t):
            sent += 1
        t += 2.0  # their answer arrives two seconds after ours
    assert sent == 5


def test_rate_limiter_zero_never_allows() -> None:
    assert not ReplyRateLimiter(0).allow("a@example.com", 0)


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = ReplyRateLimiter(1, max_senders=100)
    for i in range(1000):
        limiter.allow(f"s{i}@example.com", float(i))
    assert len(limiter._sent) <= 100
    assert not limiter.allow("s999@example.com", 1000.0)
