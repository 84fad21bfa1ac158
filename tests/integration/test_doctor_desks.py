"""``helpdesk doctor`` checks the desks as the shared database holds them, with this process's secrets.

A stored desk is checked with its stored chatbot URL (not the one its old
config file still names); each desk says where its settings come from.
"""

from __future__ import annotations

import json

from tui_helpdesk.cli.botsim import start_in_thread

from .test_cli import Cli, cli  # noqa: F401  (fixture)


def _settings_lines(report: dict) -> dict[str, dict]:
    return {c["section"]: c for c in report["checks"] if c["name"] == "settings"}


def test_doctor_reads_the_desks_from_the_database(cli: Cli, tmp_path):
    running = start_in_thread(seed=1, tick=None, initial_conversations=0)
    try:
        config = tmp_path / "desk.toml"
        # The file names a dead chatbot URL; the key is this process's secret, by desk.
        config.write_text('[[desks]]\nslug = "support"\n[desks.chatbot]\nbase_url = "http://127.0.0.1:1/"\n'
                          'api_key_env = "HD_BOT_KEY"\n')
        config.chmod(0o600)
        env = {"HD_BOT_KEY": running.api_key}

        # Before any start: the database does not hold the desk yet.
        cli.run("db", "upgrade")
        fresh = cli.json("--config", str(config), "doctor", code=1, env=env)
        assert _settings_lines(fresh)["desk support"]["detail"].startswith(f"from {config}")

        cli.run("--config", str(config), "agent", "me", env=env)  # the first start imports the file's desk
        cli.run("--config", str(config), "desk", "set", "support", f"chatbot.base_url={running.base_url}", env=env)
        cli.run("--config", str(config), "desk", "add", "sales", env=env)

        report = cli.json("--config", str(config), "doctor", env=env)
        lines = _settings_lines(report)
        support = lines["desk support"]
        assert support["status"] == "ok"
        assert support["detail"].startswith("from the database (version 2, saved by ")
        assert support["detail"].endswith(f"; its [[desks]] section in {config} is not used any more")
        assert lines["desk sales"]["detail"].startswith("from the database (version 1, saved by ")
        bot = next(c for c in report["checks"] if c["section"] == "desk support" and c["name"] == "chatbot")
        assert bot["status"] == "ok" and bot["detail"].startswith(f"{running.base_url} answers (ok"), bot
        assert running.api_key not in json.dumps(report)

        # The stored URL with no key in this process: the secret is said missing, by name.
        bare = tmp_path / "bare.toml"
        bare.write_text('[[desks]]\nslug = "other"\n')
        bare.chmod(0o600)
        report = cli.json("--db", str(cli.db), "--config", str(bare), "doctor", code=1)
        bot = next(c for c in report["checks"] if c["section"] == "desk support" and c["name"] == "chatbot")
        assert bot["status"] == "fail" and bot["detail"] == "api key not set"
        other = _settings_lines(report)["desk other"]
        assert other["status"] == "warn" and "not in the database yet" in other["detail"]

        # The text form says it too.
        text = cli.run("--config", str(config), "doctor", env=env).stdout
        assert "ok    desk support · settings: from the database (version 2, saved by" in text
    finally:
        running.stop()
