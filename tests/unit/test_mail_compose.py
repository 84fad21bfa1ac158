"""Outgoing replies: MIME shape, threading headers, signatures."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui_helpdesk.domain.mail.compose import build_reply, render_signature
from tui_helpdesk.domain.mail.loops import AUTO_REPLY, classify
from tui_helpdesk.domain.mail.message import parse_message
from tui_helpdesk.domain.mail.msgid import make_message_id, reply_subject, verify_message_id

SECRET = b"compose-test-secret-0123456789ab"
WHEN = datetime(2024, 1, 2, 10, 15, tzinfo=timezone.utc)


def reply(**overrides: object) -> bytes:
    args: dict[str, object] = dict(
        from_addr="support@desk.example",
        from_name="Zoë Agent",
        to=["Dana@Example.com"],
        cc=["boss@example.com"],
        subject=reply_subject("Printer on fire", 123),
        body="Hello Dana,\n\nplease restart it.",
        message_id=make_message_id(123, 9, SECRET, "desk.example"),
        in_reply_to="<cust-2@example.com>",
        references=["<cust-1@example.com>"],
        signature="Agent Zoe\nAcme support",
        date=WHEN,
    )
    args.update(overrides)
    return build_reply(**args)  # type: ignore[arg-type]


def test_headers_and_threading() -> None:
    raw = reply()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["From"]) == "Zoë Agent <support@desk.example>"
    assert str(msg["To"]) == "Dana@Example.com"
    assert str(msg["Cc"]) == "boss@example.com"
    assert str(msg["Subject"]) == "Re: Printer on fire [#123]"
    assert msg["In-Reply-To"] == "<cust-2@example.com>"
    assert msg["References"] == "<cust-1@example.com> <cust-2@example.com>"
    assert verify_message_id(msg["Message-ID"], SECRET) == 123
    assert msg["X-Helpdesk-Ticket"] == "123"
    assert msg["Date"] == "Tue, 02 Jan 2024 10:15:00 +0000"
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Content-Transfer-Encoding"] == "7bit"
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.isascii()


def test_body_and_signature() -> None:
    msg = email.message_from_bytes(reply(), policy=email.policy.default)
    body = msg.get_content().replace("\r\n", "\n")
    assert body.startswith("Hello Dana,\n\nplease restart it.\n\n-- \n")
    assert body.rstrip().endswith("Acme support")


def test_non_ascii_body_is_quoted_printable() -> None:
    msg = email.message_from_bytes(reply(body="Grüße, der Drucker läuft."), policy=email.policy.default)
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert "Grüße, der Drucker läuft." in msg.get_content()


def test_round_trip_through_our_parser_is_recognised_as_ours() -> None:
    parsed = parse_message(reply())
    assert parsed.subject == "Re: Printer on fire [#123]"
    assert parsed.from_name == "Zoë Agent"
    assert parsed.body_text.startswith("Hello Dana,")
    assert classify(parsed).kind == AUTO_REPLY


def test_ticket_id_can_be_given_for_foreign_message_ids() -> None:
    msg = email.message_from_bytes(reply(message_id="<abc@desk.example>", ticket_id=5), policy=email.policy.default)
    assert msg["X-Helpdesk-Ticket"] == "5"


def test_header_injection_is_impossible() -> None:
    raw = reply(subject="Hi\r\nBcc: evil@example.com", from_name="Agent\nBcc: evil@example.com")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] is None
    assert "\n" not in str(msg["Subject"])


def test_escape_sequences_do_not_go_out() -> None:
    raw = reply(body="ok \x1b]0;PWNED\x07 done", signature="\x1b[2J sig")
    body = email.message_from_bytes(raw, policy=email.policy.default).get_content()
    assert "\x1b" not in body and "\x07" not in body


@pytest.mark.parametrize(
    "overrides",
    [{"to": []}, {"to": ["not an address"]}, {"from_addr": "nobody"}, {"cc": ["a@b@c"]}, {"message_id": "no-at-sign"}],
)
def test_unsendable_input_raises_value_error(overrides: dict) -> None:
    with pytest.raises(ValueError):
        reply(**overrides)


def test_broken_customer_ids_are_dropped_not_fatal() -> None:
    msg = email.message_from_bytes(reply(in_reply_to="garbage", references=["<<>>", "<ok@x.example>"]),
                                   policy=email.policy.default)
    assert msg["In-Reply-To"] is None
    assert msg["References"] == "<ok@x.example>"


def test_long_reference_chains_are_trimmed() -> None:
    refs = [f"<r{i}@example.com>" for i in range(100)]
    msg = email.message_from_bytes(reply(references=refs, in_reply_to="<r99@example.com>"), policy=email.policy.default)
    kept = msg["References"].split()
    assert len(kept) == 20 and kept[0] == "<r0@example.com>" and kept[-1] == "<r99@example.com>"


def test_internationalised_domain_goes_out_as_punycode() -> None:
    msg = email.message_from_bytes(reply(to=["kunde@bücher.example"]), policy=email.policy.default)
    assert str(msg["To"]) == "kunde@xn--bcher-kva.example"


def test_duplicate_cc_of_to_dropped() -> None:
    msg = email.message_from_bytes(reply(cc=["dana@example.com", "x@example.com"]), policy=email.policy.default)
    assert str(msg["Cc"]) == "x@example.com"


def test_automatic_mail_is_marked() -> None:
    raw = reply(auto_submitted="auto-replied", signature=None)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert classify(raw).kind == AUTO_REPLY
    assert email.message_from_bytes(reply(), policy=email.policy.default)["Auto-Submitted"] is None
    with pytest.raises(ValueError):
        reply(auto_submitted="yes please")


def test_no_signature() -> None:
    body = email.message_from_bytes(reply(signature=None), policy=email.policy.default).get_content()
    assert "-- " not in body


# --------------------------------------------------------------------------
# Signatures


def test_render_signature_placeholders() -> None:
    template = "{agent_name} ({agent_first_name})\n{agent_email}\n{{ desk_name }} | {unknown} {0} {agent_name.__class__} {"
    assert render_signature(template, "Zoë Agent", "zoe@desk.example", "Acme") == (
        "Zoë Agent (Zoë)\nzoe@desk.example\nAcme | {unknown} {0} {agent_name.__class__} {"
    )


@pytest.mark.parametrize("template", [None, "", "}{", "{{{", "{agent_name", "%s %(x)s", "{!r}", "{:>{width}}"])
def test_render_signature_never_raises(template: str | None) -> None:
    render_signature(template, None, None, None)


def test_render_signature_cleans_values() -> None:
    out = render_signature("{agent_name}", "Eve\x1b]0;x\x07\nBcc: y", "e@x", "d")
    assert "\x1b" not in out and "\n" not in out


@given(st.text(max_size=200), st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_property_render_signature_never_raises(template: str, name: str, addr: str, desk: str) -> None:
    render_signature(template, name, addr, desk)
