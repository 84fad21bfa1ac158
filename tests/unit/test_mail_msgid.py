"""Signed Message-IDs and subject tags."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui_helpdesk.domain.mail.msgid import (
    MessageIdInfo,
    find_subject_tag,
    make_message_id,
    parse_message_id,
    reply_subject,
    subject_tag,
    ticket_from_headers,
    verify_message_id,
)

SECRET = b"0123456789abcdef0123456789abcdef"
OTHER_SECRET = b"fedcba9876543210fedcba9876543210"

ids = st.integers(min_value=0, max_value=10**18 - 1)
secrets = st.binary(min_size=1, max_size=64)


def test_shape_and_round_trip() -> None:
    msgid = make_message_id(123, 456, SECRET, "desk.example.com")
    assert msgid.startswith("<t123.o456.") and msgid.endswith("@desk.example.com>")
    mac = msgid[len("<t123.o456."):].split("@")[0]
    assert len(mac) == 10
    assert verify_message_id(msgid, SECRET) == 123
    assert parse_message_id(msgid, SECRET) == MessageIdInfo(123, 456)


def test_stable_for_retries() -> None:
    assert make_message_id(1, 2, SECRET, "d.example") == make_message_id(1, 2, SECRET, "d.example")


def test_accepts_without_brackets_whitespace_and_case() -> None:
    msgid = make_message_id(7, 8, SECRET, "d.example")
    assert verify_message_id(" " + msgid.strip("<>") + " ", SECRET) == 7
    assert verify_message_id(msgid.upper(), SECRET) == 7


def test_domain_is_not_bound() -> None:
    msgid = make_message_id(7, 8, SECRET, "old.example")
    assert verify_message_id(msgid.replace("old.example", "new.example"), SECRET) == 7


def test_internationalised_domain() -> None:
    msgid = make_message_id(7, 8, SECRET, "bücher.example")
    assert msgid.endswith("@xn--bcher-kva.example>")
    assert verify_message_id(msgid, SECRET) == 7


def test_wrong_secret_rejected() -> None:
    assert verify_message_id(make_message_id(7, 8, SECRET, "d.example"), OTHER_SECRET) is None


def test_forged_ticket_number_rejected() -> None:
    msgid = make_message_id(7, 8, SECRET, "d.example")
    assert verify_message_id(msgid.replace("<t7.", "<t8."), SECRET) is None
    assert verify_message_id(msgid.replace(".o8.", ".o9."), SECRET) is None
    assert verify_message_id(msgid.replace("<t7.", "<t07."), SECRET) is None


def test_every_single_character_change_of_the_mac_rejected() -> None:
    msgid = make_message_id(42, 1, SECRET, "d.example")
    start = msgid.index(".o1.") + 4
    for pos in range(start, start + 10):
        for ch in "abcdefghijklmnopqrstuvwxyz234567":
            if ch == msgid[pos]:
                continue
            forged = msgid[:pos] + ch + msgid[pos + 1:]
            assert verify_message_id(forged, SECRET) is None


@pytest.mark.parametrize(
    "value",
    [None, 123, b"<t1.o1.aaaaaaaaaa@x>", "", "<>", "<t1.o1@x>", "<t1.o1.aaaaaaaaaa@x>", "t1.o1.aaaaaaaaaa",
     "<t1.o1.aaaaaaaaaaa@x>", "<t99999999999999999999.o1.aaaaaaaaaa@x>", "<abc@example.com>", "\x1b]0;x\x07"],
)
def test_garbage_is_none_not_an_error(value: object) -> None:
    assert verify_message_id(value, SECRET) is None


def test_empty_secret_verifies_nothing() -> None:
    assert verify_message_id(make_message_id(1, 1, SECRET, "d.example"), b"") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [((-1, 1, SECRET, "d.example"), "ticket_id"), ((1, True, SECRET, "d.example"), "outbox_id"),
     ((1, 1, b"", "d.example"), "secret"), ((1, 1, SECRET, "bad domain"), "Message-ID domain"),
     ((1, 1, SECRET, "x@y"), "Message-ID domain"), ((1, 1, SECRET, "d.example>\r\nBcc: x"), "Message-ID domain")],
)
def test_bad_arguments_raise(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_message_id(*args)


def test_ticket_from_headers_prefers_in_reply_to_then_newest_reference() -> None:
    ours_1 = make_message_id(1, 10, SECRET, "d.example")
    ours_2 = make_message_id(2, 20, SECRET, "d.example")
    forged = "<t3.o30.aaaaaaaaaa@d.example>"
    assert ticket_from_headers(ours_2, [ours_1], SECRET) == 2
    assert ticket_from_headers(forged, [ours_1, ours_2, "<x@y>"], SECRET) == 2
    assert ticket_from_headers(None, [forged, "<x@y>"], SECRET) is None


@given(ids, ids, secrets)
def test_property_round_trip(ticket_id: int, outbox_id: int, secret: bytes) -> None:
    msgid = make_message_id(ticket_id, outbox_id, secret, "desk.example")
    assert verify_message_id(msgid, secret) == ticket_id
    assert parse_message_id(msgid, secret) == (ticket_id, outbox_id)


@given(ids, ids, secrets, secrets)
def test_property_other_secret_rejected(ticket_id: int, outbox_id: int, secret: bytes, other: bytes) -> None:
    msgid = make_message_id(ticket_id, outbox_id, secret, "desk.example")
    if other != secret:
        # 50 bits of MAC: a collision here would be a real bug, not bad luck.
        assert verify_message_id(msgid, other) is None


@given(ids, ids, st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567", min_size=10, max_size=10))
def test_property_guessed_mac_rejected(ticket_id: int, outbox_id: int, mac: str) -> None:
    real = make_message_id(ticket_id, outbox_id, SECRET, "d.example")
    guess = f"<t{ticket_id}.o{outbox_id}.{mac}@d.example>"
    assert (verify_message_id(guess, SECRET) is not None) == (guess == real)


@given(st.text(max_size=200))
def test_property_verify_never_raises(text: str) -> None:
    assert verify_message_id(text, SECRET) is None


# --------------------------------------------------------------------------
# Subject tags


def test_subject_tag() -> None:
    assert subject_tag(123) == "[#123]"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [("Re: Printer [#123]", 123), ("[#7] first", 7), ("two [#5] and [#6]", 5), ("no tag", None),
     ("[#0]", None), ("[# 12]", None), ("[#12", None), ("#12", None), (None, None), ("[#" + "9" * 30 + "]", None)],
)
def test_find_subject_tag(subject: str | None, expected: int | None) -> None:
    assert find_subject_tag(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Printer on fire", "Re: Printer on fire [#12]"),
        ("Re: Printer on fire", "Re: Printer on fire [#12]"),
        ("RE: Re: re:Printer on fire", "Re: Printer on fire [#12]"),
        ("AW: SV: Re[2]: Printer", "Re: Printer [#12]"),
        ("Re: Printer on fire [#12]", "Re: Printer on fire [#12]"),
        ("[#12] Printer", "Re: [#12] Printer"),
        ("Re: Printer [#99]", "Re: Printer [#99] [#12]"),
        ("", "Re: [#12]"),
        (None, "Re: [#12]"),
        ("Printer\r\nBcc: evil@example.com", "Re: Printer Bcc: evil@example.com [#12]"),
        ("\x1b]0;PWNED\x07Hi", "Re: Hi [#12]"),
        ("Fwd: thing", "Re: Fwd: thing [#12]"),
    ],
)
def test_reply_subject(subject: str | None, expected: str) -> None:
    assert reply_subject(subject, 12) == expected


@given(st.text(max_size=100), st.integers(min_value=1, max_value=10**9))
def test_property_reply_subject_idempotent(subject: str, ticket_id: int) -> None:
    once = reply_subject(subject, ticket_id)
    assert reply_subject(once, ticket_id) == once
    assert once.startswith("Re: ") and not once[4:].lower().startswith("re:")
    assert subject_tag(ticket_id) in once
    assert find_subject_tag(once) is not None
    assert "\n" not in once and "\r" not in once
