"""Every real-world message in the shared corpus parses, quickly, into something
readable (or is set aside with a reason); every flanker bounce is a bounce.

The corpus lives outside the project (``../shared/corpus/email`` from the repo
root, or ``$HELPDESK_CORPUS``) and is never copied in; without it these tests
skip with a notice.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tui_helpdesk.domain.mail.loops import BOUNCE, classify
from tui_helpdesk.domain.mail.message import ParsedMessage, parse_message

NOT_MESSAGES = {"README.md", "LICENSE", "LICENSE.txt", "NOTICE"}
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def corpus_dir() -> Path:
    env = os.environ.get("HELPDESK_CORPUS")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "email"


CORPUS = corpus_dir()
MISSING = f"mail corpus not found at {CORPUS} (set HELPDESK_CORPUS to point at shared/corpus/email)"


def corpus_files(under: str = "") -> list:
    base = CORPUS / under if under else CORPUS
    if not base.is_dir():
        return [pytest.param(None, id="corpus-missing", marks=pytest.mark.skip(reason=MISSING))]
    files = sorted(p for p in base.rglob("*") if p.is_file() and p.name not in NOT_MESSAGES)
    return [pytest.param(p, id=p.relative_to(CORPUS).as_posix()) for p in files]


def unsafe(text: str) -> list[str]:
    return [
        ch for ch in text
        if ch not in "\n\t" and (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in BIDI or 0xD800 <= ord(ch) <= 0xDFFF)
    ]


def all_strings(parsed: ParsedMessage) -> list[str]:
    values = [parsed.subject, parsed.from_name, parsed.from_addr, parsed.body_text, parsed.quoted_text,
              *parsed.to, *parsed.cc, *parsed.reply_to, *parsed.references, *parsed.problems,
              parsed.message_id or "", parsed.in_reply_to or "", *parsed.loop_headers.values()]
    values += [a.filename for a in parsed.attachments]
    return values


@pytest.mark.parametrize("path", corpus_files())
def test_corpus_message_parses_readably(path: Path) -> None:
    raw = path.read_bytes()
    start = time.perf_counter()
    parsed = parse_message(raw)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{elapsed:.2f} s"

    for value in all_strings(parsed):
        assert not unsafe(value), (value[:80], unsafe(value)[:5])
    for name in [a.filename for a in parsed.attachments]:
        assert name and "/" not in name and "\\" not in name and not name.startswith(".")
    for att in parsed.attachments:
        assert att.size == len(att.data)

    reason = parsed.set_aside_reason
    if reason is None:
        # Readable: a ticket can show who wrote and what (text or files).
        assert parsed.from_addr or parsed.subject or parsed.content_type.startswith("message/")
        assert parsed.body_text.strip() or parsed.quoted_text.strip() or parsed.attachments or parsed.subject
    else:
        assert reason.strip()


@pytest.mark.parametrize("path", corpus_files("flanker/bounce"))
def test_flanker_bounces_classify_as_bounce(path: Path) -> None:
    result = classify(path.read_bytes())
    assert result.kind == BOUNCE, result
    assert result.recipients, "a bounce should say whom it is about"


def test_corpus_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    if not CORPUS.is_dir():
        pytest.skip(MISSING)
    raws = [p.read_bytes() for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.name not in NOT_MESSAGES]
    rounds = 3
    start = time.perf_counter()
    cpu_start = time.process_time()
    for _ in range(rounds):
        for raw in raws:
            parse_message(raw)
    elapsed = time.perf_counter() - start
    cpu = max(time.process_time() - cpu_start, 1e-9)
    count = rounds * len(raws)
    megabytes = rounds * sum(map(len, raws)) / 1e6
    with capsys.disabled():
        print(f"\n[mail corpus] {count} messages, {megabytes:.1f} MB: wall {elapsed:.2f} s "
              f"({count / elapsed:.0f} msgs/s), cpu {cpu:.2f} s ({count / cpu:.0f} msgs/s, {megabytes / cpu:.1f} MB/s)")
    # The corpus is heavy on multi-megabyte torture tests; ordinary mail is far faster.
    assert elapsed / count < 0.1
