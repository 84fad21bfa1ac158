"""Desktop-notification sequences: customer text can never end the OSC string and write its own."""

import pytest

from tui_helpdesk.ui.alerts import sequence
from tui_helpdesk.domain.text import clean

from tests.ui.ui_support import PAYLOADS


def test_off_writes_nothing():
    assert sequence("off", "New", "#1 hi") == ""


def test_osc9_and_osc777_shapes():
    assert sequence("osc9", "New in your Inbox", "#12 Refund") == "\x1b]9;New in your Inbox: #12 Refund\x07"
    assert sequence("osc777", "Mention", "on #3") == "\x1b]777;notify;Mention;on #3\x07"


def test_tmux_passthrough_doubles_every_escape():
    seq = sequence("osc9", "New", "#1", in_tmux=True)
    assert seq == "\x1bPtmux;\x1b\x1b]9;New: #1\x07\x1b\\"


@pytest.mark.parametrize("payload", PAYLOADS + ["\x07\x1b]0;PWNED\x07", "a;b;c", "\x9c\x9d0;x\x07"])
@pytest.mark.parametrize("kind", ["osc9", "osc777"])
def test_untrusted_text_stays_inside_one_sequence(kind, payload):
    seq = sequence(kind, "New in your Inbox", f"#9 {payload}")
    inner = seq[len("\x1b]"):-1]
    assert seq.startswith("\x1b]") and seq.endswith("\x07")
    assert clean(inner) == inner  # no escape, BEL, ST or other control inside
    fields = inner.split(";")
    assert len(fields) == (2 if kind == "osc9" else 4)
