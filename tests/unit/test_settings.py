"""Settings: the example config loads, secrets stay out of files, reprs and errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_helpdesk.domain.errors import ConfigError
from tui_helpdesk.settings import Secret, load

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_example_config_loads_and_documents_every_section():
    settings = load(str(EXAMPLE))
    desk = settings.desks[0]
    assert desk.slug == "support" and desk.reopen_days == 7 and desk.assignment == "manual"
    assert desk.emails[0].imap.password.env == "HELPDESK_IMAP_PASSWORD"
    assert [v.name for v in settings.views] == ["Urgent billing", "Waiting on customers > 3 days"]
    assert all(v.from_config for v in settings.views)


def test_literal_secret_in_a_readable_file_is_refused(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[ai]\nbase_url = "http://127.0.0.1:1/v1"\napi_key = "sk-very-secret"\n')
    os.chmod(config, 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as err:
        load(str(config))
    assert "sk-very-secret" not in str(err.value)
    os.chmod(config, 0o600)
    assert load(str(config)).ai.api_key.get() == "sk-very-secret"


def test_secret_from_env_and_command_never_shown(monkeypatch, tmp_path):
    monkeypatch.setenv("HD_TEST_KEY", "from-env")
    assert Secret(env="HD_TEST_KEY").get() == "from-env"
    script = tmp_path / "pw"
    script.write_text("#!/bin/sh\necho from-command\n")
    script.chmod(0o700)
    secret = Secret(command=str(script), label="imap password")
    assert secret.get() == "from-command"
    assert "from-command" not in repr(secret) and "from-env" not in repr(Secret(value="from-env"))
    failing = Secret(command="false", label="smtp password")
    with pytest.raises(ConfigError, match="smtp password: the command exited with status 1"):
        failing.get()


def test_config_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[database\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load(str(bad))
    with pytest.raises(ConfigError, match="does not exist"):
        load(str(tmp_path / "missing.toml"))
    typo = tmp_path / "typo.toml"
    typo.write_text('[[desks]]\nslug = "s"\n[desks.assignment]\nmethod = "balancd"\n')
    with pytest.raises(ConfigError, match="balancd"):
        load(str(typo))
    view = tmp_path / "view.toml"
    view.write_text('[[views]]\nname = "Broken"\nquery = "stauts:new"\n')
    with pytest.raises(ConfigError, match="view 'Broken'.*did you mean 'status'"):
        load(str(view))
