"""The public API's pure rules: scopes, event names, token shape, URLs, signatures, Retry-After."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

import pytest

from tui_helpdesk.domain import api
from tui_helpdesk.domain.errors import UsageError


def test_scopes_write_includes_read_and_unknown_is_refused():
    assert api.parse_scopes("write") == ("read", "write")
    assert api.parse_scopes(" READ ") == ("read",)
    assert api.parse_scopes("read,write") == ("read", "write")
    for bad in ("", "admin", "read,delete"):
        with pytest.raises(UsageError):
            api.parse_scopes(bad)


def test_event_names_short_long_and_all():
    assert api.parse_events("all") == api.EVENTS
    assert api.parse_events("agent_reply, created") == ("ticket.created", "ticket.agent_reply")
    assert api.parse_events("ticket.status_changed,status_changed") == ("ticket.status_changed",)
    with pytest.raises(UsageError, match="unknown event 'note'"):
        api.parse_events("note")  # internal notes have no event
    with pytest.raises(UsageError):
        api.parse_events(" , ")


def test_tokens_have_a_public_prefix_and_compare_by_hash():
    prefix, token = api.new_token()
    assert api.token_prefix(token) == prefix and len(prefix) == 12
    stored = api.hash_token(token)
    assert api.token_matches(token, stored) and not api.token_matches(token + "x", stored)
    assert token not in repr(api.ApiToken(1, 1, "n", prefix, ("read",), datetime(2026, 1, 1), None, stored))
    for bad in ("", "hd_", "hd_short_" + "x" * 30, "xx_" + prefix + "_" + "y" * 40, "hd_" + prefix + "_tiny",
                "hd_" + prefix + "_" + "z" * 300):
        assert api.token_prefix(bad) is None


def test_webhook_urls_and_secrets():
    assert api.check_url(" https://crm.example/hooks?x=1 ") == "https://crm.example/hooks?x=1"
    for bad in ("ftp://x.example", "https://", "https://user:pw@crm.example/", "https://a b.example/", "javascript:1"):
        with pytest.raises(UsageError):
            api.check_url(bad)
    sub = api.Subscription(1, 1, "https://x", api.EVENTS, "", "active", None, 0, datetime(2026, 1, 1),
                           "whsec_new", "whsec_old", datetime(2026, 1, 2))
    assert "whsec" not in repr(sub)
    assert sub.secrets_at(datetime(2026, 1, 1, 12)) == ["whsec_new", "whsec_old"]
    assert sub.secrets_at(datetime(2026, 1, 2) + timedelta(seconds=1)) == ["whsec_new"]


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"type":"ticket.created"}'
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert api.sign("whsec_k", 1700000000, body) == expected


def test_retry_after_in_seconds_or_as_a_date():
    assert api.retry_after_seconds("120", 0) == 120
    assert api.retry_after_seconds("99999999", 0) == 86_400
    assert api.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470) == 10
    assert api.retry_after_seconds("soon", 0) is None and api.retry_after_seconds(None, 0) is None
