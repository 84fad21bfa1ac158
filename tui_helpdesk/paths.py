"""Where things live: XDG config, data and state directories, found in one place.

Tests patch :func:`directories` (or set XDG_* variables) so nothing touches the
real home directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP = "helpdesk"


@dataclass(frozen=True, slots=True)
class Directories:
    config: Path
    data: Path
    state: Path

    @property
    def config_file(self) -> Path:
        return self.config / "config.toml"

    @property
    def database(self) -> Path:
        return self.data / "helpdesk.db"

    @property
    def attachments(self) -> Path:
        return self.data / "attachments"


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


def directories() -> Directories:
    return Directories(
        config=_xdg("XDG_CONFIG_HOME", ".config") / APP,
        data=_xdg("XDG_DATA_HOME", ".local/share") / APP,
        state=_xdg("XDG_STATE_HOME", ".local/state") / APP,
    )


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{directories().database}"
