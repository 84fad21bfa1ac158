"""The API reads ``Authorization: Bearer <token>`` itself, as HTTPBearer(auto_error=False) would."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from tui_helpdesk.api.app import _bearer_token


def _request(value: str | None) -> Request:
    headers = [] if value is None else [(b"authorization", value.encode("latin-1"))]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize("value, token", [
    ("Bearer hd_abc", "hd_abc"),
    ("bearer hd_abc", "hd_abc"),
    ("BEARER  hd_abc ", "hd_abc"),
    ("Basic dXNlcjpwYXNz", None),
    ("Bearer", None),
    ("Bearer   ", None),
    ("", None),
    (None, None),
])
def test_the_bearer_token_is_read_as_httpbearer_reads_it(value, token):
    assert _bearer_token(_request(value)) == token
