"""Inbound MIME parsing: charsets, encoded words, bodies, quotes, attachments,
broken input, and the terminal-escape payloads of RELIABILITY.md."""

from __future__ import annotations

import base64
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_helpdesk.domain.mail.headers import decode_header_value
from tui_helpdesk.domain.mail.message import Attachment, ParsedMessage, parse_message
from tui_helpdesk.domain.mail.quotes import split_quoted

ESCAPE_PAYLOADS = [
    "\x1b]52;c;Y3VybCBldmlsfHNo\x1b\\",
    "\x1b]0;PWNED\x1b\\",
    "\x1b[21t",
    "\x1bP$qm\x1b\\",
    "\x1b[2J",
    "\u009b2J",
    "ok\rFAKE",
    "\x1b]8;;https://evil.example/\x1b\\https://bank.example\x1b]8;;\x1b\\",
    "invoice\u202efdp.exe",
    "\x1b]0;PWNED\x07Hi",
]
MARKUP_PAYLOADS = [
    "[@click=app.quit]x[/]",
    '[link="https://evil.example"]Reset[/link]',
    "[/]",
    "Re: [/] x",
    "[@click=]x[/]",
    "trailing\\",
]
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe_chars(text: str) -> list[str]:
    """Characters that must never reach the terminal from mail data."""
    bad = []
    for ch in text:
        code = ord(ch)
        if ch in "\n\t":
            continue
        if code < 0x20 or 0x7F <= code <= 0x9F or ch in BIDI or 0xD800 <= code <= 0xDFFF:
            bad.append(ch)
    return bad


def strings_of(parsed: ParsedMessage) -> list[str]:
    values = [
        parsed.message_id or "", parsed.in_reply_to or "", *parsed.references, parsed.subject,
        parsed.from_name, parsed.from_addr, *parsed.to, *parsed.cc, *parsed.reply_to,
        parsed.body_text, parsed.quoted_text, parsed.content_type, parsed.report_type or "",
        *parsed.problems, *parsed.loop_headers.values(),
    ]
    for att in parsed.attachments:
        values += [att.filename, att.content_type, att.content_id or ""]
    return values


def assert_all_safe(parsed: ParsedMessage) -> None:
    for value in strings_of(parsed):
        assert not unsafe_chars(value), (value, unsafe_chars(value))
    for one_liner in (parsed.subject, parsed.from_name, *[a.filename for a in parsed.attachments]):
        assert "\n" not in one_liner


def msg(headers: str, body: bytes | str = b"Hello\n", *, extra: bytes = b"") -> bytes:
    head = headers.strip("\n").encode("utf-8") + b"\n" + extra
    data = body.encode("utf-8") if isinstance(body, str) else body
    return head + b"\n" + data


BASIC = """\
From: "Dana Example" <Dana.Example@Example.COM>
To: support@desk.example, "Other" <other@example.org>
Cc: boss@example.org
Reply-To: dana.replies@example.com
Subject: Printer on fire
Date: Tue, 02 Jan 2024 10:15:00 +0100
Message-ID: <abc.123@mail.example.com>
In-Reply-To: <parent@desk.example> (the thing you sent)
References: <root@desk.example>
 <parent@desk.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
"""


# --------------------------------------------------------------------------
# Basics


def test_basic_fields() -> None:
    parsed = parse_message(msg(BASIC, "It is on fire.\n"))
    assert parsed.message_id == "<abc.123@mail.example.com>"
    assert parsed.in_reply_to == "<parent@desk.example>"
    assert parsed.references == ("<root@desk.example>", "<parent@desk.example>")
    assert parsed.subject == "Printer on fire"
    assert parsed.from_name == "Dana Example"
    assert parsed.from_addr == "dana.example@example.com"
    assert parsed.to == ("support@desk.example", "other@example.org")
    assert parsed.cc == ("boss@example.org",)
    assert parsed.reply_to == ("dana.replies@example.com",)
    assert parsed.date == datetime(2024, 1, 2, 9, 15, tzinfo=timezone.utc)
    assert parsed.date.utcoffset() == timedelta(hours=1)
    assert parsed.body_text == "It is on fire."
    assert parsed.quoted_text == ""
    assert parsed.attachments == ()
    assert parsed.problems == ()
    assert parsed.set_aside_reason is None
    assert hash(parsed) == hash(parse_message(msg(BASIC, "It is on fire.\n")))


