"""``helpdesk ai …`` and ``helpdesk doctor`` against the simulator on loopback, run as real subprocesses."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.ai_fixtures import AI_KEY, FRENCH, ThreadedSimulator
from tests.integration.test_cli import Cli


@pytest.fixture
def endpoint():
    with ThreadedSimulator(api_key=AI_KEY) as sim:
        yield sim


@pytest.fixture
def ai_cli(tmp_path, endpoint) -> Cli:
    cli = Cli(tmp_path)
    config = tmp_path / "ai.toml"
    config.write_text('[[desks]]\nslug = "support"\n[desks.translation]\nenabled = true\nlanguage = "en"\n'
                      f'[ai]\nbase_url = "{endpoint.base_url}"\nmodel = "sim-small"\napi_key_env = "HD_AI_KEY"\n'
                      'first_token_timeout = 3\nread_timeout = 2\n[ai.models]\nsummarize = "sim-large"\n')
    config.chmod(0o600)
    cli.env.update(HELPDESK_CONFIG=str(config), HD_AI_KEY=AI_KEY)
    cli.run("ticket", "create", "--requester", "zoe@example.fr", "--subject", "Commande 4521", "--body", FRENCH)
    return cli


def test_draft_polish_translate_print_the_answer(ai_cli, endpoint):
    out = ai_cli.run("ai", "draft", "1", "--instruction", "offer a refund").stdout
    assert out.startswith("[simulated] Hello,") and "Offer a refund." in out
    out = ai_cli.run("ai", "polish", "1", "--tone", "formal", input="we refunded you.").stdout
    assert out == "[simulated] Dear customer, We refunded you. Yours sincerely\n"
    assert ai_cli.json("ai", "translate", "1", input="We refunded you.") == {
        "ticket": 1, "action": "translate", "text": "[simulated fr] We refunded you."}
    assert ai_cli.run("ai", "translate", "1", "--to", "de", input="Hi").stdout == "[simulated de] Hi\n"
    assert endpoint.requests[-1]["model"] == "sim-small"


def test_summarize_once_until_the_ticket_changes_and_usage(ai_cli, endpoint):
    first = ai_cli.json("ai", "summarize", "1")
    assert first["regenerated"] and first["summary"].startswith("Bonjour, ma commande 4521")
    assert endpoint.requests[-1]["model"] == "sim-large"  # the per-action model
    again = ai_cli.json("ai", "summarize", "1")
    assert again == {**first, "regenerated": False}
    shown = ai_cli.json("ticket", "show", "1")
    assert shown["summary"].startswith("[simulated] The customer wrote")
    plain = ai_cli.run("ticket", "show", "1").stdout.splitlines()
    assert plain[3] == f"summary: {shown['summary']}"  # under the header, before the timeline
    usage = ai_cli.json("ai", "usage", "--since", "1d")["usage"]
    assert [(u["action"], u["model"], u["calls"]) for u in usage] == [("summarize", "sim-large", 1)]
    assert usage[0]["prompt_tokens"] > 0 and usage[0]["agent"]
    text = ai_cli.run("ai", "usage").stdout
    assert "summarize" in text and "1 calls" in text


def test_language_show_and_override(ai_cli):
    assert ai_cli.run("ai", "language", "1").stdout == "fr\n"
    assert ai_cli.json("ai", "language", "1", "es") == {"ticket": 1, "language": "es"}
    assert ai_cli.run("ai", "language", "1", "auto").stdout == "fr\n"
    assert ai_cli.error("ai", "language", "1", "no good", code=2) == (
        "helpdesk: error: 'no good' is not a language code (like fr or pt-BR)")


def test_failures_are_one_line_and_write_nothing(ai_cli, endpoint, tmp_path):
    endpoint.fail_next("401")
    assert ai_cli.error("ai", "draft", "1", code=1) == (
        "helpdesk: error: the AI endpoint refused the API key (401); check [ai] api_key_env")
    endpoint.fail_next("429", retry_after=60)
    assert ai_cli.error("ai", "summarize", "1", "--json", code=1) == (
        "helpdesk: error: the AI endpoint is rate limiting requests (429); try again in 60 s")
    assert ai_cli.json("ticket", "show", "1")["summary"] is None
    assert ai_cli.error("ai", "polish", "1", input="", code=2) == "helpdesk: error: nothing to polish: the draft is empty"
    no_ai = Cli(tmp_path / "plain")
    no_ai.run("ticket", "create", "--requester", "a@example.com", "--subject", "x", "--body", "y")
    assert no_ai.error("ai", "draft", "1", code=1) == (
        "helpdesk: error: no AI endpoint is configured (set [ai] base_url and model)")


def test_model_output_is_printed_cleaned(ai_cli, endpoint):
    endpoint.reply_next("\x1b]52;c;ZXZpbA==\x07[bold]ok[/] \u202eexe.txt")
    out = ai_cli.run("ai", "draft", "1").stdout
    assert out == "[bold]ok[/] exe.txt\n"


def test_doctor_makes_a_tiny_request(ai_cli, endpoint):
    report = ai_cli.json("doctor")
    checks = {(c["section"], c["name"]): c for c in report["checks"]}
    assert checks[("ai", "request")]["status"] == "ok"
    assert endpoint.requests[-1]["max_tokens"] == 5
    assert AI_KEY not in json.dumps(report)
    endpoint.fail_next("404")
    report = ai_cli.json("doctor", code=1)
    request = next(c for c in report["checks"] if c["name"] == "request")
    assert request["status"] == "fail" and "no model 'sim-small' (404)" in request["detail"]


def test_the_ai_migration_upgrades_a_0007_database(tmp_path):
    cli = Cli(tmp_path)
    cli.run("ticket", "create", "--requester", "a@example.com", "--subject", "before", "--body", "x")
    with sqlite3.connect(cli.db) as db:
        db.executescript("DROP TABLE ai_translation; DROP TABLE ai_usage; DROP TABLE requester_language;"
                         "DROP TABLE ticket_summary; UPDATE alembic_version SET version_num = '0007';")
    assert "helpdesk db upgrade" in cli.error("ticket", "list", code=1)
    cli.run("db", "upgrade")
    with sqlite3.connect(cli.db) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"ai_translation", "ai_usage", "requester_language", "ticket_summary"} <= names
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0008",)
    assert [t["subject"] for t in cli.json("ticket", "list")] == ["before"]


def test_the_migrated_ai_tables_match_the_metadata(tmp_path):
    """An upgraded database has exactly the AI tables ``tables_ai`` declares."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from tui_helpdesk.adapters.store import tables

    cli = Cli(tmp_path)
    cli.run("agent", "me")
    with sqlite3.connect(cli.db) as db:
        db.executescript("DROP TABLE ai_translation; DROP TABLE ai_usage; DROP TABLE requester_language;"
                         "DROP TABLE ticket_summary; UPDATE alembic_version SET version_num = '0007';")
    cli.run("db", "upgrade")
    tables.load_channel_tables()
    engine = sa.create_engine(f"sqlite:///{cli.db}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    engine.dispose()
    ai = {"ai_translation", "ai_usage", "requester_language", "ticket_summary"}

    def touches(d) -> bool:
        flat = d if isinstance(d, tuple) else d[0]
        return any(getattr(x, "name", None) in ai or getattr(getattr(x, "table", None), "name", None) in ai
                   or x in ai for x in flat if not isinstance(x, (dict, list)))

    assert [d for d in diff if touches(d)] == []


def test_a_reply_sent_translated_shows_both_versions(ai_cli):
    import asyncio

    from tui_helpdesk.bootstrap import bootstrap
    from tui_helpdesk.settings import Settings

    async def send():
        hd = await bootstrap(Settings(database_url=f"sqlite+aiosqlite:///{ai_cli.db}"))
        try:
            me = await hd.agents.identify()  # the OS user, the database's first agent
            await hd.tickets.reply(1, "[simulated fr] Your parcel left today.", actor=me,
                                   original="Your parcel left today.", original_language="fr")
        finally:
            await hd.close()

    asyncio.run(send())
    shown = ai_cli.json("ticket", "show", "1")
    [reply] = [e for e in shown["timeline"] if e["kind"] == "reply"]
    assert reply["meta"]["original"] == {"text": "Your parcel left today.", "language": "fr"}
    text = ai_cli.run("ticket", "show", "1").stdout
    assert "[simulated fr] Your parcel left today.\n   (sent as an AI translation; the agent wrote: " \
           "Your parcel left today.)" in text
