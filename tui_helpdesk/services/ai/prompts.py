"""Prompt files and the data blocks that carry customer text to the model.

Each action has one prompt file, ``prompts/<action>.txt`` in this package; a
team may replace any of them with a file of the same name in the directory
``[ai] prompts_dir`` names. ``$name`` placeholders are filled in; anything
else in the file is kept as written.

Customer and agent text goes to the model only inside a :func:`block`:
``<<<NAME code`` … ``NAME code>>>``, where *code* is random per call, so the
text cannot close its own block and pose as instructions; the prompt tells the
model that what is inside is data, never instructions.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from string import Template

from ...domain.errors import ConfigError

PACKAGED = Path(__file__).with_name("prompts")  # the directory beside this module


class Prompts:
    """Loads the prompt of an action: the team's file when there is one, else the packaged one."""

    def __init__(self, team_dir: str = "") -> None:
        self.team_dir = Path(team_dir).expanduser() if team_dir else None
        self._cache: dict[str, str] = {}

    def text(self, action: str) -> str:
        if action not in self._cache:
            self._cache[action] = self._read(action)
        return self._cache[action]

    def _read(self, action: str) -> str:
        name = f"{action}.txt"
        if self.team_dir is not None and (self.team_dir / name).is_file():
            try:
                return (self.team_dir / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read the prompt {self.team_dir / name}: {exc}") from None
        return (PACKAGED / name).read_text(encoding="utf-8")

    def system(self, action: str, **values: str) -> str:
        return Template(self.text(action)).safe_substitute(values).strip()


def nonce() -> str:
    return secrets.token_hex(6)


def block(name: str, text: str, code: str) -> str:
    """*text* as one data block; a line equal to the closing marker cannot occur (the code is random)."""
    return f"<<<{name} {code}\n{text.rstrip()}\n{name} {code}>>>"