def test_message_id_without_brackets_is_normalised() -> None:
    parsed = parse_message(msg("From: a@example.com\nMessage-ID: abc@example.com\nSubject: x", "x"))
    assert parsed.message_id == "<abc@example.com>"


def test_missing_fields_are_none_or_empty() -> None:
    parsed = parse_message(b"Subject: only a subject\n\nbody\n")
    assert parsed.message_id is None and parsed.in_reply_to is None and parsed.date is None
    assert parsed.from_addr == ""
    assert any("From" in p for p in parsed.problems)


def test_naive_date_is_made_aware() -> None:
    parsed = parse_message(msg("From: a@example.com\nDate: Tue, 02 Jan 2024 10:15:00 -0000", "x"))
    assert parsed.date is not None and parsed.date.tzinfo is not None


def test_unreadable_date_is_a_problem_not_an_error() -> None:
    parsed = parse_message(msg("From: a@example.com\nDate: yesterday-ish, around noon", "x"))
    assert parsed.date is None
    assert any(p.startswith("Date") for p in parsed.problems)


def test_sender_used_when_from_missing() -> None:
    parsed = parse_message(msg("Sender: Bot <bot@example.com>\nSubject: hi", "x"))
    assert parsed.from_addr == "bot@example.com"


def test_address_in_encoded_name_cannot_replace_real_address() -> None:
    name = base64.b64encode(b"ceo@bank.example, <x@y>").decode()
    parsed = parse_message(msg(f"From: =?utf-8?b?{name}?= <attacker@evil.example>", "x"))
    assert parsed.from_addr == "attacker@evil.example"
    assert "ceo@bank.example" in parsed.from_name


# --------------------------------------------------------------------------
# Charsets


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("iso-8859-1", "Grüße aus Köln, café"),
        ("windows-1252", "“Smart quotes” – and a € sign"),
        ("koi8-r", "Привет, как дела?"),
        ("windows-1251", "Добрый день"),
        ("shift_jis", "こんにちは世界"),
        ("gb2312", "你好，世界"),
        ("iso-8859-7", "Καλημέρα"),
        ("utf-8", "Zoë 👋 naïve"),
    ],
)
def test_declared_charsets(charset: str, text: str) -> None:
    raw = msg(f"From: a@example.com\nContent-Type: text/plain; charset={charset}", text.encode(charset))
    assert parse_message(raw).body_text == text


def test_utf8_declared_as_ascii_is_read_as_utf8() -> None:
    raw = msg("From: a@example.com\nContent-Type: text/plain; charset=us-ascii", "Grüße".encode())
    assert parse_message(raw).body_text == "Grüße"


def test_unknown_charset_falls_back_to_utf8() -> None:
    raw = msg("From: a@example.com\nContent-Type: text/plain; charset=x-made-up", "Grüße".encode())
    parsed = parse_message(raw)
    assert parsed.body_text == "Grüße"
    assert any("x-made-up" in p for p in parsed.problems)


def test_unknown_charset_with_latin1_bytes_falls_back_to_cp1252() -> None:
    raw = msg("From: a@example.com\nContent-Type: text/plain; charset=bogus", "café".encode("latin-1"))
    parsed = parse_message(raw)
    assert parsed.body_text == "café"
    assert parsed.problems


@pytest.mark.parametrize("charset", ["base64", "rot13", "hex", "zlib", '"', "utf-8*en", "x" * 500])
def test_codec_names_that_are_not_text_encodings(charset: str) -> None:
    raw = msg(f"From: a@example.com\nContent-Type: text/plain; charset=\"{charset}\"", "plain text")
    assert parse_message(raw).body_text == "plain text"


def test_wrongly_declared_utf8_with_invalid_bytes_is_replaced() -> None:
    raw = msg("From: a@example.com\nContent-Type: text/plain; charset=utf-8", b"ok \xff\xfe then more")
    parsed = parse_message(raw)
    assert parsed.body_text.startswith("ok ")
    assert parsed.body_text.endswith("then more")


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_declared_utf8_written_in_latin1_reads_as_windows_1252(encoding: str) -> None:
    text = "Grüße aus Köln, das Café ist geschlossen – leider."
    raw = msg("From: a@example.com\nContent-Type: text/plain; charset=utf-8",
              text.encode(encoding, errors="replace" if encoding == "latin-1" else "strict"))
    parsed = parse_message(raw)
    assert "\ufffd" not in parsed.body_text
    assert parsed.body_text.startswith("Grüße aus Köln, das Café ist geschlossen")
    assert parsed.problems


