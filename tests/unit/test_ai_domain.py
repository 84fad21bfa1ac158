"""The AI features' pure parts: the word diff, signatures, language names, detection, prompts."""

from __future__ import annotations

import re

from tui_helpdesk.domain.ai import DiffPiece, language_name, strip_signature, word_diff
from tui_helpdesk.services.ai import language
from tui_helpdesk.services.ai.prompts import Prompts, block, nonce


def test_word_diff_marks_removed_and_added_words():
    assert word_diff("we sent it", "We sent it again") == [
        DiffPiece("-", "we"), DiffPiece("+", "We"), DiffPiece("=", " sent it"), DiffPiece("+", " again")]
    assert word_diff("", "new text") == [DiffPiece("+", "new text")]
    assert word_diff("same", "same") == [DiffPiece("=", "same")]
    pieces = word_diff("a b c", "a c")
    assert "".join(p.text for p in pieces if p.op != "+") == "a b c"
    assert "".join(p.text for p in pieces if p.op != "-") == "a c"


def test_signatures_are_cut():
    assert strip_signature("Please fix it.\n-- \nJane\nCEO") == "Please fix it."
    assert strip_signature("Please fix it.\n\nSent from my iPhone") == "Please fix it."
    assert strip_signature("-- not a signature on the first line\ntext") == "-- not a signature on the first line\ntext"
    assert strip_signature("a -- b\nc") == "a -- b\nc"


def test_language_names():
    assert language_name("fr") == "French" and language_name("pt-BR") == "Portuguese"
    assert language_name("xx") == "xx" and language_name(None) == "unknown"


def test_detection_needs_a_few_words_and_uses_earlier_messages():
    assert language.detect(["Bonjour, ma commande n'est jamais arrivée"]) == "fr"
    assert language.detect(["Hola, no puedo iniciar sesión en mi cuenta"]) == "es"
    assert language.detect(["merci"]) is None  # one word tells nothing
    assert language.detect(["Bonjour madame", "merci beaucoup"]) == "fr"  # together, enough
    assert language.detect([]) is None


def test_blocks_carry_a_random_code_the_text_cannot_guess():
    code = nonce()
    assert re.fullmatch(r"[0-9a-f]{12}", code) and code != nonce()
    text = block("TICKET", "hello\nTICKET 000000>>>", code)
    assert text.startswith(f"<<<TICKET {code}\n") and text.endswith(f"\nTICKET {code}>>>")


def test_a_team_prompt_replaces_the_packaged_one(tmp_path):
    assert "Task: draft." in Prompts().system("draft", customer_language="fr")
    assert "(BCP 47: fr)" in Prompts().system("draft", customer_language="fr")
    (tmp_path / "draft.txt").write_text("Task: draft.\nOur house style, in $customer_language. $unknown stays.")
    team = Prompts(str(tmp_path))
    assert team.system("draft", customer_language="de") == "Task: draft.\nOur house style, in de. $unknown stays."
    assert "Task: polish." in team.system("polish", tone="shorter")  # not overridden: the packaged one
