"""Attachments on disk, content-addressed: ``<root>/ab/cd/<sha256>``.

One file per distinct content, so the same logo in a thousand signatures is
stored once, a re-ingested message writes nothing new, and a file name from
the sender never becomes a path. Files are immutable once written.

Modes follow the database: when the root's parent is group-shared (the team's
setgid directory) directories are 2770 and files 0640, else 0700 and 0600.
A file is written to a temporary name and renamed, so a reader never sees half
of it. There is no fsync, matching the database (WAL with synchronous=NORMAL):
a killed process loses nothing; only an OS crash can lose the newest writes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from ...paths import directories

__all__ = ["AttachmentStore", "default_root"]


def default_root(database_url: str | None = None) -> Path:
    """Next to a SQLite database (shared with it), else the XDG data dir's ``attachments/``.

    With the default database both are the same directory.
    """
    if database_url:
        from ..store.engine import normalise_url, sqlite_path

        path = sqlite_path(normalise_url(database_url))
        if path is not None:
            return path.parent / "attachments"
    return directories().attachments


class AttachmentStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._shared: bool | None = None
        self._made: set[Path] = set()

    # ------------------------------------------------------------------ modes

    @property
    def shared(self) -> bool:
        if self._shared is None:
            parent = self.root.parent
            try:
                mode = parent.stat().st_mode
            except OSError:
                mode = 0
            self._shared = bool(mode & (stat.S_IWGRP | stat.S_ISGID))
        return self._shared

    def _dir(self, path: Path) -> None:
        if path in self._made:
            return
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            for part in (self.root, path.parent, path):
                if part == self.root or self.root in part.parents:
                    try:
                        os.chmod(part, 0o2770 if self.shared else 0o700)
                    except OSError:
                        pass
        self._made.add(path)

    # ------------------------------------------------------------------ API

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store *data* (once); return its sha256 hex digest."""
        sha = self.digest(data)
        target = self.path(sha)
        if target.exists():
            return sha
        self._dir(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o640 if self.shared else 0o600)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return sha

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def save_as(self, sha256: str, destination: Path) -> Path:
        """Copy a stored file to *destination* (a directory or a file path) for the user."""
        destination = Path(destination).expanduser()
        if destination.is_dir():
            raise ValueError("give a file name to save to, not a directory")
        shutil.copyfile(self.path(sha256), destination)
        return destination