def test_real_utf8_with_one_broken_byte_keeps_utf8() -> None:
    raw = msg("From: a@example.com\nContent-Type: text/plain; charset=utf-8", "Grüße aus Köln".encode() + b"\xc3")
    assert parse_message(raw).body_text.startswith("Grüße aus Köln")


@pytest.mark.parametrize(("ctype", "kind"), [
    ("application/pgp-signature", "OpenPGP"),
    ("application/pkcs7-signature", "S/MIME"),
    ("application/x-pkcs7-signature", "S/MIME"),
])
def test_signature_parts_are_signatures_not_attachments(ctype: str, kind: str) -> None:
    raw = msg(
        f'From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/signed; micalg=pgp-sha256; '
        f'protocol="{ctype}"; boundary="S"',
        "--S\nContent-Type: multipart/mixed; boundary=\"M\"\n\n"
        "--M\nContent-Type: text/plain; charset=utf-8\n\nSigned text.\n"
        "--M\nContent-Type: application/pdf; name=\"a.pdf\"\nContent-Disposition: attachment; filename=\"a.pdf\"\n\n"
        "%PDF-1.4\n--M--\n"
        f"--S\nContent-Type: {ctype}; name=\"signature.asc\"\n"
        "Content-Disposition: attachment; filename=\"signature.asc\"\n\n"
        "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n--S--\n",
    )
    parsed = parse_message(raw)
    assert parsed.body_text == "Signed text."
    assert [a.filename for a in parsed.attachments] == ["a.pdf"]
    assert parsed.signatures == (kind,)


def test_raw_8bit_headers() -> None:
    raw = "From: Jürgen Müller <jm@example.de>\nSubject: Grüße\n\nx".encode()
    parsed = parse_message(raw)
    assert parsed.from_name == "Jürgen Müller"
    assert parsed.subject == "Grüße"


def test_html_meta_charset_used_when_header_has_none() -> None:
    html = '<html><head><meta charset="windows-1251"></head><body><p>Добрый день</p></body></html>'
    raw = msg("From: a@example.com\nContent-Type: text/html", html.encode("windows-1251"))
    assert parse_message(raw).body_text == "Добрый день"


# --------------------------------------------------------------------------
# Encoded words


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Grüße aus Köln"),
        ("=?UTF-8?B?R3LDvMOfZQ==?=", "Grüße"),
        ("=?iso-8859-1?q?caf=E9?= au lait", "café au lait"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between words is folding
        ("=?utf-8?q?a?=\n =?utf-8?q?b?=", "ab"),
        ("plain =?utf-8?q?mixed?= text", "plain mixed text"),
        # one UTF-8 character split across two words by a careless mailer
        ("=?utf-8?b?ww==?= =?utf-8?b?pA==?=", "ä"),
        ("=?utf-8?q?=C3?=\n =?utf-8?q?=A4?=", "ä"),
        ("=?utf-8?b?R3LDvMOfZQ?=", "Grüße"),  # missing padding
        ("=?x-unknown?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
        ("=?utf-8*en?q?hello?=", "hello"),
        ("=?koi8-r?b?8NLJ18XU?=", "Привет"),
        ("no encoded words", "no encoded words"),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
    ],
)
def test_encoded_words(header: str, expected: str) -> None:
    assert decode_header_value(header) == expected
    parsed = parse_message(msg(f"From: a@example.com\nSubject: {header}", "x"))
    assert parsed.subject == expected


def test_encoded_word_in_from_name() -> None:
    parsed = parse_message(msg("From: =?utf-8?q?Zo=C3=AB_Agent?= <zoe@example.com>", "x"))
    assert parsed.from_name == "Zoë Agent"
    assert parsed.from_addr == "zoe@example.com"


# --------------------------------------------------------------------------
# Attachments and filenames


def multipart(parts: list[tuple[str, bytes]], subtype: str = "mixed", headers: str = "From: a@example.com\nSubject: files") -> bytes:
    boundary = "==b0und4ry=="
    out = [headers.encode() + f"\nMIME-Version: 1.0\nContent-Type: multipart/{subtype}; boundary=\"{boundary}\"\n\n".encode()]
    for part_headers, body in parts:
        out.append(f"--{boundary}\n{part_headers.strip()}\n\n".encode() + body + b"\n")
    out.append(f"--{boundary}--\n".encode())
    return b"".join(out)


