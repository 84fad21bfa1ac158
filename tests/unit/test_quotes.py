"""Quoted history folding: the cases the ticket timeline relies on, run
through the one rule in the mail domain, so the timeline can fold bodies with
it and show them exactly as before."""

from __future__ import annotations

import pytest

from tui_helpdesk.domain.mail.quotes import split_quoted

TIMELINE_CASES = [
    # tests/ui/test_ticket_screen.py::test_split_quoted_keeps_inline_replies
    ("hi\n\nOn Mon, Al wrote:\n> a\n> b", ("hi", "On Mon, Al wrote:\n> a\n> b")),
    ("> a\nmy answer\n> b", ("> a\nmy answer", "> b")),
    ("> only quotes", ("> only quotes", "")),
    ("new\n-----Original Message-----\nold", ("new", "-----Original Message-----\nold")),
    # The bodies the timeline folds in tests/ui/test_ticket_screen.py and the snapshot test.
    ("Where is my refund?\n\nOn Mon, Bob wrote:\n> the old text\n> more",
     ("Where is my refund?", "On Mon, Bob wrote:\n> the old text\n> more")),
    ("Hello,\n\nI was charged twice for order 4521. Please refund one of the payments.\n\n"
     "On Mon, Support wrote:\n> Thanks for your order!\n> It ships tomorrow.",
     ("Hello,\n\nI was charged twice for order 4521. Please refund one of the payments.",
      "On Mon, Support wrote:\n> Thanks for your order!\n> It ships tomorrow.")),
    # Bodies with nothing to fold are shown whole.
    ("", ("", "")),
    ("Just a question, no history.", ("Just a question, no history.", "")),
    ("line one\n\nline two\n", ("line one\n\nline two\n", "")),
    # The attribution goes with the quotes; blank lines between them do not matter.
    ("thanks\n\nOn Tue, Ann wrote:\n\n> old\n>\n> older\n\n", ("thanks", "On Tue, Ann wrote:\n\n> old\n>\n> older")),
    ("danke\n\nAm 02.01.2024 um 10:15 schrieb\n> alt", ("danke", "Am 02.01.2024 um 10:15 schrieb\n> alt")),
    ("merci\n\nLe lundi Ann a écrit\n> ancien", ("merci", "Le lundi Ann a écrit\n> ancien")),
    # Indented quote markers count as quotes too.
    ("reply\n  > old", ("reply", "  > old")),
]


@pytest.mark.parametrize(("body", "expected"), TIMELINE_CASES)
def test_timeline_quote_cases(body: str, expected: tuple[str, str]) -> None:
    assert split_quoted(body) == expected
