"""The content fingerprint that tells a re-delivered message from a reused Message-ID."""

from __future__ import annotations

from tui_helpdesk.domain.mail.fingerprint import content_fingerprint

from ..mail_fixtures import customer_mail


def test_transport_headers_and_line_endings_do_not_count():
    raw = customer_mail()
    relayed = (b"Return-Path: <dana@example.com>\r\nReceived: from a by b; Fri, 20 Nov 2026 09:00:01 +0000\r\n"
               b"ARC-Seal: i=1; cv=none; d=example.com; b=xyz\r\nAuthentication-Results: mx; dkim=pass\r\n"
               b"X-Spam-Status: No, score=-1.0\r\n" + raw)
    assert content_fingerprint(relayed) == content_fingerprint(raw)
    assert content_fingerprint(raw.replace(b"\r\n", b"\n")) == content_fingerprint(raw)
    # a header folded differently on the way is still the same header
    folded = raw.replace(b"Subject: Printer on fire", b"Subject: Printer\r\n on fire")
    assert content_fingerprint(folded) == content_fingerprint(raw)


def test_other_content_with_the_same_message_id_differs():
    raw = customer_mail(message_id="<same@example.com>")
    assert content_fingerprint(customer_mail(message_id="<same@example.com>", body="Other text.\n")) \
        != content_fingerprint(raw)
    assert content_fingerprint(customer_mail(message_id="<same@example.com>", subject="Other")) \
        != content_fingerprint(raw)
    assert content_fingerprint(customer_mail(message_id="<same@example.com>", sender="x@example.org")) \
        != content_fingerprint(raw)
