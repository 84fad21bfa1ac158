"""The first-contact settings of a mail address: read, defaulted and checked."""

from __future__ import annotations

import pytest

from tui_helpdesk.domain.errors import ConfigError
from tui_helpdesk.settings import load


def _config(tmp_path, extra: str):
    path = tmp_path / "config.toml"
    path.write_text(f'[[desks]]\nslug = "s"\n[[desks.email]]\naddress = "a@example.com"\n{extra}\n', encoding="utf-8")
    path.chmod(0o600)
    return str(path)


def test_history_defaults_to_importing_all_of_it(tmp_path):
    [email] = load(_config(tmp_path, "")).desks[0].emails
    assert (email.history, email.history_days) == ("import", 0)
    [email] = load(_config(tmp_path, 'history = "skip"\nhistory_days = 30')).desks[0].emails
    assert (email.history, email.history_days) == ("skip", 30)


@pytest.mark.parametrize(("extra", "message"), [
    ('history = "all"', 'history must be "import" or "skip"'),
    ("history_days = -3", "history_days must be a whole number"),
    ('history_days = "many"', "history_days must be a whole number"),
])
def test_bad_history_settings_are_clear_errors(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        load(_config(tmp_path, extra))