def test_attachment_kept_with_data() -> None:
    pdf = b"%PDF-1.4 fake"
    raw = multipart([
        ("Content-Type: text/plain; charset=utf-8", b"See attached."),
        ('Content-Type: application/pdf; name="report.pdf"\nContent-Disposition: attachment; filename="report.pdf"\n'
         "Content-Transfer-Encoding: base64", base64.encodebytes(pdf)),
    ])
    parsed = parse_message(raw)
    assert parsed.body_text == "See attached."
    assert parsed.attachments == (Attachment("report.pdf", "application/pdf", len(pdf), pdf),)


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ("attachment; filename*=utf-8''%E2%82%AC%20rates.pdf", "€ rates.pdf"),
        ("attachment; filename*=iso-8859-1'de'Gr%FC%DFe.txt", "Grüße.txt"),
        ("attachment;\n filename*0*=utf-8''%D0%9E%D1%82%D1%87%D0%B5%D1%82;\n filename*1*=%20%D0%B7%D0%B0.pdf", "Отчет за.pdf"),
        ("attachment; filename*0=\"long name \"; filename*1=\"in parts.txt\"", "long name in parts.txt"),
        ('attachment; filename="=?utf-8?b?w5xiZXJzaWNodC5wZGY=?="', "Übersicht.pdf"),
        ('attachment; filename="=?iso-8859-1?q?r=E9sum=E9.doc?="', "résumé.doc"),
        ("attachment; filename*=bogus''%C3%BC.txt", "ü.txt"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Windows\\\\evil.exe"', "evil.exe"),
        ('attachment; filename="..."', "attachment-1.bin"),
        ('attachment; filename=".bashrc"', "bashrc"),
        ('attachment; filename="a<b>c:d|e?.txt"', "a_b_c_d_e_.txt"),
        ("attachment", "attachment-1.bin"),
    ],
)
def test_attachment_filenames(disposition: str, expected: str) -> None:
    raw = multipart([
        ("Content-Type: text/plain", b"body"),
        (f"Content-Type: application/octet-stream\nContent-Disposition: {disposition}", b"DATA"),
    ])
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == [expected]
    assert "/" not in parsed.attachments[0].filename and "\\" not in parsed.attachments[0].filename


def test_filename_from_content_type_name() -> None:
    raw = multipart([
        ("Content-Type: text/plain", b"body"),
        ('Content-Type: image/png; name="=?utf-8?q?Bild_=C3=BC.png?="\nContent-Transfer-Encoding: base64',
         base64.encodebytes(b"\x89PNG....")),
    ])
    att = parse_message(raw).attachments[0]
    assert (att.filename, att.content_type, att.data) == ("Bild ü.png", "image/png", b"\x89PNG....")


def test_named_text_file_is_an_attachment_not_the_body() -> None:
    raw = multipart([
        ("Content-Type: text/plain", b"Here is the log."),
        ('Content-Type: text/plain; name="log.txt"\nContent-Disposition: inline; filename="log.txt"', b"ERROR 42"),
    ])
    parsed = parse_message(raw)
    assert parsed.body_text == "Here is the log."
    assert [a.filename for a in parsed.attachments] == ["log.txt"]


def test_forwarded_message_attachment() -> None:
    inner = b"From: x@example.com\nSubject: Original thing\nMessage-ID: <inner@example.com>\n\ninner body\n"
    raw = multipart([("Content-Type: text/plain", b"FYI"), ("Content-Type: message/rfc822", inner)])
    att = parse_message(raw).attachments[0]
    assert att.content_type == "message/rfc822"
    assert att.filename == "Original thing.eml"
    assert b"<inner@example.com>" in att.data and att.size == len(att.data)


def test_inline_images_of_html_alternative_are_kept() -> None:
    related = (
        b'Content-Type: multipart/related; boundary="rel"\n\n--rel\nContent-Type: text/html\n\n<p>Hi <img src="cid:logo"></p>\n'
        b"--rel\nContent-Type: image/png\nContent-ID: <logo>\nContent-Disposition: inline; filename=logo.png\n\nPNG\n--rel--\n"
    )
    raw = (
        b"From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=alt\n\n"
        b"--alt\nContent-Type: text/plain\n\nHi\n--alt\n" + related + b"--alt--\n"
    )
    parsed = parse_message(raw)
    assert parsed.body_text == "Hi"
    assert [(a.filename, a.content_id, a.inline) for a in parsed.attachments] == [("logo.png", "<logo>", True)]


