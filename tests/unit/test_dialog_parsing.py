"""The tag dialog's reading of what was typed, and its completion (no app needed)."""

from tui_helpdesk.ui.dialogs import TagChange, TagSuggester, parse_tags


def test_plus_adds_minus_removes_bare_adds():
    assert parse_tags("+vip -spam, refund  -") == TagChange(("vip", "refund"), ("spam",))
    assert parse_tags("  ") == TagChange()


async def test_completion_completes_the_word_being_typed():
    s = TagSuggester(["refund", "refund-late", "vip"], current=("spam", "vip"))
    assert await s.get_suggestion("re") == "refund"
    assert await s.get_suggestion("vip re") == "vip refund"
    assert await s.get_suggestion("+v") == "+vip"
    assert await s.get_suggestion("-s") == "-spam"  # removing completes from the ticket's own tags
    assert await s.get_suggestion("-r") is None
    assert await s.get_suggestion("refund ") is None
    assert await s.get_suggestion("refund") == "refund-late"
