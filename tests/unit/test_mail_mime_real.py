"""MIME as real mailers write it: odd boundaries, uuencode, mislabelled charsets, forwards, signatures."""

from __future__ import annotations

import binascii

import pytest

from tui_helpdesk.domain.mail.message import parse_message
from tui_helpdesk.domain.mail.uuencode import extract_uuencoded

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3


def _with(content_type: str, boundary: str) -> bytes:
    b64 = binascii.b2a_base64(PNG).decode()
    parts = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe printer is on fire.\r\n"
             + "".join(f"--{boundary}\r\nContent-Type: image/png; name=\"p{i}.png\"\r\n"
                       f"Content-Disposition: attachment; filename=\"p{i}.png\"\r\n"
                       f"Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n" for i in range(3))
             + f"--{boundary}--\r\n")
    return ("From: Dana <dana@example.com>\r\nTo: support@desk.test\r\nSubject: photos\r\n"
            f"Message-ID: <p@example.com>\r\nMIME-Version: 1.0\r\n{content_type}\r\n\r\n{parts}").encode()


BOUNDARIES = {
    # Outlook folds inside the quotes; the body's delimiter keeps the folding whitespace
    "folded-in-quotes-tab": ('Content-Type: multipart/mixed;\r\n\tboundary="----=_NextPart_000_0012_01D3\r\n\tAB"',
                             "----=_NextPart_000_0012_01D3\tAB"),
    # ... or does not
    "folded-in-quotes-joined": ('Content-Type: multipart/mixed;\r\n\tboundary="----=_NextPart_000_0012_01D3\r\n AB"',
                                "----=_NextPart_000_0012_01D3AB"),
    "folded-after-quote": ('Content-Type: multipart/mixed; boundary="\r\n b-42"', "b-42"),
    "unindented-quoted": ('Content-Type: multipart/mixed;\r\nboundary="b-42"', "b-42"),
    "unindented-bare": ('Content-Type: multipart/related;\r\nboundary=b-42;\r\ntype="text/plain"', "b-42"),
}


@pytest.mark.parametrize("name", sorted(BOUNDARIES))
def test_unusual_boundaries_still_give_the_text_and_every_attachment(name: str) -> None:
    parsed = parse_message(_with(*BOUNDARIES[name]))
    assert parsed.body_text == "The printer is on fire."
    assert [a.filename for a in parsed.attachments] == ["p0.png", "p1.png", "p2.png"]
    assert all(a.data == PNG for a in parsed.attachments)
    assert "base64" not in parsed.body_text and "Content-Type" not in parsed.body_text


def test_a_multipart_with_no_boundary_anywhere_is_still_text() -> None:
    raw = (b"From: a@example.com\r\nSubject: x\r\nContent-Type: multipart/mixed\r\n\r\nJust text, no parts.\r\n")
    parsed = parse_message(raw)
    assert "Just text, no parts." in parsed.body_text and parsed.problems


def _uu(name: str, data: bytes) -> str:
    lines = [binascii.b2a_uu(data[i:i + 45]).decode().rstrip("\n") for i in range(0, len(data), 45)]
    return f"begin 644 {name}\n" + "\n".join(lines) + "\n`\nend\n"


def test_uuencoded_files_become_attachments() -> None:
    body = "Here is the log and the photo.\n\n" + _uu("log.txt", b"line 1\nline 2\n" * 40) + "\n" + _uu("photo.png", PNG) + "\nThanks, Dana\n"
    raw = ("From: Dana <dana@example.com>\r\nSubject: files\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
           + body.replace("\n", "\r\n")).encode()
    parsed = parse_message(raw)
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [("log.txt", "text/plain"), ("photo.png", "image/png")]
    assert parsed.attachments[0].data == b"line 1\nline 2\n" * 40 and parsed.attachments[1].data == PNG
    assert "begin 644" not in parsed.body_text and "Thanks, Dana" in parsed.body_text
    assert parsed.body_text.startswith("Here is the log and the photo.")


def test_text_that_only_looks_like_uuencode_stays() -> None:
    text = "begin 644 notes.txt\nthis is not uuencoded at all, just words ~~~\nend\n"
    assert extract_uuencoded(text) == (text, [])
    assert extract_uuencoded("We begin at 9 and end at 5.") == ("We begin at 9 and end at 5.", [])


def test_utf8_label_on_windows_1252_text_reads_right() -> None:
    body = "“Quoted” price: 12 € – Grüße".encode("cp1252")
    raw = b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    parsed = parse_message(raw)
    assert parsed.body_text == "“Quoted” price: 12 € – Grüße" and "\ufffd" not in parsed.body_text


FORWARDS = {
    "gmail": ("Fwd: Order 42", "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Bob <bob@shop.example>\n"
              "Date: Mon, 1 Dec 2026\nSubject: Order 42\n\nYour order ships Friday.\n\nOn Sun, Dana wrote:\n> where is it?\n"),
    "apple": ("Fwd: Order 42", "Begin forwarded message:\n\nFrom: Bob <bob@shop.example>\nSubject: Order 42\n\n"
              "Your order ships Friday.\n"),
    "outlook": ("FW: Order 42", "Please check this.\n\n________________________________\nFrom: Bob <bob@shop.example>\n"
                "Sent: Monday, 1 December 2026 10:00\nTo: Dana\nSubject: Order 42\n\nYour order ships Friday.\n"),
    "marker-without-fwd-subject": ("Order 42", "Can you help?\n\n-------- Forwarded Message --------\nSubject: Order 42\n"
                                   "From: Bob <bob@shop.example>\n\nYour order ships Friday.\n> old quoted line\n"),
}


@pytest.mark.parametrize("name", sorted(FORWARDS))
def test_forwarded_content_stays_visible(name: str) -> None:
    subject, body = FORWARDS[name]
    raw = (f"From: Dana <dana@example.com>\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           + body.replace("\n", "\r\n")).encode()
    parsed = parse_message(raw)
    assert "Your order ships Friday." in parsed.body_text and parsed.quoted_text == ""


def test_a_reply_is_still_folded() -> None:
    raw = (b"From: Dana <dana@example.com>\r\nSubject: Re: Order 42\r\n\r\nThanks!\r\n\r\n"
           b"On Mon, Bob wrote:\r\n> Your order ships Friday.\r\n")
    parsed = parse_message(raw)
    assert parsed.body_text == "Thanks!" and "ships Friday" in parsed.quoted_text


@pytest.mark.parametrize(("ctype", "kind"), [("application/pgp-signature", "OpenPGP"),
                                             ("application/pkcs7-signature", "S/MIME"),
                                             ("application/x-pkcs7-signature", "S/MIME")])
def test_signature_parts_are_signatures_not_attachments(ctype: str, kind: str) -> None:
    raw = (f'From: a@example.com\r\nSubject: s\r\nContent-Type: multipart/signed; protocol="{ctype}"; boundary="S"\r\n\r\n'
           f"--S\r\nContent-Type: text/plain\r\n\r\nSigned.\r\n--S\r\nContent-Type: {ctype}; name=smime.p7s\r\n"
           f"Content-Disposition: attachment; filename=smime.p7s\r\n\r\nAAAA\r\n--S--\r\n").encode()
    parsed = parse_message(raw)
    assert parsed.body_text == "Signed." and parsed.attachments == () and parsed.signatures == (kind,)