# --------------------------------------------------------------------------
# Bodies: alternative, HTML


def test_alternative_prefers_plain() -> None:
    raw = multipart([
        ("Content-Type: text/plain; charset=utf-8", b"Plain version"),
        ("Content-Type: text/html; charset=utf-8", b"<p>HTML <b>version</b></p>"),
    ], "alternative")
    parsed = parse_message(raw)
    assert parsed.body_text == "Plain version"
    assert not parsed.body_from_html
    assert parsed.attachments == ()


def test_alternative_with_empty_plain_uses_html() -> None:
    raw = multipart([
        ("Content-Type: text/plain; charset=utf-8", b"  \n"),
        ("Content-Type: text/html; charset=utf-8", b"<p>Only <a href='https://x.example/a'>here</a></p>"),
    ], "alternative")
    parsed = parse_message(raw)
    assert parsed.body_text == "Only [here](https://x.example/a)"
    assert parsed.body_from_html


def test_html_only_readable() -> None:
    html = (
        "<html><head><style>p { color: red }</style><script>alert('x')</script></head><body>"
        "<p>Hello <b>Dana</b>,</p><p>Reset it <a href='https://desk.example/reset'>here</a>.</p>"
        "<img src='https://tracker.example/pixel.gif' alt='pixel'>"
        "<table><tr><td>Order</td><td>42</td></tr></table>"
        "<ul><li>- one</li></ul><p>1. numbered</p></body></html>"
    )
    raw = msg("From: a@example.com\nContent-Type: text/html; charset=utf-8", html)
    body = parse_message(raw).body_text
    assert "Hello Dana," in body
    assert "[here](https://desk.example/reset)" in body
    assert "pixel" not in body and "tracker" not in body
    assert "color" not in body and "alert" not in body
    assert "Order 42" in body
    assert "1. numbered" in body and "\\" not in body


def test_quoted_printable_and_base64_bodies() -> None:
    qp = msg("From: a@example.com\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable",
             b"Gr=C3=BC=C3=9Fe, a very long line that is soft=\n wrapped")
    assert parse_message(qp).body_text == "Grüße, a very long line that is soft wrapped"
    b64 = msg("From: a@example.com\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
              base64.encodebytes("Grüße".encode()))
    assert parse_message(b64).body_text == "Grüße"


def test_format_flowed_is_unwrapped() -> None:
    raw = msg("From: a@example.com\nContent-Type: text/plain; charset=utf-8; format=flowed",
              "This line was \nwrapped by the client.\n\n-- \nSig")
    body = parse_message(raw).body_text
    assert body.startswith("This line was wrapped by the client.")


# --------------------------------------------------------------------------
# Quoted history


QUOTE_CASES = {
    "gmail": (
        "Thanks, that fixed it!\n\nOn Tue, Jan 2, 2024 at 10:15 AM Support <support@desk.example> wrote:\n"
        "> Please restart the printer.\n>\n> Regards\n",
        "Thanks, that fixed it!",
    ),
    "gmail_wrapped_attribution": (
        "Still broken.\n\nOn Tue, Jan 2, 2024 at 10:15 AM Very Long Name Support Team <\n"
        "support@desk.example> wrote:\n\n> Please restart the printer.\n",
        "Still broken.",
    ),
    "outlook_original_message": (
        "Hi,\nsee below.\n\n-----Original Message-----\nFrom: Support <support@desk.example>\n"
        "Sent: Tuesday, January 2, 2024 10:15 AM\nTo: Dana\nSubject: RE: Printer\n\nPlease restart.\n",
        "Hi,\nsee below.",
    ),
    "outlook_header_block": (
        "Works now.\n\nDana\n\nFrom: Support <support@desk.example>\nSent: Tuesday, January 2, 2024 10:15\n"
        "To: Dana <dana@example.com>\nSubject: Printer [#12]\n\nPlease restart.\n",
        "Works now.\n\nDana",
    ),
    "outlook_underscore": (
        "Thanks\n\n________________________________\nFrom: Support <support@desk.example>\n"
        "Sent: 02 January 2024 10:15\nTo: Dana\n\nPlease restart.\n",
        "Thanks",
    ),
    "outlook_html_bold": (
        "Thanks\n\n**From:** Support <support@desk.example> **Sent:** Tuesday **To:** Dana\n\nold text\n",
        "Thanks",
    ),
    "german": (
        "Danke!\n\nAm 02.01.2024 um 10:15 schrieb Support <support@desk.example>:\n> Bitte neu starten.\n",
        "Danke!",
    ),
    "french": (
        "Merci\n\nLe mar. 2 janv. 2024 à 10:15, Support <support@desk.example> a écrit :\n> Redémarrez.\n",
        "Merci",
    ),
    "italian_outlook": (
        "Ciao\n\nDa: Support [mailto:support@desk.example]\nInviato: martedì 2 gennaio 2024 10:15\n"
        "A: Dana\nOggetto: Stampante\n\nRiavvia.\n",
        "Ciao",
    ),
    "bare_trailing_quote": ("Yes please.\n\n> Shall we restart it?\n> It may help.\n", "Yes please."),
}


@pytest.mark.parametrize("case", sorted(QUOTE_CASES))
def test_quoted_history_folded(case: str) -> None:
    text, expected_new = QUOTE_CASES[case]
    new, quoted = split_quoted(text)
    assert new == expected_new
    assert quoted and quoted.strip() in text
    parsed = parse_message(msg("From: a@example.com\nContent-Type: text/plain; charset=utf-8", text))
    assert parsed.body_text == expected_new
    assert parsed.quoted_text


def test_inline_replies_are_not_folded() -> None:
    text = (
        "On Tue, Jan 2, 2024 Support wrote:\n> Is it plugged in?\nYes it is.\n> Is it switched on?\n"
        "No, now it works.\n\n> Regards\n> Support\n"
    )
    new, quoted = split_quoted("Answers inline.\n\n" + text)
    assert "Yes it is." in new and "No, now it works." in new
    assert quoted == "> Regards\n> Support"


def test_forwarded_message_is_content_not_history() -> None:
    text = (
        "Please help with the mail below.\n\n---------- Forwarded message ---------\n"
        "From: Vendor <v@example.com>\nDate: Tue, Jan 2, 2024\nSubject: Invoice\nTo: Dana\n\nPay now.\n"
    )
    new, quoted = split_quoted(text)
    assert "Pay now." in new and quoted == ""


def test_all_quoted_message_is_not_folded_to_nothing() -> None:
    text = "> only a quote\n> nothing new\n"
    assert split_quoted(text) == (text, "")


def test_html_blockquote_folded() -> None:
    html = (
        "<div>Fixed, thanks.</div><div class='gmail_quote'><div>On Tue, Jan 2, 2024 Support &lt;s@desk.example&gt; wrote:"
        "</div><blockquote>Please restart the printer.</blockquote></div>"
    )
    parsed = parse_message(msg("From: a@example.com\nContent-Type: text/html; charset=utf-8", html))
    assert parsed.body_text == "Fixed, thanks."
    assert "Please restart the printer." in parsed.quoted_text


# --------------------------------------------------------------------------
# Malformed input: never raise, say what went wrong


MALFORMED = {
    "empty": b"",
    "whitespace": b"\n\n  \n",
    "garbage": bytes(range(256)) * 4,
    "nul_bytes": b"From: a@example.com\x00\nSubject: \x00\x00\n\nbo\x00dy",
    "no_colon_header": b"this is not a header\nFrom: a@example.com\n\nbody",
    "header_only": b"From: a@example.com\nSubject: nothing else",
    "missing_boundary_param": b"From: a@example.com\nContent-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n",
    "wrong_boundary": b"From: a@example.com\nContent-Type: multipart/mixed; boundary=abc\n\n--xyz\n\nhi\n",
    "missing_final_boundary": b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n",
    "truncated_base64": b"From: a@example.com\nContent-Transfer-Encoding: base64\n\nSGVsbG8gd29y",
    "invalid_base64": b"From: a@example.com\nContent-Transfer-Encoding: base64\n\n!!!!****",
    "unknown_cte": b"From: a@example.com\nContent-Transfer-Encoding: x-weird\n\nhi",
    "broken_qp": b"From: a@example.com\nContent-Transfer-Encoding: quoted-printable\n\n=ZZ=\n=C3",
    "bad_param_syntax": b"From: a@example.com\nContent-Type: text/plain; charset=\"utf-8; format==; ;;\n\nhi",
    "bad_rfc2231": b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Disposition: attachment; filename*0*=x''%; filename*2=z\n\nx\n--b--\n",
    "bad_addresses": b"From: <<<@@@>>>, \"unterminated\nTo: ,,,;;;@\nCc: undisclosed-recipients:;\n\nhi",
    "bad_ids": b"From: a@example.com\nMessage-ID: <<<>>>\nIn-Reply-To: <\nReferences: > < <a b> <ok@x>\n\nhi",
    "crlf": b"From: a@example.com\r\nSubject: crlf\r\n\r\nline1\r\nline2\r\n",
    "bare_cr": b"From: a@example.com\rSubject: cr\r\rbody\r",
    "mbox_from_line": b"From MAILER-DAEMON Tue Jul  7 22:47:39 2009\nFrom: a@example.com\n\nhi",
    "message_rfc822_garbage": b"From: a@example.com\nContent-Type: message/rfc822\n\n\xff\xfe garbage",
    "delivery_status_garbage": b"Content-Type: message/delivery-status\n\n:::\n\n\n",
    "nul_in_charset_8bit_body": b"From: a@example.com\nContent-Type: text/plain; charset=\"utf\x00-8\"\n\n\xc3\xa4 \xff",
    "header_object_subject": b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
                             b"Content-Type: message/rfc822\n\nSubject: \xff\xfe raw\n\nx\n--b--\n",
    "ole_file": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_never_raises(name: str) -> None:
    parsed = parse_message(MALFORMED[name])
    assert isinstance(parsed, ParsedMessage)
    assert_all_safe(parsed)


def test_ole_file_set_aside_but_kept() -> None:
    parsed = parse_message(MALFORMED["ole_file"])
    assert parsed.set_aside_reason and "Outlook" in parsed.set_aside_reason
    assert parsed.attachments[0].data == MALFORMED["ole_file"]


def test_non_bytes_input_does_not_raise() -> None:
    parsed = parse_message("not bytes")  # type: ignore[arg-type]
    assert parsed.problems


def test_deep_nesting_is_cut_off_with_a_problem() -> None:
    depth = 200
    head = b"".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n".encode() for i in range(depth)
    )
    tail = b"".join(f"\n--b{i}--\n".encode() for i in reversed(range(depth)))
    raw = b"From: a@example.com\n" + head + b"Content-Type: text/plain\n\ndeep" + tail
    start = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - start < 1.0
    assert parsed.problems


def test_many_parts_are_bounded_in_time() -> None:
    parts = [("Content-Type: text/html", b"<p>part</p>")] * 5000
    start = time.perf_counter()
    parsed = parse_message(multipart(parts))
    assert time.perf_counter() - start < 2.0
    assert any("parts" in p for p in parsed.problems)


def test_huge_header_is_fast() -> None:
    subject = "Subject: " + "\n ".join(["=?utf-8?q?Gr=C3=BC=C3=9Fe?="] * 20000)
    start = time.perf_counter()
    parsed = parse_message(msg("From: a@example.com\n" + subject, "x"))
    assert time.perf_counter() - start < 1.0
    assert parsed.subject.startswith("GrüßeGrüße")


def test_pathological_quote_text_is_fast() -> None:
    text = ("On " + "x " * 200 + "\n") * 2000 + "> q\n" * 2000 + ("From: a\n" * 3000)
    start = time.perf_counter()
    split_quoted(text)
    assert time.perf_counter() - start < 1.0


def test_typical_message_speed() -> None:
    raw = multipart([
        ("Content-Type: text/plain; charset=utf-8", ("Hello, the printer is broken.\n" * 20).encode()
         + b"\nOn Tue, Jan 2, 2024 Support <s@desk.example> wrote:\n" + b"> old\n" * 30),
        ("Content-Type: text/html; charset=utf-8", b"<p>Hello</p>" * 50),
    ], "alternative", headers=BASIC.split("MIME-Version")[0].strip())
    parse_message(raw)
    n = 300
    start = time.perf_counter()
    for _ in range(n):
        parse_message(raw)
    per_message = (time.perf_counter() - start) / n
    assert per_message < 0.01, f"{per_message * 1000:.2f} ms per message"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert_all_safe(parse_message(data))


_TEMPLATE = multipart([
    ("Content-Type: text/plain; charset=utf-8", "Grüße\n\nOn Tue, X wrote:\n> q".encode()),
    ("Content-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''%E2%82%AC.pdf\n"
     "Content-Transfer-Encoding: base64", base64.encodebytes(b"pdf")),
], headers="From: =?utf-8?q?Zo=C3=AB?= <z@example.com>\nSubject: =?utf-8?b?R3LDvMOfZQ==?=\nDate: Tue, 02 Jan 2024 10:15:00 +0100")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_TEMPLATE) - 1), st.binary(min_size=0, max_size=8)), max_size=6))
def test_mutated_messages_never_raise(edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(_TEMPLATE)
    for pos, replacement in edits:
        data[pos:pos + len(replacement) or pos + 1] = replacement
    assert_all_safe(parse_message(bytes(data)))


# --------------------------------------------------------------------------
# Terminal escape payloads (RELIABILITY.md "Untrusted text")


def b_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def q_word(text: str) -> str:
    encoded = "".join(
        ch if ch.isalnum() and ch.isascii() else "".join(f"={b:02X}" for b in ch.encode()) for ch in text
    )
    return f"=?utf-8?q?{encoded}?="


def rfc2231(text: str) -> str:
    return "utf-8''" + urllib.parse.quote(text.encode(), safe="")


FORMS = {
    "b": b_word,
    "q": q_word,
}


@pytest.mark.parametrize("payload", ESCAPE_PAYLOADS, ids=repr)
@pytest.mark.parametrize("form", sorted(FORMS))
def test_escape_payload_in_encoded_words_everywhere(payload: str, form: str) -> None:
    word = FORMS[form](payload)
    raw = multipart([
        ("Content-Type: text/plain; charset=utf-8", f"Body {payload} end".encode()),
        (f'Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="{word}.txt"', b"x"),
        (f"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*={rfc2231(payload + '.bin')}", b"y"),
        (f'Content-Type: text/html; charset=utf-8', f"<p>html {payload} &#27;]0;x&#7; &#x9b;2J &#x202e;gpj.exe</p>".encode()),
    ], headers=f"From: {word} <a@example.com>\nSubject: {word} {word}\nTo: {word} <b@example.com>")
    parsed = parse_message(raw)
    assert_all_safe(parsed)
    assert parsed.from_addr == "a@example.com"
    assert parsed.to == ("b@example.com",)
    assert len(parsed.attachments) == 2
    assert "Body" in parsed.body_text and "end" in parsed.body_text
    assert "html" in parsed.body_text


@pytest.mark.parametrize("payload", ESCAPE_PAYLOADS, ids=repr)
def test_escape_payload_as_raw_8bit(payload: str) -> None:
    quoted = payload.replace("\\", "\\\\").replace('"', '\\"')
    raw = multipart([
        ("Content-Type: text/plain; charset=utf-8", f"Body {payload} end".encode()),
        (f'Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="{quoted}.txt"', b"x"),
        ("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
         base64.encodebytes(f"second {payload}".encode())),
    ], headers=f'From: "{quoted}" <a@example.com>\nSubject: {payload}')
    parsed = parse_message(raw)
    assert_all_safe(parsed)
    if "\r" not in payload:  # a bare CR ends a header line: that header is broken anyway
        assert parsed.from_addr == "a@example.com"


def test_escape_payloads_stay_readable() -> None:
    raw = msg(f"From: {b_word('Dana ' + chr(27) + '[2J')} <a@example.com>\nSubject: {b_word('invoice' + chr(0x202E) + 'fdp.exe')}",
              "ok\rFAKE and \x1b]8;;https://evil.example/\x1b\\https://bank.example\x1b]8;;\x1b\\".encode())
    parsed = parse_message(raw)
    assert parsed.subject == "invoicefdp.exe"
    assert parsed.from_name == "Dana"
    assert "ok\nFAKE" in parsed.body_text
    assert "https://bank.example" in parsed.body_text
    assert "evil.example" not in parsed.body_text


@pytest.mark.parametrize("payload", MARKUP_PAYLOADS)
def test_markup_payloads_survive_literally(payload: str) -> None:
    raw = msg(f"From: {b_word(payload)} <a@example.com>\nSubject: {b_word(payload)}\nContent-Type: text/plain; charset=utf-8",
              payload)
    parsed = parse_message(raw)
    assert parsed.subject == payload
    assert parsed.from_name == payload.strip("\"'")
    assert parsed.body_text == payload
